"""The documented colorizer API at its old path (``from divcolor_tf import colorize``).

``colorize.load(path)`` and ``colorize.Colorizer`` are :mod:`divcolor_tf.inference.colorizer`'s;
``Colorization``, ``Sampling`` and the shared helpers are :mod:`divcolor_tf.inference.contract`'s.
"""

from divcolor_tf.inference.colorizer import BUNDLED, Colorizer, load, resolve_model
from divcolor_tf.inference.contract import (
    Colorization, LazyColorizations, Sampling, colorize_arguments, decode_each, photo_seed)

__all__ = [
    "BUNDLED", "resolve_model",
    "Colorizer", "load", "Colorization", "LazyColorizations", "Sampling", "colorize_arguments",
    "decode_each", "photo_seed",
]
