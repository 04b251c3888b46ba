"""What every colorizer gives, whatever it reads (a workdir, an export): the result type
(:class:`Colorization`), the sampler base (:class:`Sampling`), the argument check of ``colorize``,
the per-photo seed and the decode of each photo's codes, and the pipeline every colorizer over
in-memory Keras models shares (:class:`Pipeline`). :mod:`.colorizer`, :mod:`.clustered` and
:mod:`.saved_model` build on it.
"""

import abc
import copy
import os
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf import methods
from divcolor_tf.inference import fullres
from divcolor_tf.models import vae


class Colorization(NamedTuple):
  """The K colorizations of one photo, in the order they were asked for.

  Attributes:
    colorizations: uint8 sRGB [K, H, W, 3] at the input's own size (a
      :class:`LazyColorizations` when asked for ``lazy``).
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

  def save(self, prefix, **options):
    """Writes the colorizations as divcolor-colorize does: ``prefix`` "out/face" gives
    out/face_1.png .. out/face_K.png (``format="jpg"`` or ``"webp"``: at ``quality``), and with
    ``photo=rgb`` the grid out/face_grid.png; existing files only with ``overwrite=True``.
    Returns the paths (``divcolor_tf.inference.outputs.save``, its options)."""
    from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top  (on first use)
    return outputs.save(self, prefix, **options)

  def grid(self, photo, sampled=False):
    """The grey ``photo`` beside its colorizations, titled with their weights, as uint8 RGB (the
    image of divcolor-colorize --grid), e.g. for ``plt.imshow``."""
    from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top  (on first use)
    return outputs.grid(self, photo, sampled)


def photo_seed(seed, index):
  """The stateless seed pair of photo ``index`` of a call with int ``seed``."""
  return tf.constant([int(seed) % 2**31, int(index)], tf.int32)


# Codes per photo decoded at a time: a decoder's activations for one 64x64 field at width 1.0 are
# ~5 MB, so ``samples=5000`` decoded in one batch needed tens of GB (issue 47 row 10); in chunks
# of this many the memory is that of one chunk, whatever the count.
DECODE_BATCH = 64


def decode_each(decode, z, field_lightness, latent_dim, batch=None, per_photo=False):
  """K codes per photo through a batch decoder: z [B, K, d] -> [B, K, F, F, 2].

  ``decode(z [N, d], L [N, F, F, 1]) -> [N, F, F, 2]`` is called on B * K codes at once when K
  is at most ``batch`` (default :data:`DECODE_BATCH`; top-k always is), else once per chunk of
  ``batch`` codes of each photo, one chunk after the other (a loop in the graph): the same fields,
  the memory of one chunk. Each code is decoded with its own photo's 64x64 lightness (which only
  a "+skip" decoder reads). With ``per_photo`` the decoder takes each photo's codes and its L
  once, ``decode(z [B, K', d], L [B, F, F, 1]) -> [B, K', F, F, 2]`` (``models.vae.decode_each``,
  which runs a "+skip" decoder's grey path once per photo and chunk rather than once per code).
  """
  batch = int(batch or DECODE_BATCH)
  k = z.shape[1]
  if per_photo:
    decode_chunk = lambda codes: tf.cast(decode(codes, field_lightness), tf.float32)
  else:
    decode_chunk = lambda codes: _decode_all(decode, codes, field_lightness, latent_dim)
  if k is None or k <= batch:
    return decode_chunk(z)
  chunks = -(-k // batch)
  padded = tf.pad(z, [[0, 0], [0, chunks * batch - k], [0, 0]])  # the padding's fields dropped
  shape = tf.shape(padded)
  per_chunk = tf.transpose(tf.reshape(padded, tf.stack([shape[0], chunks, batch, shape[2]])),
                           [1, 0, 2, 3])  # [chunks, B, batch, d]
  fields = tf.map_fn(decode_chunk, per_chunk, fn_output_signature=tf.float32,
                     parallel_iterations=1)
  fields = tf.transpose(fields, [1, 0, 2, 3, 4, 5])  # [B, chunks, batch, F, F, 2]
  f = tf.shape(fields)[3]
  return tf.reshape(fields, tf.stack([shape[0], chunks * batch, f, f, 2]))[:, :k]


def decode_keras(decoder, z, field_lightness, latent_dim):
  """:func:`decode_each` through a Keras decoder of ``models.vae`` (ours, the CVAE's): a "+skip"
  decoder's grey maps computed once per photo (``vae.grey_maps``) and shared by every chunk of
  its codes."""
  maps = vae.grey_maps(decoder, field_lightness)
  return decode_each(lambda codes, _: vae.decode_each(decoder, codes, maps=maps), z,
                     field_lightness, latent_dim, per_photo=True)


def _decode_all(decode, z, field_lightness, latent_dim):
  """:func:`decode_each` in one call of ``decode`` on all B * K codes."""
  shape = tf.shape(z)
  b, k = shape[0], shape[1]
  f = tf.shape(field_lightness)[1]
  flat_l = tf.reshape(tf.broadcast_to(field_lightness[:, None], tf.stack([b, k, f, f, 1])),
                      tf.stack([-1, f, f, 1]))
  fields = decode(tf.reshape(z, [-1, latent_dim]), flat_l)
  return tf.reshape(tf.cast(fields, tf.float32), tf.stack([b, k, f, f, 2]))


class LazyColorizations:
  """The K full-resolution colorizations of one photo, each joined with the photo's L when it is
  indexed and not kept (``colorize(..., lazy=True)``): a caller that writes them one at a time
  (divcolor-colorize) holds one colorization of a 50-megapixel photo in memory, not K.

  Indexing and iterating give uint8 sRGB [H, W, 3], as ``Colorization.colorizations[i]``;
  ``np.asarray`` of it makes all K (the eager array).
  """

  def __init__(self, join, lightness, ab):
    """Args:
      join: (L [1, H, W, 1], ab [1, 1, F, F, 2]) -> uint8 [1, 1, H, W, 3] (traced once).
      lightness: the photo's L [1, H, W, 1].
      ab: the colour fields [1, K, F, F, 2].
    """
    self._join, self._lightness, self._ab = join, lightness, ab
    self.shape = (int(ab.shape[1]),) + tuple(int(v) for v in lightness.shape[1:3]) + (3,)
    self.dtype = np.dtype(np.uint8)

  def __len__(self):
    return self.shape[0]

  def __getitem__(self, i):
    if not -len(self) <= i < len(self):
      raise IndexError(f"colorization {i} of {len(self)}")
    i %= len(self)
    # .numpy() first: slicing the eager tensor would copy the whole colorization once more.
    return self._join(self._lightness, self._ab[:, i:i + 1]).numpy()[0, 0]

  def __iter__(self):
    return (self[i] for i in range(len(self)))

  def __array__(self, dtype=None, copy=None):
    del copy
    return np.stack(list(self)).astype(dtype or self.dtype, copy=False)


class Sampling(abc.ABC):
  """What every colorizer offers (a workdir's :class:`Colorizer`, an export's
  ``saved_model.SavedModelColorizer``, the baselines' colorizers): ``colorize`` and ``sample``,
  and Table 3's inputs (``table3_names``, ``evaluation_fields``), which evaluation asks for
  through this contract alone. A subclass that leaves one out cannot be made (abc)."""

  @property
  def grey_detail(self):
    """``data.grey_detail`` of this model's config (0 when it has none)."""
    return int(config_lib.lookup(self.config or {}, "data.grey_detail", 0) or 0)

  def grey_input(self, lightness):
    """L [B, H, W, 1] -> the grey network's input (:func:`fullres.grey_input`)."""
    return fullres.grey_input(lightness, self.grey_size, self.antialias, self.grey_detail)

  @abc.abstractmethod
  def colorize(self, images, k=None, samples=None, seed=None, lazy=False):
    """K colorizations of each photo, at its own size (:meth:`Pipeline.colorize`)."""

  def sample(self, images, n, seed=None):
    """``n`` colorizations of each photo from ``n`` draws z ~ the mixture (reproducible with
    ``seed``; the same seed gives the same draws from a workdir and from its export)."""
    return self.colorize(images, samples=n, seed=seed)

  @property
  @abc.abstractmethod
  def model_dir(self):
    """Where the model's files are (its workdir, or its export's version directory), or None for
    a colorizer over in-memory models."""

  @abc.abstractmethod
  def table3_names(self, k):
    """Table 3's row names of this model: {"model", "oracle", "reconstruction", "top"}."""

  @abc.abstractmethod
  def evaluation_fields(self, grey, lightness, colour_field, k):
    """Table 3's inputs for a batch (grey L at the grey size, L and the true colour field at the
    field size): {"top_k" [B, k, F, F, 2], "all" [B, N, F, F, 2] (the oracle row's pool), and
    "reconstruction" [B, 1, F, F, 2] when ``can_encode``}."""


def traced_once(owner, key, make):
  """The tf.function ``make()`` gives, made once per ``owner`` and ``key``."""
  traced = owner.__dict__.setdefault("_traced", {})
  if key not in traced:
    traced[key] = make()
  return traced[key]


class MixtureEvaluation:
  """Table 3's inputs of a model with a mixture over codes (ours): the top-k means by weight,
  all M means (the oracle's pool) and the VAE's reconstruction of the true field. Needs
  ``mixture``, ``decode``, ``encode``, ``can_encode``, ``skip`` and ``num_components``."""

  def table3_names(self, k):
    top = f"top-{k} means"
    return {"model": f"{'Ours+skip' if self.skip else 'Ours'} (this model, {top})",
            "oracle": f"oracle: best of all {self.num_components} means",
            "reconstruction": ("VAE reconstruction (decoder fed the encoder's mean of the true "
                               "field)"),
            "top": top}

  def evaluation_fields(self, grey, lightness, colour_field, k):
    return traced_once(self, ("evaluation", k), lambda: tf.function(
        lambda g, l, c: self._mixture_fields(g, l, c, k)))(grey, lightness, colour_field)

  def _mixture_fields(self, grey, lightness, colour_field, k):
    means, logits = self.mixture(grey)
    every = self.decode(means, lightness)  # [B, M, F, F, 2], component order
    order = tf.math.top_k(logits, k, sorted=True).indices
    out = {"top_k": tf.gather(every, order, batch_dims=1), "all": every}
    if self.can_encode:
      out["reconstruction"] = self.decode(self.encode(colour_field)[:, None], lightness)
    return out


_WHAT_COLORIZE_TAKES = ("a photo (RGB [H, W, 3] or grey [H, W], an array, a PIL image or a file's "
                        "path), a batch [B, H, W, 3] or a list of photos")


def _as_photo(image, max_megapixels=None):
  """A photo as colorize() reads it: a path (str, os.PathLike) read as the tools read a file
  (``data.load_rgb``: its header held to the budget before decoding; one line naming it if it
  cannot be read), a PIL image as its RGB or grey array; anything else as it is."""
  if isinstance(image, (str, os.PathLike)):
    return data.load_rgb(image, max_megapixels=max_megapixels)
  if hasattr(image, "mode") and hasattr(image, "convert"):  # a PIL image: palette, alpha, CMYK
    return np.asarray(image if image.mode in ("RGB", "L") else image.convert("RGB"))
  return image


def colorize_arguments(colorizer, images, k, samples, seed):
  """Checks colorize()'s arguments: (single, batch list, k or None, samples or None, seed).

  Raises:
    ValueError: one line, for what is not a photo, a batch or a list of photos (a scalar, a
      vector), or a bad k / samples.
  """
  budget = getattr(colorizer, "max_megapixels", None)
  images = _as_photo(images, budget)
  if isinstance(images, np.ndarray) and images.ndim not in (2, 3, 4):
    raise ValueError(f"colorize: expected {_WHAT_COLORIZE_TAKES}, got an array of shape "
                     f"{images.shape}")
  single = isinstance(images, np.ndarray) and images.ndim in (2, 3) or (
      tf.is_tensor(images) and images.shape.rank in (2, 3))
  try:
    batch = [images] if single else [_as_photo(image, budget) for image in images]
  except TypeError:  # not iterable: an int, None, ...
    raise ValueError(f"colorize: expected {_WHAT_COLORIZE_TAKES}, got "
                     f"{type(images).__name__}") from None
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


class Pipeline(Sampling):
  """What every colorizer over in-memory Keras models shares (ours, and the paper's baselines in
  :mod:`.clustered`): the photo's lightness, its squashes to the models' sizes, the traced
  pipeline (one trace per k or n, input dtype and join), ``colorize_tensor`` (what the export
  traces) and ``colorize``.

  A subclass sets ``grey_size``, ``field_size``, ``num_components``, ``latent_dim`` and ``skip``
  (the ``decode`` signature takes L too), and defines ``colour_fields(grey, field_lightness, k,
  samples, seed)`` and Table 3's inputs (:class:`Sampling`); abc refuses a class without them.
  """

  def __init__(self, config, *, gamut="chroma", antialias=True, max_megapixels=None):
    if gamut not in ("chroma", "clip"):
      raise ValueError(f"gamut must be 'chroma' or 'clip', got {gamut!r}")
    self.config = config
    self.workdir = None  # set by load(): where the model's files (stats, baselines) are
    self.gamut, self.antialias = gamut, bool(antialias)
    self.max_megapixels = fullres.megapixel_budget(max_megapixels)
    self.k = int(config_lib.lookup(config, "colorize.k", config_lib.DEFAULT_K))
    self.dataset = str(config_lib.lookup(config, "dataset", "") or "")
    self._functions = {}  # ("top_k", k) / ("samples", n) -> a tf.function traced once
    self._join = fullres.traced_join(self.gamut)  # lazy colorizations, one at a time

  method = methods.DEFAULT.name  # the registry's name of the method (divcolor_tf.methods)
  encoder = None

  @property
  def can_encode(self):
    return self.encoder is not None

  @property
  def model_dir(self):
    return self.workdir

  def with_settings(self, **settings):
    """This colorizer over the same Keras models with other ``gamut`` / ``antialias`` /
    ``max_megapixels`` (itself when they are already these)."""
    if all(getattr(self, key) == value for key, value in settings.items()):
      return self
    other = self._copy()
    for key, value in settings.items():
      if key not in ("gamut", "antialias", "max_megapixels"):
        raise TypeError(f"with_settings: unknown setting {key!r}")
      setattr(other, key, value)
    if other.gamut not in ("chroma", "clip"):
      raise ValueError(f"gamut must be 'chroma' or 'clip', got {other.gamut!r}")
    other.max_megapixels = fullres.megapixel_budget(other.max_megapixels)
    other._join = fullres.traced_join(other.gamut)  # pylint: disable=protected-access
    return other

  def without_encoder(self):
    """This colorizer over the same Keras models without its VAE encoder (no ``encode``
    signature, so an export of it holds none of the encoder's weights); itself when it has none."""
    if self.encoder is None:
      return self
    other = self._copy()
    other.encoder = None
    return other

  def _copy(self):
    """A shallow copy sharing the Keras models, with its own traced functions (traced anew)."""
    other = copy.copy(self)
    other._functions = {}  # pylint: disable=protected-access
    other.__dict__.pop("_traced", None)
    return other

  @abc.abstractmethod
  def colour_fields(self, grey, field_lightness, k=None, samples=None, seed=(0, 0)):
    """The 64x64 level of the pipeline: {ab [B, K, F, F, 2], weights, z, components}."""

  # The numeric core: TF ops only.

  def lightness(self, rgb):
    """sRGB [B, H, W, 3] (float in [0, 1], or uint8) -> L [B, H, W, 1]: all that is kept of the
    input (:func:`photo_lightness`)."""
    return fullres.photo_lightness(rgb)

  def squash(self, lightness, size):
    """L [B, H, W, 1] shrunk (or grown) to size x size, as the training pipeline did
    (:func:`squash` with this colorizer's ``antialias``)."""
    return fullres.squash(lightness, size, self.antialias)

  def _colorize(self, rgb, k, samples, seed, join=True, fused=True):
    lightness = self.lightness(rgb)
    out = self.colour_fields(self.grey_input(lightness),
                             self.squash(lightness, self.field_size), k, samples, seed)
    if join:
      out["rgb"] = fullres.join_lightness(lightness, out["ab"], self.gamut, fused=fused)
    else:  # lazy: joined one colorization at a time (LazyColorizations)
      out["lightness"] = lightness
    return out

  def _function(self, mode, count, dtype=tf.float32, join=True):
    """The traced pipeline for one k (top-k) or n (samples), input dtype (float32 or uint8) and
    join (all K full-resolution colorizations, or L for a lazy join): any photo size, one trace."""
    key = (mode, count, dtype, join)
    if key not in self._functions:
      rgb_spec = tf.TensorSpec([None, None, None, 3], dtype)
      if mode == "top_k":
        fn = tf.function(lambda rgb: self._colorize(rgb, count, None, (0, 0), join),
                         input_signature=[rgb_spec])
      else:
        fn = tf.function(lambda rgb, seed: self._colorize(rgb, None, count, seed, join),
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
    out = self._colorize(rgb, self.k if k is None else k, None, (0, 0), fused=False)  # no XLA
    return out["rgb"], out["ab"], out["weights"]

  # The Python wrapper.

  def colorize(self, images, k=None, samples=None, seed=None, lazy=False):
    """K colorizations of each photo, at its own size.

    Args:
      images: one photo or a list of photos (or a [B, H, W, 3] array), each uint8 or float
        ([0, 1]) RGB [H, W, 3], or grey [H, W] / [H, W, 1]; any size and aspect.
      k: the top-k means by mixture weight, descending (default: config colorize.k, paper 5).
      samples: instead of top-k, this many draws from the mixture.
      seed: int seed of the draws (photo i of a list uses the stateless seed (seed, i));
        None: a fresh random seed. Ignored for top-k, which is deterministic.
      lazy: ``colorizations`` is a :class:`LazyColorizations`: each joined at full resolution
        when indexed (memory for one, not K; the same images).

    Returns:
      A :class:`Colorization` for one photo, a list of them for a list.

    Raises:
      ValueError: one line, for a bad k / samples, an image that is not RGB or grey, or one
        over the pixel budget (``max_megapixels``).
    """
    single, batch, k, samples, seed = colorize_arguments(self, images, k, samples, seed)
    results = []
    for i, image in enumerate(batch):
      rgb = fullres.checked_rgb(image, f"image {i}", self.max_megapixels)[None]
      dtype = tf.as_dtype(rgb.dtype)
      join = not lazy
      if samples is None:
        out = self._function("top_k", k, dtype, join)(rgb)
      else:
        out = self._function("samples", samples, dtype, join)(rgb, photo_seed(seed, i))
      results.append(Colorization(
          colorizations=(out["rgb"][0].numpy() if join else
                         LazyColorizations(self._join, out["lightness"], out["ab"])),
          ab=out["ab"][0].numpy(), weights=out["weights"][0].numpy(), z=out["z"][0].numpy(),
          components=out["components"][0].numpy().astype(np.int64)))
    return results[0] if single else results
