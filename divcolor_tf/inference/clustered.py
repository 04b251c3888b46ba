"""The paper's baselines at test time (Section 5, Figure 7): many draws, clustered into a few.

Neither baseline has a mixture to rank: the CVAE draws codes z ~ N(0, I) and decodes each with the
photo's lightness, the cGAN draws dropout masks. The paper takes 256 draws per photo and clusters
the 256 decoded 64x64 colour fields by k-means into 5 centres, the 5 colorizations. Here each
centre is the mean of its cluster's fields and its weight the cluster's share of the draws, so
"top-k by weight" means the same for every method (REFERENCE.md: neither the paper nor the
authors' code says how the 5 are ordered); ``samples`` gives the raw draws instead, each with
weight 1 / n.

:func:`kmeans` is TensorFlow ops only, so the clustering is traced into the export's
``serving_default`` as the rest of the pipeline is. It is deterministic for given draws: the
first centre is the draw nearest the draws' mean, each next one the draw farthest from the centres
chosen so far (maximin), then ``KMEANS_ITERATIONS`` Lloyd steps (a cluster that empties keeps its
centre); ties go to the lower index. The draws are a stateless function of a seed: (0, 0) for
top-k (so top-k is deterministic, as ours is), the user's ``--seed`` for ``samples``.

Colorizers (each a :class:`contract.Pipeline`, so ``colorize``, ``sample``, ``colorize_tensor``
and the export are ours):

* :class:`CVAEColorizer`: a ``divcolor-train-cvae`` workdir (cvae_encoder.keras,
  cvae_decoder.keras);
* :class:`CGANColorizer`: a ``divcolor-train-cgan`` workdir (generator.keras);
* :class:`PriorColorizer`: what the authors' code ran as its "CVAE" row (REFERENCE.md): OUR
  "+skip" VAE decoder fed z ~ N(0, I), no MDN; ``load("prior:" + a +skip model)``.
"""

import os

from absl import logging
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import exported
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.inference import contract
from divcolor_tf.methods import cgan as cgan_method
from divcolor_tf.methods import cvae as cvae_method
from divcolor_tf.methods import prior as prior_method
from divcolor_tf.models import unet
from divcolor_tf.models import vae

KMEANS_ITERATIONS = 10


def _squared_distances(points, centres):
  """[B, N, D] x [B, k, D] -> [B, N, k] squared Euclidean distances."""
  return (tf.reduce_sum(tf.square(points), -1)[..., None]
          - 2.0 * tf.einsum("bnd,bkd->bnk", points, centres)
          + tf.reduce_sum(tf.square(centres), -1)[:, None, :])


def kmeans(points, k, iterations=KMEANS_ITERATIONS):
  """k-means of each row's points (module docstring: maximin start, then Lloyd steps).

  Args:
    points: float32 [B, N, D] (N >= 1; k > N leaves the extra clusters empty).
    k: clusters (a Python int).

  Returns:
    (centres [B, k, D], shares [B, k], assignment [B, N] int32), the clusters ordered by share,
    descending (ties: the cluster found first).
  """
  points = tf.convert_to_tensor(points, tf.float32)
  n = tf.cast(tf.shape(points)[1], tf.float32)
  mean = tf.reduce_mean(points, axis=1, keepdims=True)
  first = tf.argmin(_squared_distances(points, mean)[..., 0], axis=1, output_type=tf.int32)
  centres = tf.gather(points, first[:, None], batch_dims=1)  # [B, 1, D]
  for _ in range(1, k):
    nearest = tf.reduce_min(_squared_distances(points, centres), axis=2)  # [B, N]
    far = tf.argmax(nearest, axis=1, output_type=tf.int32)
    centres = tf.concat([centres, tf.gather(points, far[:, None], batch_dims=1)], axis=1)
  for _ in range(iterations):
    assignment = tf.argmin(_squared_distances(points, centres), axis=2, output_type=tf.int32)
    members = tf.one_hot(assignment, k, dtype=tf.float32)  # [B, N, k]
    counts = tf.reduce_sum(members, axis=1)  # [B, k]
    sums = tf.einsum("bnk,bnd->bkd", members, points)
    centres = tf.where(counts[..., None] > 0, sums / tf.maximum(counts, 1.0)[..., None], centres)
  assignment = tf.argmin(_squared_distances(points, centres), axis=2, output_type=tf.int32)
  counts = tf.reduce_sum(tf.one_hot(assignment, k, dtype=tf.float32), axis=1)
  order = tf.argsort(-counts, axis=1, stable=True)  # by share, descending; ties: lower index
  rank = tf.argsort(order, axis=1, stable=True)  # cluster -> its place in that order
  centres = tf.gather(centres, order, batch_dims=1)
  shares = tf.gather(counts, order, batch_dims=1) / n
  return centres, shares, tf.gather(rank, assignment, batch_dims=1)


class ClusteredColorizer(contract.Pipeline):
  """The clustered test time of a baseline over its Keras models; subclasses define ``draw``."""

  section = ""  # the config section with samples and clusters: its method's (methods.Method)

  def __init__(self, config, *, field_size, latent_dim, **settings):
    super().__init__(config, **settings)
    self.samples = int(config_lib.lookup(config, f"{self.section}.samples", 256))
    self.num_components = int(config_lib.lookup(config, f"{self.section}.clusters",
                                                config_lib.DEFAULT_K))
    if self.samples < 1 or self.num_components < 1:
      raise ValueError(f"{self.section}.samples and {self.section}.clusters must be >= 1, got "
                       f"{self.samples}, {self.num_components}")
    self.k = min(self.k, self.num_components)
    self.field_size = self.grey_size = int(field_size)  # both read the 64x64 lightness only
    self.latent_dim = int(latent_dim)
    self.skip = True  # the decode signature, where there is one, takes L too

  def draw(self, field_lightness, n, seed):
    """n draws per photo: (colour fields [B, n, F, F, 2], codes [B, n, d]; d = 0 for the cGAN)."""
    raise NotImplementedError

  def colour_fields(self, grey, field_lightness, k=None, samples=None, seed=(0, 0)):
    """As :meth:`Colorizer.colour_fields`: the top-k clusters of ``self.samples`` draws from the
    seed (0, 0), or ``samples`` raw draws from ``seed``. ``z`` is each cluster's mean code (the
    draws' codes for ``samples``); ``components`` the cluster's rank (the draw's index)."""
    del grey  # the same 64x64 lightness as field_lightness
    if samples:
      fields, codes = self.draw(field_lightness, samples, seed)
      b = tf.shape(fields)[0]
      weights = tf.fill(tf.stack([b, samples]), 1.0 / samples)
      components = tf.broadcast_to(tf.range(samples, dtype=tf.int64)[None], tf.stack([b, samples]))
      return {"ab": fields, "weights": weights, "z": codes, "components": components}
    k = self.k if k is None else k
    fields, codes = self.draw(field_lightness, self.samples, tf.constant([0, 0], tf.int32))
    out = self.cluster(fields, codes)
    return {"ab": out["ab"][:, :k], "weights": out["weights"][:, :k], "z": out["z"][:, :k],
            "components": out["components"][:, :k]}

  def cluster(self, fields, codes):
    """k-means of draws [B, N, F, F, 2] into ``num_components`` weighted colorizations."""
    shape = tf.shape(fields)
    flat = tf.reshape(fields, tf.stack([shape[0], shape[1], -1]))
    centres, shares, assignment = kmeans(flat, self.num_components)
    members = tf.one_hot(assignment, self.num_components, dtype=tf.float32)
    counts = tf.maximum(tf.reduce_sum(members, axis=1), 1.0)
    z = tf.einsum("bnk,bnd->bkd", members, codes) / counts[..., None]
    f = self.field_size
    components = tf.broadcast_to(tf.range(self.num_components, dtype=tf.int64)[None],
                                 tf.shape(shares))
    return {"ab": tf.reshape(centres, tf.stack([shape[0], self.num_components, f, f, 2])),
            "weights": shares, "z": z, "components": components}

  def evaluation_fields(self, grey, lightness, colour_field, k):
    """Table 3's inputs (``contract.Sampling``), one photo at a time: the top-k clusters, every
    draw (the oracle row's pool) and, with an encoder, the reconstruction from the true field."""
    del grey  # a baseline reads the 64x64 lightness
    one_photo = contract.traced_once(self, ("evaluation", k), lambda: tf.function(
        lambda l, c: self._photo_fields(l, c, k)))
    outs = [one_photo(lightness[i:i + 1], colour_field[i:i + 1])
            for i in range(int(lightness.shape[0]))]
    return {key: tf.concat([out[key] for out in outs], 0) for key in outs[0]}

  def _photo_fields(self, lightness, colour_field, k):
    fields, codes = self.draw(lightness, self.samples, tf.constant([0, 0], tf.int32))
    out = {"top_k": self.cluster(fields, codes)["ab"][:, :k], "all": fields}
    if self.can_encode:
      out["reconstruction"] = self.reconstruct(lightness, colour_field)[:, None]
    return out

  def table3_names(self, k):
    return {"model": f"{self.label} (this model, top-{k} of {self.samples} draws clustered)",
            "oracle": f"oracle: best of all {self.samples} draws",
            "reconstruction": (f"{self.label} reconstruction (decoder fed the encoder's mean of "
                               "the true field)"),
            "top": f"top-{k} clusters"}


class CVAEColorizer(ClusteredColorizer):
  """The CVAE baseline: z ~ N(0, I) decoded with the photo's L by f(z, G)."""

  method, label, section = (cvae_method.METHOD.name, cvae_method.METHOD.label,
                            cvae_method.METHOD.section)

  def __init__(self, decoder, config, *, encoder=None, **settings):
    super().__init__(config, field_size=int(decoder.output.shape[1]),
                     latent_dim=vae.latent_size(decoder), **settings)
    self.decoder, self.encoder = decoder, encoder

  @classmethod
  def load(cls, path, **settings):
    """From a divcolor-train-cvae workdir or an export of one."""
    workdir = _workdir(path, cvae_method.METHOD)
    encoder = None
    if os.path.isfile(workdir_lib.path(workdir, workdir_lib.CVAE_ENCODER)):
      encoder = workdir_lib.load_keras(workdir, workdir_lib.CVAE_ENCODER)
    colorizer = cls(workdir_lib.load_keras(workdir, workdir_lib.CVAE_DECODER),
                    workdir_lib.load_config(workdir), encoder=encoder, **settings)
    return _loaded(colorizer, path, workdir)

  def decode(self, z, field_lightness):
    """z [B, K, d] -> colour fields [B, K, F, F, 2] with each photo's L."""
    return contract.decode_keras(self.decoder, z, field_lightness, self.latent_dim)

  def draw(self, field_lightness, n, seed):
    b = tf.shape(field_lightness)[0]
    z = tf.random.stateless_normal(tf.stack([b, n, self.latent_dim]), seed=seed)
    return self.decode(z, field_lightness), z

  def reconstruct(self, lightness, colour_field):
    mean, _ = self.encoder({"colour_field": colour_field, "lightness": lightness}, training=False)
    return vae.decode(self.decoder, tf.cast(mean, tf.float32), lightness)


class PriorColorizer(CVAEColorizer):
  """The authors' code's "CVAE" row (REFERENCE.md): our trained "+skip" VAE decoder fed 256
  codes z ~ N(0, I) per photo, clustered into 5; no MDN. Its config is the model's own, with the
  CVAE's samples and clusters."""

  method, label = prior_method.METHOD.name, prior_method.METHOD.label

  @classmethod
  def load(cls, path, **settings):
    """From one of our "+skip" models (a workdir or an export)."""
    workdir = _workdir(path, prior_method.METHOD)
    decoder = workdir_lib.load_keras(workdir, workdir_lib.served(workdir, workdir_lib.DECODER))
    if not vae.is_skip(decoder):
      raise ValueError(f"{path}: a prior-sampled CVAE row needs a \"+skip\" decoder (one that "
                       "reads the photo's lightness); this model's decoder reads z alone")
    colorizer = cls(decoder, workdir_lib.load_config(workdir), **settings)
    return _loaded(colorizer, path, workdir)

  @property
  def can_encode(self):
    return False


class CGANColorizer(ClusteredColorizer):
  """The cGAN baseline: the U-Net G(L) with dropout on, one mask set per draw."""

  method, label, section = (cgan_method.METHOD.name, cgan_method.METHOD.label,
                            cgan_method.METHOD.section)

  def __init__(self, generator, config, **settings):
    super().__init__(config, field_size=int(generator.output.shape[1]), latent_dim=0,
                     **settings)
    self.generator = generator

  @classmethod
  def load(cls, path, **settings):
    """From a divcolor-train-cgan workdir or an export of one."""
    workdir = _workdir(path, cgan_method.METHOD)
    colorizer = cls(workdir_lib.load_keras(workdir, workdir_lib.GENERATOR),
                    workdir_lib.load_config(workdir), **settings)
    return _loaded(colorizer, path, workdir)

  def draw(self, field_lightness, n, seed):
    """n masks per photo, in one batch of B * n rows when n is at most ``max(samples,
    DECODE_BATCH)`` (top-k's draws, unchanged); beyond it (``--samples 5000``) in chunks of that
    many, one after the other, chunk i's masks from ``fold_in(seed, i)``: the memory of top-k's
    batch whatever n is (issue 47 rows 10 and 21; all 5000 at once took 6.5 GB)."""
    chunk = max(int(self.samples), contract.DECODE_BATCH)
    shape = tf.shape(field_lightness)
    b, f = shape[0], shape[1]
    codes = tf.zeros(tf.stack([b, n, 0]), tf.float32)
    if n <= chunk:
      return self._masked(field_lightness, n, seed), codes
    chunks = -(-n // chunk)
    seed = tf.cast(seed, tf.int32)
    per_chunk = tf.map_fn(
        lambda i: self._masked(field_lightness, chunk,
                               tf.random.experimental.stateless_fold_in(seed, i)),
        tf.range(chunks), fn_output_signature=tf.float32, parallel_iterations=1)
    fields = tf.transpose(per_chunk, [1, 0, 2, 3, 4, 5])  # [B, chunks, chunk, F, F, 2]
    return tf.reshape(fields, tf.stack([b, chunks * chunk, f, f, 2]))[:, :n], codes

  def _masked(self, field_lightness, n, seed):
    """G(L) under n dropout masks per photo, all B * n rows in one batch: [B, n, F, F, 2]."""
    shape = tf.shape(field_lightness)
    b, f = shape[0], shape[1]
    repeated = tf.reshape(tf.broadcast_to(field_lightness[:, None], tf.stack([b, n, f, f, 1])),
                          tf.stack([-1, f, f, 1]))
    fields = unet.generate(self.generator, repeated, seed)  # one mask per row of the B * n
    return tf.reshape(fields, tf.stack([b, n, f, f, 2]))


def _workdir(path, method):
  """The workdir of ``path`` (an export unpacked: ``exported.workdir_for``), with the files
  ``method`` needs to colorize (one line naming the first missing and its command)."""
  workdir = exported.workdir_for(os.fspath(path))
  workdir_lib.require(workdir, *method.files)
  return workdir


def _loaded(colorizer, path, workdir):
  colorizer.workdir = workdir
  logging.info("loaded %s: %s, %d draws clustered into %d", path, colorizer.label,
               colorizer.samples, colorizer.num_components)
  return colorizer
