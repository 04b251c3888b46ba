"""What every colorizer gives, whatever it reads (a workdir, an export): the result type
(:class:`Colorization`), the sampler base (:class:`Sampling`), the argument check of ``colorize``,
the per-photo seed and the decode of each photo's codes. :mod:`.colorizer` and :mod:`.saved_model`
both build on it.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf


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
    return self._join(self._lightness, self._ab[:, i:i + 1])[0, 0].numpy()

  def __iter__(self):
    return (self[i] for i in range(len(self)))

  def __array__(self, dtype=None, copy=None):
    del copy
    return np.stack(list(self)).astype(dtype or self.dtype, copy=False)


class Sampling:
  """What every colorizer (a workdir's :class:`Colorizer`, an export's
  ``saved_model.SavedModelColorizer``) offers beside ``colorize``."""

  def sample(self, images, n, seed=None):
    """``n`` colorizations of each photo from ``n`` draws z ~ the mixture (reproducible with
    ``seed``; the same seed gives the same draws from a workdir and from its export)."""
    return self.colorize(images, samples=n, seed=seed)


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
