"""divcolor_tf: "Learning Diverse Image Colorization" (Deshpande et al., CVPR 2017) in TF2/Keras 3.

Importing the package is cheap: it does not import TensorFlow. In a notebook:

  import divcolor_tf as dc
  model = dc.load("saved_models/divcolor_lfw")   # or a training workdir
  result = model.colorize(rgb_uint8, k=5)         # .colorizations [5, H, W, 3] uint8, .weights
  draws = model.sample(rgb_uint8, 8, seed=0)      # 8 draws from the mixture

``dc.load`` is :func:`divcolor_tf.colorize.load` (TensorFlow is imported on first use). For the
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
