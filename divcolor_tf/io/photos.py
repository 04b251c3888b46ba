"""Photos as numpy arrays in and out of the pipeline: checked float RGB in, rounded uint8 out;
and the pixel budget a photo is held to (checked on an array's shape or on a file's header)."""

import numpy as np


MAX_MEGAPIXELS = 64.0  # the default pixel budget (inference.fullres, "Memory and time")
BUDGET_NAME = "max_megapixels; divcolor-colorize --max_megapixels"  # the setting that moves it


def over_budget(width, height, max_megapixels, budget_name=BUDGET_NAME):
  """Why a width x height photo is refused ("WxH pixels (N megapixels) is over the limit of M
  megapixels (<budget_name>)"), or None when it is within ``max_megapixels`` (0 or None: no
  limit)."""
  if max_megapixels and width * height > max_megapixels * 1e6:
    return (f"{width}x{height} pixels ({width * height / 1e6:.3g} megapixels) is over the limit "
            f"of {max_megapixels:g} megapixels ({budget_name})")
  return None


def as_float_rgb(image, name="image"):
  """uint8 / uint16 / float RGB or grey -> float32 RGB [H, W, 3] in [0, 1] (numpy). Other integer
  types (int64 from ``np.array(..., int)``, int32, ...) are 8-bit values, 0..255.

  Raises:
    ValueError: one line naming ``name``: not [H, W], [H, W, 1] or [H, W, 3], float values
      outside [0, 1], or other integer values outside 0..255.
  """
  array = np.asarray(image)
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  if array.ndim == 2:  # grey: three equal channels, so its L is its own grey level
    array = np.repeat(array[..., None], 3, axis=-1)
  if array.ndim != 3 or array.shape[-1] != 3:
    raise ValueError(f"{name}: expected RGB [H, W, 3] or grey [H, W], got shape {array.shape}")
  if min(array.shape[:2]) < 1:
    raise ValueError(f"{name}: empty image {array.shape}")
  if array.dtype == np.uint8:
    return array.astype(np.float32) / 255.0
  if array.dtype == np.uint16:
    return array.astype(np.float32) / 65535.0
  if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number) \
      or np.issubdtype(array.dtype, np.complexfloating):
    raise ValueError(f"{name}: unsupported pixel type {array.dtype}")
  if np.issubdtype(array.dtype, np.integer):  # int64 from np.array(..., int), int32, int16, ...
    if array.min() < 0 or array.max() > 255:
      raise ValueError(f"{name}: {array.dtype} pixels must lie in 0..255 (got {array.min()} .. "
                       f"{array.max()}); pass uint16 for 16-bit values or floats in [0, 1]")
    return array.astype(np.float32) / 255.0
  array = array.astype(np.float32)
  if not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0:
    raise ValueError(f"{name}: float pixels must lie in [0, 1] (got {array.min():.3g} .. "
                     f"{array.max():.3g}); pass uint8 for 0..255 values")
  return array


def to_uint8(rgb):
  """float sRGB in [0, 1] -> uint8, rounded."""
  return np.clip(np.rint(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)
