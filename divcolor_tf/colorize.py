"""Diverse colorization of a photo at test time (paper Sections 4 and 6.2, Figure 1).

One definition of "colorize a photo", shared by ``divcolor-colorize``, ``divcolor-evaluate`` and
the exported models:

  1. the photo's lightness L (CIE Lab; a colour photo is reduced to L first, so its own colours
     can never reach the output);
  2. L squashed to the feature network's grey size (paper 224x224) -> grey features G (conv7 of
     Zhang et al.'s network, ``models.features``);
  3. the MDN reads G and gives a Gaussian mixture over the VAE's embedding z: M means (paper 8),
     mixture weights pi = softmax(logits), fixed spherical variance sigma^2 (paper 0.1);
  4. either the top-k means ordered by pi, descending (the paper's test time, k = 5 in its
     figures), or ``samples`` draws z ~ the mixture (pick a component by pi, then
     z = mu + sigma * eps);
  5. the VAE decoder turns each z into a 64x64 colour field (ab/128); the "+skip" decoder also
     reads the 64x64 lightness;
  6. each colour field is upsampled bilinearly to the photo's own size and joined with the
     photo's own full-resolution L, then converted to uint8 sRGB (:func:`join_lightness`). Output
     size and aspect are the input's.

Step 6's gamut: ``gamut="chroma"`` (default) keeps each pixel's L and hue and gives up just enough
chroma to stay in sRGB (:func:`color.fit_chroma`'s bisection, run by :func:`color.l_ab_to_srgb8`
on the out-of-gamut pixels only), so the output's L is the input's to within 8-bit rounding;
``gamut="clip"`` clips sRGB per channel (the authors' behaviour, cheaper).

Memory and time at full resolution: the two full-resolution steps, L (1) and the join (6), run in
horizontal strips of about ``STRIP_PIXELS`` pixels (of one colour field, for the join), inside a
``tf.while_loop`` in the traced pipeline, so float temporaries exist for one strip at a time. What
grows with the photo is the uint8 input (a uint8 photo is never converted to float at full
resolution), L (float32) and the uint8 output [K, H, W, 3] (held twice while its strips are
joined): ~90 bytes per input pixel at peak for K = 8 (4000x3000: 1.8 GB of RSS in all, 0.8 GB of
it the process before the photo; it was ~400 bytes per pixel with whole-photo float tensors). Time
is linear in pixels: ~0.9 s per 12-megapixel colorization on this project's shared 2-core CPU
(bench/colorize_latency.py). A photo of more than ``max_megapixels`` (default
``MAX_MEGAPIXELS`` = 64, ~6 GB at K = 8) is refused with a one-line error naming it, before any of
it is converted.

The numeric path is TensorFlow ops only (no numpy, no py_function) so that
:meth:`Colorizer.colorize_tensor` can be traced into a SavedModel or a TFLite model; the Python
wrapper :meth:`Colorizer.colorize` decodes inputs, loops over photos of different sizes and
returns numpy :class:`Colorization` results. Resizing down uses an antialiased bilinear filter by
default, as the training pipeline (``data.make_dataset``) did; ``antialias=False`` gives the
plain bilinear resize that TFLite has as a builtin op.
"""

import os
from typing import NamedTuple

from absl import logging
import numpy as np
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf import config as config_lib
from divcolor_tf import photos
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf.models import vae


class Colorization(NamedTuple):
  """The K colorizations of one photo, in the order they were asked for.

  Attributes:
    colorizations: uint8 sRGB [K, H, W, 3] at the input's own size.
    ab: float32 [K, F, F, 2] the decoded colour fields (ab/128, F = 64 in the paper).
    weights: float32 [K] mixture weight pi of each mean (top-k: descending), or of the component
      each sample was drawn from.
    z: float32 [K, d] the embeddings that were decoded.
    components: int64 [K] the mixture component of each z.
  """
  colorizations: np.ndarray
  ab: np.ndarray
  weights: np.ndarray
  z: np.ndarray
  components: np.ndarray


STRIP_PIXELS = 1 << 18  # pixels per strip of one field (rows = this / width)
MAX_MEGAPIXELS = 64.0  # a colorizer's default pixel budget (module docstring, "Memory and time")
_UNROLL_LIMIT = 16  # static shapes with at most this many strips are unrolled (TFLite: no loop)


def check_size(shape, name, max_megapixels):
  """Raises a one-line ValueError naming ``name`` if a photo of ``shape`` [H, W, ...] has more
  than ``max_megapixels`` million pixels (0 or None: no limit)."""
  height, width = int(shape[0]), int(shape[1])
  if max_megapixels and height * width > max_megapixels * 1e6:
    raise ValueError(f"{name}: {width}x{height} pixels ({height * width / 1e6:.3g} megapixels) is "
                     f"over the limit of {max_megapixels:g} megapixels (max_megapixels; "
                     "divcolor-colorize --max_megapixels)")


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


def join_lightness(lightness, colour_fields, gamut="chroma", strip_rows=None):
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

  Returns:
    uint8 sRGB [B, K, H, W, 3].
  """
  lightness = tf.convert_to_tensor(lightness, tf.float32)
  colour_fields = tf.convert_to_tensor(colour_fields, tf.float32)
  shape = tf.shape(lightness)
  b, h, w = shape[0], shape[1], shape[2]
  k, f = tf.shape(colour_fields)[1], tf.shape(colour_fields)[2]
  fields = tf.reshape(colour_fields, tf.stack([b * k, f, f, 2]))
  planes = tf.reshape(lightness, tf.stack([b, h, w]))
  # The horizontal pass, over the F rows of every field at full width: [B*K, F, W] per channel.
  left, right, x_weight = _bilinear_taps(w, f)
  rows = []
  for channel in range(2):
    field = fields[..., channel]
    row_left = tf.gather(field, left, axis=2)
    rows.append(row_left + (tf.gather(field, right, axis=2) - row_left) * x_weight)
  top, bottom, y_weight = _bilinear_taps(h, f)
  static = _static_dims(lightness, 0, 1, 2)
  k_static = colour_fields.shape[1]
  if static is not None and k_static is not None:
    k = k_static
    static = (static[0] * k,) + static[1:]
  else:
    static = None
  strip_rows, strips, count, static_count = _strip_plan(h, w, b * k, strip_rows, static)

  def strip(i):
    """Strip i: field i // strips (of photo field // K), from row (i % strips) * strip_rows."""
    field = i // strips
    start = (i % strips) * strip_rows
    stop = tf.minimum(start + strip_rows, h)
    lower, upper, weight = top[start:stop], bottom[start:stop], y_weight[start:stop, None]
    ab = []
    for channel in range(2):  # the vertical pass
      above = tf.gather(rows[channel][field], lower)
      ab.append(above + (tf.gather(rows[channel][field], upper) - above) * weight)
    return color.l_ab_to_srgb8(planes[field // k, start:stop], ab[0], ab[1], gamut)

  out = _in_strips(strip, count, static_count, tf.uint8, 3)
  return tf.reshape(out, tf.stack([b, k, h, w, 3]))


def photo_seed(seed, index):
  """The stateless seed pair of photo ``index`` of a call with int ``seed``."""
  return tf.constant([int(seed) % 2**31, int(index)], tf.int32)


def decode_each(decode, z, field_lightness, latent_dim):
  """K codes per photo through a batch decoder: z [B, K, d] -> [B, K, F, F, 2].

  ``decode(z [N, d], L [N, F, F, 1]) -> [N, F, F, 2]`` is called once on all B*K codes, each with
  its own photo's 64x64 lightness (which only a "+skip" decoder reads).
  """
  shape = tf.shape(z)
  b, k = shape[0], shape[1]
  f = tf.shape(field_lightness)[1]
  flat_l = tf.reshape(tf.broadcast_to(field_lightness[:, None], tf.stack([b, k, f, f, 1])),
                      tf.stack([-1, f, f, 1]))
  fields = decode(tf.reshape(z, [-1, latent_dim]), flat_l)
  return tf.reshape(tf.cast(fields, tf.float32), tf.stack([b, k, f, f, 2]))


class Sampling:
  """What every colorizer (a workdir's :class:`Colorizer`, an export's
  ``serving.SavedModelColorizer``) offers beside ``colorize``."""

  def sample(self, images, n, seed=None):
    """``n`` colorizations of each photo from ``n`` draws z ~ the mixture (reproducible with
    ``seed``; the same seed gives the same draws from a workdir and from its export)."""
    return self.colorize(images, samples=n, seed=seed)


class Colorizer(Sampling):
  """The paper's test-time pipeline over a trained feature trunk, MDN and VAE decoder.

  Build it from a model directory with :meth:`load`, or from in-memory Keras models.
  """

  def __init__(self, trunk, mdn, decoder, config, *, gamut="chroma", antialias=True,
               encoder=None, max_megapixels=None):
    """Args:
      trunk: grey features G: input [B, S, S, 1] L in [0, 100] (``features.build_trunk``).
      mdn: grey features -> {'means': [B, M, d], 'logits': [B, M]} (``mdn.build_mdn``).
      decoder: the VAE decoder, z [B, d] (or {'z', 'lightness' [B, F, F, 1]} for "+skip") ->
        [B, F, F, 2] ab/128.
      config: the workdir's resolved config; reads ``mdn.variance`` (sigma^2, default 0.1),
        ``colorize.k`` (default 5) and ``dataset``.
      gamut: "chroma" or "clip" (module docstring, step 6).
      antialias: antialiased bilinear when shrinking L (as the training pipeline did).
      encoder: optional VAE encoder Q(z | C) (not needed to colorize; evaluation's
        reconstruction row and the export's ``encode`` signature use it).
      max_megapixels: the pixel budget of :meth:`colorize` (None: ``MAX_MEGAPIXELS``; 0: none).
    """
    if gamut not in ("chroma", "clip"):
      raise ValueError(f"gamut must be 'chroma' or 'clip', got {gamut!r}")
    self.trunk, self.mdn, self.decoder, self.config = trunk, mdn, decoder, config
    self.encoder = encoder
    self.workdir = None  # set by load(): where the model's files (stats, baselines) are
    self.gamut, self.antialias = gamut, bool(antialias)
    self.max_megapixels = megapixel_budget(max_megapixels)
    grey_shape = tuple(trunk.input.shape[1:])
    if len(grey_shape) != 3 or grey_shape[2] != 1 or grey_shape[0] != grey_shape[1]:
      raise ValueError(f"trunk input must be [B, S, S, 1] lightness, got {trunk.input.shape}")
    self.grey_size = int(grey_shape[0])
    features_shape = tuple(trunk.output.shape[1:])
    if tuple(mdn.input.shape[1:]) != features_shape:
      raise ValueError(f"the MDN reads grey features {tuple(mdn.input.shape[1:])} but the trunk "
                       f"gives {features_shape}")
    means_shape = mdn.output["means"].shape
    self.num_components, self.latent_dim = int(means_shape[1]), int(means_shape[2])
    self.skip = vae.is_skip(decoder)
    z_input = decoder.input["z"] if self.skip else decoder.input
    if int(z_input.shape[-1]) != self.latent_dim:
      raise ValueError(f"the decoder takes z of size {z_input.shape[-1]} but the MDN predicts "
                       f"{self.latent_dim}")
    self.field_size = int(decoder.output.shape[1])
    self.variance = float(config_lib.lookup(config, "mdn.variance", 0.1))
    self.k = int(config_lib.lookup(config, "colorize.k", 5))
    self.dataset = str(config_lib.lookup(config, "dataset", "") or "")
    self._functions = {}  # ("top_k", k) / ("samples", n) -> a tf.function traced once

  @classmethod
  def load(cls, workdir, **kwargs):
    """A Colorizer from a model directory (layout: ``divcolor_tf.workdir``).

    Raises:
      FileNotFoundError: one line naming the missing file and the command that makes it.
      ValueError: one line naming a file that exists but cannot be loaded.
    """
    workdir = os.fspath(workdir)
    workdir_lib.require(workdir, *workdir_lib.COLORIZER_FILES)
    config = workdir_lib.load_config(workdir)
    decoder, trunk, mdn = (workdir_lib.load_keras(workdir, name) for name in (
        workdir_lib.DECODER, workdir_lib.TRUNK, workdir_lib.MDN))
    if os.path.isfile(workdir_lib.path(workdir, workdir_lib.ENCODER)) and "encoder" not in kwargs:
      try:
        kwargs["encoder"] = workdir_lib.load_keras(workdir, workdir_lib.ENCODER)
      except ValueError as e:  # only evaluation needs it
        logging.warning("%s; colorizing without it", e)
    colorizer = cls(trunk, mdn, decoder, config, **kwargs)
    colorizer.workdir = workdir
    logging.info("loaded %s: grey %dx%d, M=%d, d=%d, colour field %dx%d%s", workdir,
                 colorizer.grey_size, colorizer.grey_size, colorizer.num_components,
                 colorizer.latent_dim, colorizer.field_size, colorizer.field_size,
                 " (+skip decoder)" if colorizer.skip else "")
    return colorizer

  # The numeric core: TF ops only.

  def lightness(self, rgb):
    """sRGB [B, H, W, 3] (float in [0, 1], or uint8) -> L [B, H, W, 1]: all that is kept of the
    input (:func:`photo_lightness`)."""
    return photo_lightness(rgb)

  def squash(self, lightness, size):
    """L [B, H, W, 1] shrunk (or grown) to size x size, as the training pipeline did
    (:func:`squash` with this colorizer's ``antialias``)."""
    return squash(lightness, size, self.antialias)

  def mixture(self, grey):
    """Grey L [B, S, S, 1] at the trunk's size -> (means [B, M, d], logits [B, M]), float32."""
    out = self.mdn(self.trunk(grey, training=False), training=False)
    return tf.cast(out["means"], tf.float32), tf.cast(out["logits"], tf.float32)

  @property
  def can_encode(self):
    return self.encoder is not None

  def encode(self, colour_field):
    """The encoder's mean embedding of true colour fields [B, F, F, 2] -> [B, d], float32."""
    if self.encoder is None:
      raise ValueError("this model directory has no encoder.keras")
    mean, _ = self.encoder(colour_field, training=False)
    return tf.cast(mean, tf.float32)

  def decode(self, z, field_lightness):
    """z [B, K, d] -> colour fields [B, K, F, F, 2] (ab/128); L [B, F, F, 1] feeds "+skip"."""
    return decode_each(lambda flat_z, flat_l: vae.decode(self.decoder, flat_z, flat_l),
                       z, field_lightness, self.latent_dim)

  def top_k(self, means, logits, k):
    """(z [B, k, d], weights [B, k], components [B, k]): the k means of highest pi, descending."""
    z, weights, components = mdn_lib.top_k_means(means, logits, k)
    return tf.cast(z, tf.float32), tf.cast(weights, tf.float32), tf.cast(components, tf.int64)

  def draw(self, means, logits, n, seed):
    """n draws z ~ the mixture per image (``mdn.sample_mixture`` with this model's sigma^2)."""
    return mdn_lib.sample_mixture(means, logits, n, seed, self.variance)

  def colour_fields(self, grey, field_lightness, k=None, samples=None, seed=(0, 0)):
    """The 64x64 level of the pipeline (what Table 3 scores), from the dataset's own inputs.

    Args:
      grey: L [B, S, S, 1] at the trunk's size; field_lightness: L [B, F, F, 1].
      k: top-k means (default: config colorize.k); or samples: draws from the mixture.
      seed: the stateless seed pair for ``samples``.

    Returns:
      dict of ab [B, K, F, F, 2], weights [B, K], z [B, K, d], components [B, K].
    """
    means, logits = self.mixture(grey)
    if samples:
      z, weights, components = self.draw(means, logits, samples, seed)
    else:
      z, weights, components = self.top_k(means, logits, self.k if k is None else k)
    ab = self.decode(z, field_lightness)
    return {"ab": ab, "weights": weights, "z": z, "components": components}

  def _colorize(self, rgb, k, samples, seed):
    lightness = self.lightness(rgb)
    out = self.colour_fields(self.squash(lightness, self.grey_size),
                             self.squash(lightness, self.field_size), k, samples, seed)
    out["rgb"] = join_lightness(lightness, out["ab"], self.gamut)
    return out

  def _function(self, mode, count, dtype=tf.float32):
    """The traced pipeline for one k (top-k) or n (samples) and input dtype (float32 or uint8):
    any photo size, one trace."""
    key = (mode, count, dtype)
    if key not in self._functions:
      rgb_spec = tf.TensorSpec([None, None, None, 3], dtype)
      if mode == "top_k":
        fn = tf.function(lambda rgb: self._colorize(rgb, count, None, (0, 0)),
                         input_signature=[rgb_spec])
      else:
        fn = tf.function(lambda rgb, seed: self._colorize(rgb, None, count, seed),
                         input_signature=[rgb_spec, tf.TensorSpec([2], tf.int32)])
      self._functions[key] = fn
    return self._functions[key]

  def colorize_tensor(self, rgb, k=None):
    """The exportable core: top-k colorizations of a batch of same-size photos.

    Pure TF ops; trace it with ``tf.function(input_signature=[tf.TensorSpec([None, None, None,
    3], tf.uint8)])`` (or tf.float32) for a SavedModel or TFLite.

    Args:
      rgb: sRGB [B, H, W, 3], uint8 or float in [0, 1] (a grey photo has three equal channels).
      k: how many (default: config colorize.k), fixed when traced.

    Returns:
      (uint8 sRGB [B, K, H, W, 3], ab [B, K, F, F, 2] ab/128, weights [B, K] descending).
    """
    out = self._colorize(rgb, self.k if k is None else k, None, (0, 0))
    return out["rgb"], out["ab"], out["weights"]

  # The Python wrapper.

  def colorize(self, images, k=None, samples=None, seed=None):
    """K colorizations of each photo, at its own size.

    Args:
      images: one photo or a list of photos (or a [B, H, W, 3] array), each uint8 or float
        ([0, 1]) RGB [H, W, 3], or grey [H, W] / [H, W, 1]; any size and aspect.
      k: the top-k means by mixture weight, descending (default: config colorize.k, paper 5).
      samples: instead of top-k, this many draws from the mixture.
      seed: int seed of the draws (photo i of a list uses the stateless seed (seed, i));
        None: a fresh random seed. Ignored for top-k, which is deterministic.

    Returns:
      A :class:`Colorization` for one photo, a list of them for a list.

    Raises:
      ValueError: one line, for a bad k / samples, an image that is not RGB or grey, or one
        over the pixel budget (``max_megapixels``).
    """
    single, batch, k, samples, seed = colorize_arguments(self, images, k, samples, seed)
    results = []
    for i, image in enumerate(batch):
      rgb = checked_rgb(image, f"image {i}", self.max_megapixels)[None]
      dtype = tf.as_dtype(rgb.dtype)
      if samples is None:
        out = self._function("top_k", k, dtype)(rgb)
      else:
        out = self._function("samples", samples, dtype)(rgb, photo_seed(seed, i))
      results.append(Colorization(
          colorizations=out["rgb"][0].numpy(),
          ab=out["ab"][0].numpy(), weights=out["weights"][0].numpy(), z=out["z"][0].numpy(),
          components=out["components"][0].numpy().astype(np.int64)))
    return results[0] if single else results


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


def colorize_arguments(colorizer, images, k, samples, seed):
  """Checks colorize()'s arguments: (single, batch list, k or None, samples or None, seed)."""
  single = isinstance(images, np.ndarray) and images.ndim in (2, 3) or (
      tf.is_tensor(images) and images.shape.rank in (2, 3))
  batch = [images] if single else list(images)
  if samples is not None and k is not None:
    raise ValueError("colorize: give k (top-k means) or samples (draws), not both")
  if samples is None:
    k = colorizer.k if k is None else k
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= colorizer.num_components:
      raise ValueError(f"colorize: k must be in [1, {colorizer.num_components}], got {k!r}")
    return single, batch, int(k), None, seed
  if isinstance(samples, bool) or int(samples) != samples or samples < 1:
    raise ValueError(f"colorize: samples must be a positive integer, got {samples!r}")
  if seed is None:
    seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
  return single, batch, None, int(samples), seed


def load(path, **kwargs):
  """A colorizer for a training workdir (:meth:`Colorizer.load`) or an exported SavedModel
  (``serving.SavedModelColorizer``: its version directory, or the model directory above it, in
  which case the highest version is used, as TF Serving does), e.g. saved_models/divcolor_lfw.

  Raises:
    FileNotFoundError / ValueError: one line naming the path and the problem.
  """
  from divcolor_tf import serving  # pylint: disable=g-import-not-at-top  (serving imports this)
  path = os.fspath(path)
  exported = serving.saved_model_dir(path)
  if exported:
    return serving.SavedModelColorizer(exported, **kwargs)
  return Colorizer.load(path, **kwargs)
