"""Full-resolution pixels of a colorization (step 6 of ``colorize``, and its step 1): the photo's
lightness, the join of upsampled colour fields with it, and the pixel budget.

Memory and time at full resolution: the two full-resolution steps, L (step 1) and the join (step 6), run in
horizontal strips of about ``STRIP_PIXELS`` pixels (of one colour field, for the join), inside a
``tf.while_loop`` in the traced pipeline, so float temporaries exist for one strip at a time. What
grows with the photo is the uint8 input (a uint8 photo is never converted to float at full
resolution), L (float32) and the uint8 output [K, H, W, 3] (held twice while its strips are
joined): ~90 bytes per input pixel at peak for K = 8 (4000x3000: 1.8 GB of RSS in all, 0.8 GB of
it the process before the photo; it was ~400 bytes per pixel with whole-photo float tensors). Time
is linear in pixels: ~0.9 s per 12-megapixel colorization on this project's shared 2-core CPU
(bench/colorize_latency.py). When whole colour fields fit in one strip (a photo of up to
``STRIP_PIXELS`` pixels) they are upsampled by ``tf.image.resize`` itself, the same samples as the
strips' taps from one fused kernel (~2 ms less for 8 x 256x256 here). In the Python colorizers
(not the exports: a SavedModel for TF Serving or a TFLite model should not need XLA) each strip's
per-pixel conversion is compiled by XLA (``color.l_ab_to_srgb8``'s ``fused``): 24 -> 16 ms for
8 x 256x256 here, within 1 uint8 level of the unfused join. A photo of more than
``max_megapixels`` (default ``MAX_MEGAPIXELS`` = 64, ~6 GB at K = 8) is refused with a one-line
error naming it, before any of it is converted.
"""

import numpy as np
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf.io import photos


STRIP_PIXELS = 1 << 18  # pixels per strip of one field (rows = this / width)
MAX_MEGAPIXELS = photos.MAX_MEGAPIXELS  # a colorizer's default budget (docstring, "Memory and time")
_UNROLL_LIMIT = 16  # static shapes with at most this many strips are unrolled (TFLite: no loop)


def check_size(shape, name, max_megapixels):
  """Raises a one-line ValueError naming ``name`` if a photo of ``shape`` [H, W, ...] has more
  than ``max_megapixels`` million pixels (0 or None: no limit)."""
  problem = photos.over_budget(int(shape[1]), int(shape[0]), max_megapixels)
  if problem:
    raise ValueError(f"{name}: {problem}")


def _strip_plan(height, width, batch, strip_rows, static):
  """(rows per strip, strips per image, number of strips in all; static or None) for
  :func:`_in_strips`: ``batch`` images of height x width, ``static`` their Python ints or None."""
  if static is not None:
    batch, height, width = static
    strip_rows = strip_rows or max(STRIP_PIXELS // width, 1)
    strips = -(-height // strip_rows)
    return strip_rows, strips, batch * strips, batch * strips
  if strip_rows is None:
    strip_rows = tf.maximum(STRIP_PIXELS // width, 1)
  strips = (height + strip_rows - 1) // strip_rows
  return strip_rows, strips, batch * strips, None


def _in_strips(strip, count, static_count, dtype, channels):
  """strip(i) -> [rows_i, W, channels] for i in [0, count), concatenated along the rows.

  A tf.while_loop writing each strip to a TensorArray, so that one strip's temporaries exist at a
  time; a few strips of a static shape are unrolled instead (a TFLite model needs no loop).
  """
  if static_count is not None and static_count <= _UNROLL_LIMIT:
    return tf.concat([strip(i) for i in range(static_count)], axis=0)
  pieces = tf.TensorArray(dtype, size=count, infer_shape=False,
                          element_shape=tf.TensorShape([None, None, channels]))
  _, pieces = tf.while_loop(lambda i, _: i < count,
                            lambda i, pieces: (i + 1, pieces.write(i, strip(i))),
                            (tf.constant(0), pieces), parallel_iterations=2)
  return pieces.concat()


def _static_dims(tensor, *axes):
  dims = tuple(tensor.shape[a] for a in axes)
  return None if None in dims else dims


def photo_lightness(rgb, strip_rows=None):
  """sRGB [B, H, W, 3] -> L [B, H, W, 1]: ``color.rgb_to_lightness``, in strips.

  Args:
    rgb: float sRGB in [0, 1], or uint8 (never converted to float at full resolution).
    strip_rows: rows per strip (None: from ``STRIP_PIXELS``).
  """
  rgb = tf.convert_to_tensor(rgb)
  shape = tf.shape(rgb)
  b, h, w = shape[0], shape[1], shape[2]
  strip_rows, strips, count, static_count = _strip_plan(
      h, w, b, strip_rows, _static_dims(rgb, 0, 1, 2))

  def strip(i):
    start = (i % strips) * strip_rows
    return color.rgb_to_lightness(rgb[i // strips, start:start + strip_rows])

  out = _in_strips(strip, count, static_count, tf.float32, 1)
  return tf.reshape(out, tf.stack([b, h, w, 1]))


def squash(lightness, size, antialias=True):
  """L [B, H, W, 1] shrunk (or grown) to size x size, as the training pipeline did.

  Without ``antialias`` (TFLite's builtin resize) a photo of static size is first halved while
  it is at least twice the target (a bilinear halving averages 2x2 pixels), so that the "+skip"
  decoder's 64x64 L is not aliased: a 256 -> 64 plain bilinear shrink moved the ab of the bundled
  model's TFLite pipeline 0.019 (ab/128, mean of the top 2) from the SavedModel's; halving
  first, 0.0095.
  """
  if not antialias:
    h, w = lightness.shape[1], lightness.shape[2]
    while h is not None and w is not None and min(h, w) >= 2 * size:
      h, w = (h + 1) // 2, (w + 1) // 2
      lightness = tf.image.resize(lightness, [h, w], method="bilinear")
  return tf.image.resize(lightness, [size, size], method="bilinear", antialias=antialias)


def grey_input(lightness, size, antialias=True, detail=0):
  """The grey network's input: L [B, H, W, 1] squashed to size x size, through detail x detail
  first when ``detail`` (``data.grey_detail``) is set and smaller: the detail of the photos the
  network's stages were trained on."""
  if detail and detail < size:
    lightness = squash(lightness, detail, antialias)
  return squash(lightness, size, antialias)


def _bilinear_taps(out_size, in_size):
  """The taps of ``tf.image.resize(method="bilinear")`` along one axis (half-pixel centres, as
  TensorFlow's ResizeBilinear kernel computes them): (lower, upper) int32 [out_size] and the weight
  of ``upper``, float32 [out_size]. Computed for the whole axis, so that strips of it are
  seam-free."""
  scale = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
  position = (tf.cast(tf.range(out_size), tf.float32) + 0.5) * scale - 0.5
  floor = tf.floor(position)
  lower = tf.maximum(tf.cast(floor, tf.int32), 0)
  upper = tf.minimum(tf.cast(tf.math.ceil(position), tf.int32), in_size - 1)
  return lower, upper, position - floor


def join_lightness(lightness, colour_fields, gamut="chroma", strip_rows=None, fused=False):
  """The photo's own L joined with K colour fields upsampled to its size (Section 4), as uint8.

  Each colour field is upsampled bilinearly (the paper's U: the samples of ``tf.image.resize``),
  joined with the full-resolution L, fitted to the sRGB gamut and written as uint8 sRGB
  (``color.l_ab_to_srgb8``), in horizontal strips of one field at a time (module docstring,
  "Memory and time"). The interpolation taps are computed for the whole photo, so strips join
  without seams.

  Args:
    lightness: [B, H, W, 1] L in [0, 100] at full resolution.
    colour_fields: [B, K, F, F, 2] ab/128.
    gamut: "chroma" (keep L, reduce chroma of out-of-gamut pixels) or "clip" (clip sRGB).
    strip_rows: rows per strip (None: from ``STRIP_PIXELS``).
    fused: the per-pixel conversion compiled by XLA (``color.l_ab_to_srgb8``'s ``fused``; the
      Python colorizers' path, not the exports').

  Returns:
    uint8 sRGB [B, K, H, W, 3].
  """
  lightness = tf.convert_to_tensor(lightness, tf.float32)
  colour_fields = tf.convert_to_tensor(colour_fields, tf.float32)
  shape = tf.shape(lightness)
  b, h, w = shape[0], shape[1], shape[2]
  k, f = tf.shape(colour_fields)[1], tf.shape(colour_fields)[2]
  static = _static_dims(lightness, 0, 1, 2)
  k_static = colour_fields.shape[1]
  if static is not None and k_static is not None:
    k = k_static
    static = (static[0] * k,) + static[1:]
  else:
    static = None
  grouped = strip_rows is None  # small fields share a strip (fewer, larger ops); else as asked
  strip_rows, strips, count, static_count = _strip_plan(h, w, b * k, strip_rows, static)
  group, count, static_count = _field_groups(grouped, strips, count, static_count, static,
                                             (h, w, b * k))
  join = _StripJoin(lightness, colour_fields, (b, h, w, k, f), static,
                    (strips, strip_rows, group), gamut, fused)
  out = _in_strips(join.strip, count, static_count, tf.uint8, 3)
  return tf.reshape(out, tf.stack([b, k, h, w, 3]))


def _field_groups(grouped, strips, count, static_count, static, sizes):
  """(fields per strip, strips in all, their static count): 1 field a strip, or, when a whole
  field fits in one strip and ``grouped``, as many as STRIP_PIXELS holds."""
  h, w, fields = sizes
  if static is not None:
    group = max(STRIP_PIXELS // (static[1] * static[2]), 1) if grouped and strips == 1 else 1
    count = static_count = -(-static[0] // group) if group > 1 else count
    return group, count, static_count
  group = tf.where(tf.logical_and(grouped, tf.equal(strips, 1)),
                   tf.maximum(STRIP_PIXELS // (h * w), 1), 1)
  return group, tf.where(group > 1, (fields + group - 1) // group, count), static_count


class _StripJoin:
  """The strips of :func:`join_lightness`: each a group of whole fields, or rows of one field."""

  def __init__(self, lightness, colour_fields, dims, static, plan, gamut, fused):
    b, h, w, self.k, f = dims
    self.strips, self.strip_rows, self.group = plan
    self.static, self.gamut, self.fused = static, gamut, fused
    self.h, self.w, self.fields = h, w, b * self.k
    self.flat = tf.reshape(colour_fields, tf.stack([b * self.k, f, f, 2]))
    self.planes = tf.reshape(lightness, tf.stack([b, h, w]))
    self.top, self.bottom, self.y_weight = _bilinear_taps(h, f)
    if isinstance(self.strips, int):
      self.rows = self._horizontal_pass(f) if self.strips > 1 else None
    else:  # one strip: whole_fields is taken, and the rows are not computed
      self.rows = tf.cond(tf.equal(self.strips, 1), lambda: [tf.zeros(tf.stack([0, f, w]))] * 2,
                          lambda: self._horizontal_pass(f))

  def _horizontal_pass(self, f):
    """The F rows of every field at full width: [B*K, F, W] per channel (strips > 1 only)."""
    left, right, x_weight = _bilinear_taps(self.w, f)
    rows = []
    for channel in range(2):
      field = self.flat[..., channel]
      row_left = tf.gather(field, left, axis=2)
      rows.append(row_left + (tf.gather(field, right, axis=2) - row_left) * x_weight)
    return rows

  def _whole_fields(self, fields):
    """Whole fields (a group, one strip): tf.image.resize itself, the same samples as the taps
    (its fused kernel is ~2x faster than the four gathers), as a and b planes [fields, H, W]."""
    size = list(self.static[1:]) if self.static is not None else tf.stack([self.h, self.w])
    ab = tf.image.resize(tf.gather(self.flat, fields), size, method="bilinear")  # static: TFLite
    return [ab[..., 0], ab[..., 1]]

  def _vertical_pass(self, fields, lower, upper, weight):
    """[fields, rows, W] per channel, from the horizontal pass's rows."""
    ab = []
    for channel in range(2):
      source = tf.gather(self.rows[channel], fields)
      above = tf.gather(source, lower, axis=1)
      ab.append(above + (tf.gather(source, upper, axis=1) - above) * weight)
    return ab

  def strip(self, i):
    """Strip i: fields [i * group, ...) whole when group > 1; else field i // strips (of photo
    field // K), from row (i % strips) * strip_rows."""
    strips, strip_rows = self.strips, self.strip_rows
    first = (i // strips) * self.group  # group > 1 only when strips == 1
    fields = tf.range(first, tf.minimum(first + self.group, self.fields))
    start = (i % strips) * strip_rows
    stop = tf.minimum(start + strip_rows, self.h)
    taps = (self.top[start:stop], self.bottom[start:stop], self.y_weight[start:stop, None])
    if isinstance(strips, int):
      ab = self._whole_fields(fields) if strips == 1 else self._vertical_pass(fields, *taps)
    else:
      ab = tf.cond(tf.equal(strips, 1), lambda: self._whole_fields(fields),
                   lambda: self._vertical_pass(fields, *taps))
    light = tf.gather(self.planes[:, start:stop], fields // self.k)
    out = color.l_ab_to_srgb8(light, ab[0], ab[1], self.gamut, fused=self.fused)
    return tf.reshape(out, tf.stack([-1, tf.shape(out)[2], 3]))


def traced_join(gamut="chroma", fused=True):
  """:func:`join_lightness` as a tf.function traced once for any photo size and K (L [B, H, W, 1],
  colour fields [B, K, F, F, 2] -> uint8 [B, K, H, W, 3]): what the Python colorizers call."""
  return tf.function(
      lambda lightness, colour_fields: join_lightness(lightness, colour_fields, gamut,
                                                      fused=fused),
      input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32),
                       tf.TensorSpec([None, None, None, None, 2], tf.float32)])


def megapixel_budget(max_megapixels):
  """A colorizer's pixel budget: None -> ``MAX_MEGAPIXELS``; 0 -> no limit; else a positive
  number of megapixels (ValueError otherwise)."""
  if max_megapixels is None:
    return MAX_MEGAPIXELS
  if isinstance(max_megapixels, bool) or not float(max_megapixels) >= 0:
    raise ValueError(f"max_megapixels must be >= 0 (0: no limit), got {max_megapixels!r}")
  return float(max_megapixels)


def checked_rgb(image, name, max_megapixels):
  """A photo as the pipeline takes it: uint8 RGB [H, W, 3] as it is and uint8 grey as three
  equal channels (a uint8 photo is never converted to float at full resolution), anything else
  as ``photos.as_float_rgb``; after checking its size against the pixel budget
  (:func:`check_size`, before any conversion)."""
  array = np.asarray(image)
  if array.ndim in (2, 3):
    check_size(array.shape, name, max_megapixels)
  if array.dtype == np.uint8 and array.size and (
      array.ndim == 2 or array.ndim == 3 and array.shape[-1] in (1, 3)):
    if array.ndim == 3 and array.shape[-1] == 3:
      return array
    grey = array.reshape(array.shape[:2])  # three equal channels, as photos.as_float_rgb
    return np.repeat(grey[..., None], 3, axis=-1)
  return photos.as_float_rgb(array, name)
