"""Colour science as TensorFlow ops: sRGB <-> CIE Lab (D65), and Zhang et al.'s 313 ab bins.

Every function here that takes a tensor is built from plain TF ops (no ``tf.py_function``, no numpy
at graph time), so it runs eagerly, inside ``tf.data.Dataset.map``, under ``tf.function``, in a
SavedModel, and (for the Lab conversions) in a TFLite model with builtin ops only. Any leading
shape works: ``[3]``, ``[H, W, 3]``, ``[B, H, W, 3]``.

Units (see also ``divcolor_tf/__init__.py``):
  * Lab is CIE Lab under illuminant D65, 2 degree observer, exactly as ``skimage.color.rgb2lab``
    (the same sRGB transfer curve with its 0.04045 threshold, the same XYZ matrix and white point,
    the same f(t) with its linear segment below 0.008856). L is in [0, 100]; a and b are roughly
    within [-128, 127].
  * A "colour field" is ab / ``AB_SCALE`` with ``AB_SCALE = 128.0``, as in the authors' code
    (Deshpande et al. 2017 scale ab by 1/128, so the decoder's tanh range [-1, 1] covers ab).
  * The bin functions (``ab_bins``, ``nearest_bin``, ``soft_encode``) work in Lab units, NOT in
    colour-field units: multiply a colour field by ``AB_SCALE`` first.

The 313 bins are the quantised ab space of Zhang et al., "Colorful Image Colorization" (ECCV 2016,
Section 2.1), on which the paper's colourfulness loss L_hist is defined (Deshpande et al. 2017,
Section 3.1, Eq. 2: weights 1/H_p of a pixel's bin). ``ab_bins`` computes them rather than reading
Zhang's ``pts_in_hull.npy``. The rule, found by comparing candidates with that file:
a point (a, b) of the step-10 grid is a bin iff the 20 x 20 square centred on it (|da|, |db| <= 10)
meets the convex hull of the ab projection of the sRGB gamut; equivalently, all four corners of
every 10 x 10 grid cell that touches the hull. It reproduces Zhang's 313 points exactly and in
their order (sorted by a, then b), with margin: the kept points lie within Chebyshev distance 9.73
of the hull, the nearest rejected one at 10.08. Simpler rules fall short of Zhang's set (never
extra bins, only missing ones): the grid points whose own (a, b) is in gamut for some L give 229
bins (84 missing); rounding every 8-bit sRGB colour's ab to the grid gives 261 (52 missing);
the same with the non-convex gamut projection instead of its hull gives 309.
"""

import functools
from typing import NamedTuple

import numpy as np
import tensorflow as tf

AB_SCALE = 128.0  # colour field = ab / AB_SCALE (authors' code).

NUM_BINS = 313
BIN_STEP = 10.0

# sRGB primaries to XYZ (the sRGB specification's matrix, as skimage.color.colorconv.xyz_from_rgb).
_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])  # skimage's D65, 2 degree observer.

# XYZ/white -> Lab is linear in f(X/Xn), f(Y/Yn), f(Z/Zn): [L, a, b] = f @ _LAB_FROM_F + offset.
_LAB_FROM_F = np.array([[0.0, 500.0, 0.0],
                        [116.0, -500.0, 200.0],
                        [0.0, 0.0, -200.0]])
_LAB_OFFSET = np.array([-16.0, 0.0, 0.0])
# Its inverse: f = lab @ _F_FROM_LAB + 16/116 (skimage: y = (L+16)/116, x = a/500 + y, z = y - b/200).
_F_FROM_LAB = np.array([[1.0 / 116.0, 1.0 / 116.0, 1.0 / 116.0],
                        [1.0 / 500.0, 0.0, 0.0],
                        [0.0, 0.0, -1.0 / 200.0]])

# Thresholds exactly as skimage (not the exact CIE (6/29)^3 and 6/29), so that results match it.
_SRGB_DECODE_THRESHOLD = 0.04045
_SRGB_ENCODE_THRESHOLD = 0.0031308
_LAB_T_THRESHOLD = 0.008856
_LAB_F_THRESHOLD = 0.2068966
_LAB_LINEAR_SLOPE = 7.787


def _check_last_dim(x, n, where):
  if x.shape.rank == 0 or (x.shape.rank is not None and x.shape[-1] is not None
                           and x.shape[-1] != n):
    raise ValueError(f"divcolor_tf/color.py: {where} expects shape [..., {n}], got {x.shape}")


def _matmul_last(x, matrix):
  """x [..., k] @ matrix [k, m] -> [..., m], as reshape + matmul (TFLite builtin friendly)."""
  m = tf.constant(matrix, tf.float32)
  flat = tf.reshape(x, [-1, m.shape[0]])
  out_shape = tf.concat([tf.shape(x)[:-1], [m.shape[1]]], axis=0)
  return tf.reshape(tf.matmul(flat, m), out_shape)


def rgb_to_lab(rgb):
  """sRGB -> CIE Lab (D65), as skimage.color.rgb2lab.

  Args:
    rgb: float sRGB in [0, 1], shape [..., 3].

  Returns:
    float32 Lab, shape [..., 3]; L in [0, 100].
  """
  rgb = tf.convert_to_tensor(rgb, tf.float32)
  _check_last_dim(rgb, 3, "rgb_to_lab(rgb)")
  # Dividing by the white point is folded into the matrix columns.
  t = _matmul_last(_srgb_to_linear(rgb), _XYZ_FROM_RGB.T / _D65_WHITE[None, :])
  return _matmul_last(_lab_f(t), _LAB_FROM_F) + tf.constant(_LAB_OFFSET, tf.float32)


def _srgb_to_linear(rgb):
  # The tf.maximum guards keep the untaken branch of tf.where finite (finite gradients too).
  # Constants multiply, never divide: grappler rewrites x / c as x * (1 / c) in graphs only, which
  # made tf.function and tf.data results differ from eager ones in the last bit.
  return tf.where(rgb > _SRGB_DECODE_THRESHOLD,
                  tf.pow((tf.maximum(rgb, _SRGB_DECODE_THRESHOLD) + 0.055) * (1.0 / 1.055), 2.4),
                  rgb * (1.0 / 12.92))


def _lab_f(t):
  return tf.where(t > _LAB_T_THRESHOLD,
                  tf.pow(tf.maximum(t, _LAB_T_THRESHOLD), 1.0 / 3.0),
                  _LAB_LINEAR_SLOPE * t + 16.0 / 116.0)


def rgb_to_lightness(rgb):
  """sRGB -> L: ``rgb_to_lab(rgb)[..., :1]`` without computing a and b (a third of the cube
  roots), for full-resolution photos.

  Args:
    rgb: float sRGB in [0, 1], or uint8 (as x / 255 computed in float32, photos.as_float_rgb's
      conversion: through a 256-entry table of linear values, so no float copy of the photo and
      no power per pixel); shape [..., 3].

  Returns:
    float32 L [..., 1] in [0, 100]: rgb_to_lab's to float32 rounding.
  """
  rgb = tf.convert_to_tensor(rgb)
  _check_last_dim(rgb, 3, "rgb_to_lightness(rgb)")
  if rgb.dtype == tf.uint8:
    table = _srgb_to_linear(tf.constant(np.arange(256, dtype=np.float32) / np.float32(255.0)))
    linear = tf.gather(table, tf.cast(rgb, tf.int32))
  else:
    linear = _srgb_to_linear(tf.cast(rgb, tf.float32))
  t = _matmul_last(linear, (_XYZ_FROM_RGB.T / _D65_WHITE[None, :])[:, 1:2])  # Y/Yn
  return 116.0 * _lab_f(t) - 16.0


def lab_to_rgb(lab):
  """CIE Lab (D65) -> sRGB clipped to [0, 1], as skimage.color.lab2rgb.

  Like skimage, a negative Z (f_z < 0, i.e. b > 200 (L + 16) / 116) is clamped to f_z = 0 before
  the cube (skimage warns; a graph op cannot), and out-of-gamut colours are clipped per channel in
  sRGB.

  Args:
    lab: float Lab, shape [..., 3].

  Returns:
    float32 sRGB in [0, 1], shape [..., 3].
  """
  lab = tf.convert_to_tensor(lab, tf.float32)
  _check_last_dim(lab, 3, "lab_to_rgb(lab)")
  f = _matmul_last(lab, _F_FROM_LAB) + 16.0 / 116.0
  f = tf.concat([f[..., :2], tf.maximum(f[..., 2:], 0.0)], axis=-1)
  t = tf.where(f > _LAB_F_THRESHOLD, f * f * f, (f - 16.0 / 116.0) * (1.0 / _LAB_LINEAR_SLOPE))
  # Multiplying by the white point is folded into the matrix rows.
  linear = _matmul_last(t, _D65_WHITE[:, None] * _RGB_FROM_XYZ.T)
  srgb = tf.where(linear > _SRGB_ENCODE_THRESHOLD,
                  1.055 * tf.pow(tf.maximum(linear, _SRGB_ENCODE_THRESHOLD), 1.0 / 2.4) - 0.055,
                  12.92 * linear)
  return tf.clip_by_value(srgb, 0.0, 1.0)


def rgb_to_l_ab(rgb):
  """sRGB -> (lightness, colour field).

  Args:
    rgb: float sRGB in [0, 1], shape [..., 3].

  Returns:
    (lightness [..., 1] in [0, 100], colour_field [..., 2] = ab / AB_SCALE), float32.
  """
  lab = rgb_to_lab(rgb)
  return lab[..., :1], lab[..., 1:] * (1.0 / AB_SCALE)


def l_ab_to_rgb(lightness, colour_field):
  """(lightness, colour field) -> sRGB in [0, 1]; e.g. an input's own L joined with predicted ab.

  Args:
    lightness: L in [0, 100], shape [..., 1].
    colour_field: ab / AB_SCALE, shape [..., 2], same leading shape as lightness.

  Returns:
    float32 sRGB in [0, 1], shape [..., 3].
  """
  lightness = tf.convert_to_tensor(lightness, tf.float32)
  colour_field = tf.convert_to_tensor(colour_field, tf.float32)
  _check_last_dim(lightness, 1, "l_ab_to_rgb(lightness)")
  _check_last_dim(colour_field, 2, "l_ab_to_rgb(colour_field)")
  return lab_to_rgb(tf.concat([lightness, colour_field * AB_SCALE], axis=-1))


# ---------------------------------------------------------------------------------------------
# Zhang et al.'s 313 ab bins.


def _np_rgb_to_ab(rgb):
  """Numpy float64 twin of rgb_to_lab's ab, used once to build the bins (not at graph time)."""
  linear = np.where(rgb > _SRGB_DECODE_THRESHOLD,
                    ((np.maximum(rgb, _SRGB_DECODE_THRESHOLD) + 0.055) / 1.055)**2.4, rgb / 12.92)
  t = linear @ (_XYZ_FROM_RGB.T / _D65_WHITE[None, :])
  f = np.where(t > _LAB_T_THRESHOLD, np.cbrt(t), _LAB_LINEAR_SLOPE * t + 16.0 / 116.0)
  return (f @ _LAB_FROM_F)[:, 1:]


def _convex_hull(points):
  """Counter-clockwise convex hull vertices of 2-D points (Andrew's monotone chain)."""
  pts = np.unique(points, axis=0)  # sorted by x, then y

  def half(seq):
    chain = []
    for p in seq:
      while len(chain) >= 2:
        (ox, oy), (ax, ay) = chain[-2], chain[-1]
        if (ax - ox) * (p[1] - oy) - (ay - oy) * (p[0] - ox) > 0:
          break
        chain.pop()
      chain.append(p)
    return chain[:-1]

  return np.array(half(pts) + half(pts[::-1]))


@functools.lru_cache(maxsize=1)
def _ab_bins_cached():
  # The gamut's ab projection is the projection of the RGB cube's surface (rgb -> Lab is a
  # homeomorphism); 33 samples per edge already give the exact set (the rule's margin is 0.08).
  v = np.linspace(0.0, 1.0, 33)
  g0, g1 = np.meshgrid(v, v, indexing="ij")
  faces = []
  for axis in range(3):
    for value in (0.0, 1.0):
      channels = [g0, g1]
      channels.insert(axis, np.full_like(g0, value))
      faces.append(np.stack(channels, -1).reshape(-1, 3))
  hull = _convex_hull(_np_rgb_to_ab(np.concatenate(faces)))
  edges = np.roll(hull, -1, axis=0) - hull
  normals = np.stack([edges[:, 1], -edges[:, 0]], -1)  # outward for a counter-clockwise hull
  offsets = np.sum(normals * hull, -1)
  axis_values = np.arange(-130.0, 131.0, BIN_STEP)
  grid = np.stack(np.meshgrid(axis_values, axis_values, indexing="ij"), -1).reshape(-1, 2)
  half = BIN_STEP  # half-width of the square around a grid point
  # Separating-axis test of the square |x - c|_inf <= half against the convex hull.
  overlaps_box = np.all((grid - half <= hull.max(0)) & (grid + half >= hull.min(0)), -1)
  nearest_corner = grid @ normals.T - half * np.abs(normals).sum(-1)
  overlaps_edges = np.all(nearest_corner <= offsets, -1)
  bins = grid[overlaps_box & overlaps_edges]  # grid is already sorted by a, then b
  if len(bins) != NUM_BINS:
    raise RuntimeError(f"divcolor_tf/color.py: computed {len(bins)} ab bins, expected {NUM_BINS}")
  return bins.astype(np.float32)


def ab_bins():
  """Zhang et al.'s 313 in-gamut ab bin centres (Lab units, step-10 grid), in their file's order.

  Returns:
    numpy float32 array [313, 2] of (a, b), sorted by a, then b; equal to Zhang et al.'s
    ``pts_in_hull.npy``. Computed once (about 10 ms) by the rule in the module docstring.
  """
  return _ab_bins_cached().copy()


@functools.lru_cache(maxsize=1)
def _grid_to_bin_table():
  """[27, 27] int32: bin index of grid point (a, b) = 10 * (i - 13, j - 13), or -1 if no bin."""
  table = -np.ones((27, 27), np.int32)
  cells = np.round(_ab_bins_cached() / BIN_STEP).astype(np.int64) + 13
  table[cells[:, 0], cells[:, 1]] = np.arange(NUM_BINS, dtype=np.int32)
  return table


def _squared_distances(flat_ab):
  """[N, 2] Lab ab -> [N, 313] squared distances to the bin centres.

  Per-axis differences rather than |x|^2 - 2 x.c + |c|^2: the expansion loses ~1e-3 in float32
  (|c|^2 reaches 2e4), enough to flip the nearest bin near Voronoi edges.
  """
  bins = tf.constant(_ab_bins_cached(), tf.float32)
  return (tf.square(flat_ab[:, :1] - bins[None, :, 0])
          + tf.square(flat_ab[:, 1:] - bins[None, :, 1]))


def nearest_bin(ab):
  """Index of the nearest of the 313 bin centres (Euclidean in ab).

  Exact and O(N) memory for every ab whose nearest step-10 grid point is a bin (all colours of the
  sRGB gamut are): that grid point is then the nearest bin. Only the other points (out-of-gamut
  ab, e.g. an untrained decoder's) are compared against all 313 centres, [M, 313] floats.

  Args:
    ab: float ab in Lab units (NOT colour-field units ab / AB_SCALE), shape [..., 2].

  Returns:
    int32 bin indices into ab_bins(), shape [...]. Exact ties (a point halfway between grid
    points) go to either neighbour.
  """
  ab = tf.convert_to_tensor(ab, tf.float32)
  _check_last_dim(ab, 2, "nearest_bin(ab)")
  flat = tf.reshape(ab, [-1, 2])
  cell = tf.cast(tf.clip_by_value(tf.round(flat * (1.0 / BIN_STEP)), -13.0, 13.0), tf.int32) + 13
  index = tf.gather_nd(tf.constant(_grid_to_bin_table()), cell)
  off_grid = tf.where(index < 0)  # [M, 1]
  far = tf.gather_nd(flat, off_grid)
  far_index = tf.argmin(_squared_distances(far), axis=-1, output_type=tf.int32)
  index = tf.tensor_scatter_nd_update(index, off_grid, far_index)
  return tf.reshape(index, tf.shape(ab)[:-1])


def soft_encode(ab, k=5, sigma=5.0):
  """Zhang et al.'s soft encoding of ab targets over the 313 bins (ECCV 2016, Section 2.1).

  Gaussian weights exp(-d^2 / (2 sigma^2)) on the k nearest bin centres, normalised to sum 1,
  zero on the other bins.

  Args:
    ab: float ab in Lab units (NOT ab / AB_SCALE), shape [..., 2].
    k: number of nearest bins that get weight.
    sigma: Gaussian width in Lab units.

  Returns:
    float32 [..., 313]. Peak memory is about 3 x N x 313 floats for N pixels (150 MB for a batch
    of 32 x 64 x 64).
  """
  ab = tf.convert_to_tensor(ab, tf.float32)
  _check_last_dim(ab, 2, "soft_encode(ab)")
  flat = tf.reshape(ab, [-1, 2])
  neg_d2, index = tf.math.top_k(-_squared_distances(flat), k=k)
  # Relative to the nearest bin, so that far out-of-gamut points do not underflow to 0/0.
  weights = tf.exp((neg_d2 - neg_d2[:, :1]) * (0.5 / (sigma * sigma)))
  weights /= tf.reduce_sum(weights, axis=-1, keepdims=True)
  n = tf.shape(flat)[0]
  rows = tf.repeat(tf.range(n), k)
  scatter_at = tf.stack([rows, tf.reshape(index, [-1])], axis=-1)
  encoded = tf.scatter_nd(scatter_at, tf.reshape(weights, [-1]), tf.stack([n, NUM_BINS]))
  return tf.reshape(encoded, tf.concat([tf.shape(ab)[:-1], [NUM_BINS]], axis=0))


# The sRGB gamut (the colorize pipeline's last step, paper Section 4: the input's own L joined with a
# predicted colour field). A predicted (L, ab) may lie outside the sRGB gamut. Clipping sRGB per
# channel (what skimage's lab2rgb and the authors' code do) then changes the lightness of that
# pixel; fit_chroma instead keeps L and hue and reduces chroma just enough (a bisection on the
# chroma scale, GAMUT_STEPS steps, always ending inside the gamut).

GAMUT_STEPS = 12  # chroma bisection steps: at most 1/4096 of a pixel's chroma is given up
_GAMUT_EPS = 1e-4  # slack on linear sRGB in [0, 1]: grey at L = 100 maps to R = 1.0000147 (the
# sRGB matrix and skimage's D65 white differ in the 5th digit); 1e-4 linear is < 0.1/255 in sRGB


def _linear_rgb(lab):
  """Lab -> linear sRGB WITHOUT clipping (lab_to_rgb's path up to its transfer curve)."""
  f = _matmul_last(lab, _F_FROM_LAB) + 16.0 / 116.0
  t = tf.where(f > _LAB_F_THRESHOLD, f * f * f, (f - 16.0 / 116.0) * (1.0 / _LAB_LINEAR_SLOPE))
  return _matmul_last(t, _D65_WHITE[:, None] * _RGB_FROM_XYZ.T)


def in_gamut(lightness, colour_field):
  """True where (L, ab) is an sRGB colour: [..., 1] L, [..., 2] ab/128 -> bool [..., 1]."""
  linear = _linear_rgb(tf.concat([lightness, colour_field * AB_SCALE], axis=-1))
  inside = tf.logical_and(linear >= -_GAMUT_EPS, linear <= 1.0 + _GAMUT_EPS)
  return tf.reduce_all(inside, axis=-1, keepdims=True)


def fit_chroma(lightness, colour_field, steps=GAMUT_STEPS):
  """Scales each pixel's ab by the largest s in [0, 1] (to 2^-steps) keeping (L, s*ab) in gamut.

  s = 0 (grey at the same L) is always in the gamut for L in [0, 100], and the bisection only
  ever accepts in-gamut scales, so the result is in the gamut whatever the gamut's shape.
  In-gamut pixels are returned unchanged; only the others are bisected (gathered, then
  scattered back), so the cost is one gamut test per pixel plus ``steps`` per out-of-gamut pixel.

  Args:
    lightness: [..., 1] L; colour_field: [..., 2] ab/128, same leading shape.

  Returns:
    The colour field [..., 2] with out-of-gamut pixels' chroma reduced.
  """
  shape = tf.shape(colour_field)
  l_flat = tf.reshape(lightness, [-1, 1])
  ab_flat = tf.reshape(colour_field, [-1, 2])
  ok = in_gamut(l_flat, ab_flat)[:, 0]
  outside = tf.where(tf.logical_not(ok))  # [N, 1] indices
  l_out = tf.gather_nd(l_flat, outside)
  ab_out = tf.gather_nd(ab_flat, outside)
  lo = tf.zeros_like(l_out)
  hi = tf.ones_like(l_out)
  for _ in range(steps):
    mid = 0.5 * (lo + hi)
    fits = in_gamut(l_out, ab_out * mid)
    lo = tf.where(fits, mid, lo)
    hi = tf.where(fits, hi, mid)
  scale = tf.scatter_nd(outside, lo[:, 0], tf.shape(ok, out_type=tf.int64))
  scale = tf.where(ok, tf.ones_like(scale), scale)
  return tf.reshape(ab_flat * scale[:, None], shape)


# The full-resolution output (``fullres.join_lightness``): (L, ab) straight to uint8 sRGB with the
# same gamut fit as fit_chroma, lean enough to run over tens of millions of pixels. Per-channel
# planes instead of [..., 3] tensors and [N, 3] x [3, 3] matmuls, the Y term (which depends on L
# alone) computed once per pixel rather than once per bisection step, and the sRGB transfer curve
# as exp(log(x) / 2.4) (Eigen vectorises exp and log; tf.pow is ~8x slower per element).

# Linear sRGB = _LINEAR_FROM_T @ (X/Xn, Y/Yn, Z/Zn): the white point folded into the columns.
_LINEAR_FROM_T = _RGB_FROM_XYZ * _D65_WHITE[None, :]


def _t_from_f(f):
  """f(t)'s inverse: X/Xn (or Y/Yn, Z/Zn) from f, with skimage's linear segment."""
  return tf.where(f > _LAB_F_THRESHOLD, f * f * f,
                  (f - 16.0 / 116.0) * (1.0 / _LAB_LINEAR_SLOPE))


class _Planes(NamedTuple):
  """Pixels in the form the gamut fit reuses: f_y, the Y term of each linear channel, and the steps
  of f_x and f_z per unit of chroma scale."""
  fy: tf.Tensor
  y_terms: tuple
  fx_step: tf.Tensor
  fz_step: tf.Tensor

  @classmethod
  def of(cls, lightness, a, b):
    fy = lightness * (1.0 / 116.0) + 16.0 / 116.0
    ty = _t_from_f(fy)
    return cls(fy, tuple(float(row[1]) * ty for row in _LINEAR_FROM_T),
               a * (AB_SCALE / 500.0), b * (AB_SCALE / 200.0))


  def linear(self, scale=None, clamp_z=False):
    """Linear sRGB channels (R, G, B) of (L, scale * ab), unclipped; ``clamp_z`` as lab_to_rgb."""
    fx = self.fy + (self.fx_step if scale is None else scale * self.fx_step)
    fz = self.fy - (self.fz_step if scale is None else scale * self.fz_step)
    if clamp_z:
      fz = tf.maximum(fz, 0.0)
    tx, tz = _t_from_f(fx), _t_from_f(fz)
    return tuple(float(row[0]) * tx + float(row[2]) * tz + y_term
                 for row, y_term in zip(_LINEAR_FROM_T, self.y_terms))


def _inside(channels):
  """in_gamut's test on linear channels (R, G, B): every one within [-eps, 1 + eps]."""
  low = tf.minimum(tf.minimum(channels[0], channels[1]), channels[2])
  high = tf.maximum(tf.maximum(channels[0], channels[1]), channels[2])
  return tf.logical_and(low >= -_GAMUT_EPS, high <= 1.0 + _GAMUT_EPS)


def linear_to_srgb8(linear):
  """Linear sRGB -> uint8 sRGB, any shape (clipped, rounded half to even as photos.to_uint8)."""
  # Clipped in linear sRGB, where the curve is monotone: the same as clipping sRGB, one op fewer.
  linear = tf.clip_by_value(linear, 0.0, 1.0)
  levels = tf.where(linear > _SRGB_ENCODE_THRESHOLD,
                    (1.055 * 255.0) * tf.exp(tf.math.log(tf.maximum(
                        linear, _SRGB_ENCODE_THRESHOLD)) * (1.0 / 2.4)) - 0.055 * 255.0,
                    (12.92 * 255.0) * linear)
  return tf.cast(tf.round(levels), tf.uint8)


def _fit_scale(planes, steps):
  """fit_chroma's bisection of the chroma scale, for out-of-gamut pixels: the largest s in [0, 1]
  (to 2^-steps, always in the gamut) with (L, s * ab) in the gamut. With lo + 2^-(i+1) as the
  midpoint of step i, hi is not carried."""
  lo = tf.zeros_like(planes.fy)
  for i in range(steps):
    mid = lo + 0.5**(i + 1)
    lo = tf.where(_inside(planes.linear(mid)), mid, lo)
  return lo


FUSED_CHUNK = 1 << 16  # pixels per row of the fused (XLA) conversion: a few shapes, compiled once


@tf.function(jit_compile=True)
def _fused_srgb8(lightness, a, b):
  """[C, FUSED_CHUNK] planes -> (uint8 [C, FUSED_CHUNK, 3] without a gamut fit, in-gamut [C, N]):
  the per-pixel arithmetic of :func:`l_ab_to_srgb8` fused by XLA into one pass over the pixels
  (~3x faster here than the ~40 separate TF ops, whose temporaries each make a trip to memory)."""
  channels = _Planes.of(lightness, a, b).linear()
  return (tf.stack([linear_to_srgb8(c) for c in channels], axis=-1), _inside(channels))


def _fit_outside(lightness, a, b, ok, steps):
  """(indices [N, 1] of the pixels not ``ok``, their fitted linear channels): the chroma fit run
  on the out-of-gamut pixels alone (gathered; the caller scatters them back)."""
  outside = tf.where(tf.logical_not(ok))
  take = lambda t: tf.gather_nd(t, outside)
  sub = _Planes.of(take(lightness), take(a), take(b))
  return outside, sub.linear(_fit_scale(sub, steps))


def _l_ab_to_srgb8_fused(lightness, a, b, steps):
  """l_ab_to_srgb8(gamut="chroma") with the whole-photo arithmetic in :func:`_fused_srgb8`, over
  flat planes padded to rows of FUSED_CHUNK, and the fit of the out-of-gamut pixels (a few percent)
  in plain TF ops, as unfused. XLA compiles once per row count (~0.3 s here), not per photo size:
  one row, or at least 4 (a join's strip, ``fullres.STRIP_PIXELS``, is 4 rows), so that photos of
  any size need two compilations."""
  count = tf.size(lightness)
  rows = (count + FUSED_CHUNK - 1) // FUSED_CHUNK
  rows = tf.where(rows > 1, tf.maximum(rows, 4), rows)
  pad = [[0, rows * FUSED_CHUNK - count]]
  chunked = [tf.reshape(tf.pad(t, pad), tf.stack([rows, FUSED_CHUNK])) for t in (lightness, a, b)]
  levels, ok = _fused_srgb8(*chunked)
  levels = tf.reshape(levels, [-1, 3])[:count]
  outside, fitted = _fit_outside(lightness, a, b, tf.reshape(ok, [-1])[:count], steps)
  return tf.tensor_scatter_nd_update(levels, outside,
                                     tf.stack([linear_to_srgb8(c) for c in fitted], axis=-1))


def l_ab_to_srgb8(lightness, a, b, gamut="chroma", steps=GAMUT_STEPS, fused=False):
  """(L, a/128, b/128) planes -> uint8 sRGB: the colorize pipeline's last step.

  ``gamut="chroma"`` is :func:`fit_chroma` then :func:`l_ab_to_rgb` (the same bisection, on the
  out-of-gamut pixels only); ``"clip"`` is :func:`l_ab_to_rgb` alone (skimage's clamp of f_z, then
  per-channel clipping). Both end in uint8 as ``photos.to_uint8`` of those float results, to within
  float32 rounding (a level where a value sits on a rounding boundary, or where the bisection's
  tests fall the other way at the gamut's edge).

  Args:
    lightness: L in [0, 100], any shape; a, b: the colour field's two channels (ab/128), same
      shape (separate planes: no [..., 2] slices at full resolution).
    gamut: "chroma" or "clip".
    steps: bisection steps of the chroma fit.
    fused: the "chroma" conversion with its per-pixel arithmetic compiled by XLA
      (:func:`_l_ab_to_srgb8_fused`): what the Python colorizers use. Off for exports (a
      SavedModel for TF Serving or a TFLite model should not need XLA).

  Returns:
    uint8 sRGB, shape [..., 3].
  """
  lightness = tf.convert_to_tensor(lightness, tf.float32)
  shape = tf.concat([tf.shape(lightness), [3]], axis=0)
  # Flat planes: 1-D gathers and scatters, and one transpose to interleave the channels at the end
  # (stacking on a last axis of 3 costs ~3x as much).
  lightness, a, b = (tf.reshape(tf.convert_to_tensor(t, tf.float32), [-1])
                     for t in (lightness, a, b))
  if fused and gamut == "chroma":
    return tf.reshape(_l_ab_to_srgb8_fused(lightness, a, b, steps), shape)
  planes = _Planes.of(lightness, a, b)
  if gamut == "clip":
    channels = planes.linear(clamp_z=True)
  elif gamut == "chroma":
    channels = planes.linear()
    outside, fitted = _fit_outside(lightness, a, b, _inside(channels), steps)
    channels = [tf.tensor_scatter_nd_update(channel, outside, part)
                for channel, part in zip(channels, fitted)]
  else:
    raise ValueError(f"gamut must be 'chroma' or 'clip', got {gamut!r}")
  levels = tf.reshape(tf.concat([linear_to_srgb8(c) for c in channels], axis=0), [3, -1])
  return tf.reshape(tf.transpose(levels), shape)
