"""divcolor_tf: "Learning Diverse Image Colorization" (Deshpande et al., CVPR 2017) in TF2/Keras 3.

Importing the package is cheap: it does not import TensorFlow. In a notebook:

  import divcolor_tf as dc
  model = dc.load()                               # or "lfw" (faces), an export, a workdir
  rgb = dc.read_photo("photo.jpg")                # uint8 RGB [H, W, 3]
  result = model.colorize(rgb, k=5)               # .colorizations [5, H, W, 3] uint8, .weights
  result.save("colorized/photo", photo=rgb)       # photo_1.png .. photo_5.png, photo_grid.png
  draws = model.sample(rgb, 8, seed=0)            # 8 draws from the mixture
  dc.steer.with_hints(model, rgb, [(x, y, "#3070e0")])  # steered: also sample_around, blend

``dc.load`` is :func:`divcolor_tf.colorize.load` (TensorFlow is imported on first use);
``dc.steer`` is :mod:`divcolor_tf.inference.steer` (imported when first named). For the
rest, import the module you need, e.g. ``from divcolor_tf import color`` (TensorFlow ops).

Units used throughout the project:
  * ``L`` (lightness) in CIE Lab units, [0, 100].
  * a "colour field" is the ab chroma of CIE Lab (D65) divided by 128 (``color.AB_SCALE``),
    as in the authors' code: ab/128 is roughly within [-1, 1], the range of the decoder's tanh.
"""

__version__ = "0.2.0"


def load(path="imagenet", *, verbose=False, **kwargs):
  """A colorizer for a bundled model by name ("imagenet": everyday photos, the default; "lfw":
  faces), an exported SavedModel or a training workdir (``colorize.load``).

  Quiet, as the command lines are: TensorFlow's start-up lines (oneDNN notes, CUDA stubs, the
  ``failed call to cuInit`` error of a machine without a GPU) are kept off stderr while it loads,
  and ``TF_CPP_MIN_LOG_LEVEL`` is set to 2 (TensorFlow's INFO and WARNING off) if TensorFlow is
  not imported yet (``divcolor_tf.io.quiet.tensorflow_start``). A user's own settings win: with
  ``TF_CPP_MIN_LOG_LEVEL`` set in the environment, nothing is hidden or changed.
  ``verbose=True`` (or DIVCOLOR_VERBOSE=1) shows every line too.
  """
  from divcolor_tf.io import quiet  # pylint: disable=g-import-not-at-top  (keeps import cheap)
  with quiet.tensorflow_start(verbose):
    from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top  (imports TensorFlow)
    return colorize.load(path, **kwargs)


def read_photo(path, max_megapixels=None):
  """A photo file as uint8 RGB [H, W, 3], what ``model.colorize`` takes, read as the tools read
  it: EXIF orientation applied, a grey or 16-bit photo converted (``data.load_rgb``). Raises
  ``data.ImageError`` (a ValueError), one line naming the file, for what cannot be read."""
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top  (keeps import cheap)
  return data.load_rgb(path, max_megapixels=max_megapixels)


def __getattr__(name):
  """``divcolor_tf.steer``: :mod:`divcolor_tf.inference.steer`, imported when first named (it
  imports TensorFlow)."""
  if name == "steer":
    import importlib  # pylint: disable=g-import-not-at-top
    return importlib.import_module("divcolor_tf.inference.steer")
  raise AttributeError(f"module 'divcolor_tf' has no attribute {name!r}")
