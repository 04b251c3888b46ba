"""divcolor_tf: Learning Diverse Image Colorization (Deshpande et al., CVPR 2017) in TF2 / Keras 3."""

import re

import setuptools

with open("divcolor_tf/__init__.py") as f:
  VERSION = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)

# Versions that install together on Python 3.10-3.12 (checked on 2026-11-22 with pip).
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "keras==3.15.1",
    "numpy>=1.26,<3",
    "scipy>=1.11",
    "scikit-image==0.26.0",
    "pillow>=10",
    "matplotlib==3.11.2",
    "absl-py==2.5.1",
    "ml-collections==1.1.0",
    "tensorboard==2.21.0",  # TF 2.21 no longer pulls it in; the trainers write TensorBoard logs
]

TOOLS = {
    "divcolor-stats": "stats",
    "divcolor-train-vae": "train_vae",
    "divcolor-evaluate-vae": "evaluate_vae",
    "divcolor-train-features": "train_features",
    "divcolor-train-mdn": "train_mdn",
    "divcolor-colorize": "colorize",
    "divcolor-evaluate": "evaluate",
    "divcolor-export": "export",
}

setuptools.setup(
    name="divcolor_tf",
    version=VERSION,
    description=__doc__,
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # bin/ holds the thin absl command lines; it installs as divcolor_tf.bin.
    packages=setuptools.find_packages(include=["divcolor_tf", "divcolor_tf.*"]) + ["divcolor_tf.bin"],
    package_dir={"divcolor_tf.bin": "bin"},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=8"],
        "deploy": ["ai-edge-litert==2.3.0", "tensorflow-serving-api==2.21.0"],
        # Optional: converting Zhang et al.'s PyTorch eccv16 weights, and the parity test against it.
        "torch": ["torch==2.13.0"],
    },
    entry_points={
        "console_scripts": [f"{name}=divcolor_tf.bin.{module}:run" for name, module in TOOLS.items()],
    },
)
