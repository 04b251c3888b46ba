"""divcolor_tf: "Learning Diverse Image Colorization" (Deshpande et al., CVPR 2017) in TF2/Keras 3.

Importing the package is cheap: it does not import TensorFlow. In a notebook:

  import divcolor_tf as dc
  model = dc.load("saved_models/divcolor_lfw")   # or a training workdir
  result = model.colorize(rgb_uint8, k=5)         # .colorizations [5, H, W, 3] uint8, .weights
  draws = model.sample(rgb_uint8, 8, seed=0)      # 8 draws from the mixture
  dc.steer.with_hints(model, rgb_uint8, [(x, y, "#3070e0")])  # steered: also sample_around, blend

``dc.load`` is :func:`divcolor_tf.colorize.load` (TensorFlow is imported on first use);
``dc.steer`` is :mod:`divcolor_tf.inference.steer` (imported when first named). For the
rest, import the module you need, e.g. ``from divcolor_tf import color`` (TensorFlow ops).

Units used throughout the project:
  * ``L`` (lightness) in CIE Lab units, [0, 100].
  * a "colour field" is the ab chroma of CIE Lab (D65) divided by 128 (``color.AB_SCALE``),
    as in the authors' code: ab/128 is roughly within [-1, 1], the range of the decoder's tanh.
"""

__version__ = "0.2.0"


def load(path="imagenet", **kwargs):
  """A colorizer for a bundled model by name ("imagenet": everyday photos, the default; "lfw":
  faces), an exported SavedModel or a training workdir (``colorize.load``)."""
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top  (keeps import cheap)
  return colorize.load(path, **kwargs)


def __getattr__(name):
  """``divcolor_tf.steer``: :mod:`divcolor_tf.inference.steer`, imported when first named (it
  imports TensorFlow)."""
  if name == "steer":
    import importlib  # pylint: disable=g-import-not-at-top
    return importlib.import_module("divcolor_tf.inference.steer")
  raise AttributeError(f"module 'divcolor_tf' has no attribute {name!r}")
