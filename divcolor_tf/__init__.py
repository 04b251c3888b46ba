"""divcolor_tf: "Learning Diverse Image Colorization" (Deshpande et al., CVPR 2017) in TF2/Keras 3.

Importing the package is cheap: it does not import TensorFlow. Import the module you need,
e.g. ``from divcolor_tf import color`` (TensorFlow ops) or ``from divcolor_tf import stats``.

Units used throughout the project:
  * ``L`` (lightness) in CIE Lab units, [0, 100].
  * a "colour field" is the ab chroma of CIE Lab (D65) divided by 128 (``color.AB_SCALE``),
    as in the authors' code: ab/128 is roughly within [-1, 1], the range of the decoder's tanh.
"""

__version__ = "0.2.0"
