"""Reading an exported model: :class:`SavedModelColorizer`, a client of ``divcolor_tf.export``.

It gives what :class:`colorizer.Colorizer` gives for a training workdir (``colorize``, ``mixture``,
``decode``, ``encode``), through the SavedModel's signatures, reusing the pipeline's own pieces:
the same photo handling, the same sampler (``mdn.sample_mixture``: the same seed draws the
same z from a workdir and from its export) and the same join with the photo's own lightness.
:func:`colorizer.load` picks this class for a SavedModel directory.
"""

import os

import numpy as np
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import exported
from divcolor_tf import methods
from divcolor_tf.inference import contract
from divcolor_tf.inference import fullres
from divcolor_tf.io import atomic
from divcolor_tf.io import photos
from divcolor_tf.models import mdn as mdn_lib


class SavedModelColorizer(contract.MixtureEvaluation, contract.Sampling):
  """:meth:`Colorizer.colorize` over an exported SavedModel's signatures (``divcolor_tf.export``).

  The mixture comes from the ``grey_mixture`` signature (older exports: ``mixture``); top-k takes
  its k means of highest weight, samples draw z with ``mdn.sample_mixture`` (sigma^2 from the
  exported config); the ``decode`` signature decodes them, and the colour fields are joined with
  the photo's own L by :func:`fullres.join_lightness` in this process, as in the in-memory
  pipeline (and as ``serving_default`` does). So only the k colorizations asked for are made at
  full resolution, not all M, and an export made before the strip-wise join is as fast.
  """

  def __init__(self, path, gamut=None, max_megapixels=None, trust=False):
    """Args:
      path: the SavedModel's version directory.
      gamut: "chroma" or "clip" (None: the export's, from assets.extra/export.json).
      max_megapixels: the pixel budget (``Colorizer``'s; None: ``fullres.MAX_MEGAPIXELS``).
      trust: load a graph holding ops outside the allow-list (``exported.check``: loading a
        SavedModel runs its graph, a program; export.json is required either way).

    Raises:
      FileNotFoundError / ValueError: one line (``exported.check``), before anything is run.
    """
    self.path = path
    exported.check(path, trust)
    try:
      self.module = tf.saved_model.load(path)
      signatures = self.module.signatures
      self._serve = signatures["serving_default"]
      self._mixture = signatures["mixture"]
      self._decode = signatures["decode"]
      self._decode_each = signatures.get("decode_each")  # newer exports (2026-12)
    except (OSError, KeyError, ValueError, tf.errors.OpError) as e:
      problem = atomic.brief(e, 200)
      raise ValueError(f"{path}: not a divcolor SavedModel ({type(e).__name__}: {problem})") \
          from None
    self.max_megapixels = fullres.megapixel_budget(max_megapixels)
    metadata = atomic.read_json(os.path.join(path, methods.EXPORT_JSON))  # exported.check'ed
    self.gamut = gamut or metadata.get("gamut", "chroma")
    self.antialias = bool(metadata.get("antialias", True))
    means = self._mixture.structured_outputs["means"].shape
    self.num_components, self.latent_dim = int(means[1]), int(means[2])
    self.config = {}
    for name in (os.path.join("assets.extra", "config.json"), "config.json"):
      if os.path.isfile(os.path.join(path, name)):
        self.config = config_lib.load_resolved(path, name)
        break
    self.variance = float(config_lib.lookup(self.config, "mdn.variance", 0.1))
    self.k = int(config_lib.lookup(self.config, "colorize.k", config_lib.DEFAULT_K))
    decode_inputs = self._decode.structured_input_signature[1]
    self.skip = "lightness" in decode_inputs  # "+skip": decode also reads the 64x64 L
    self.field_size = int(self._serve.structured_outputs["ab"].shape[2])
    # Exports from divcolor_tf 0.2 on also carry the grey-level mixture and the encoder (evaluation).
    self._grey_mixture = signatures.get("grey_mixture")
    self._encode = signatures.get("encode")
    self.grey_size = (int(self._grey_mixture.structured_input_signature[1]["grey"].shape[1])
                      if self._grey_mixture is not None else None)
    # The full-resolution steps, traced once for any photo size (as in the export's signatures).
    self._prepare = tf.function(self._lightness_and_squashes, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8)])
    self._join = fullres.traced_join(self.gamut)

  def _lightness_and_squashes(self, rgb8):
    """uint8 [B, H, W, 3] -> (L [B, H, W, 1], L at the colour field's size, at the grey size)."""
    lightness = fullres.photo_lightness(rgb8)
    field = fullres.squash(lightness, self.field_size, self.antialias)
    if self.grey_size is None:  # an export without grey_mixture: the mixture signature squashes
      return lightness, field, field
    return lightness, field, self.grey_input(lightness)

  def mixture(self, grey):
    """As :meth:`Colorizer.mixture`: grey L [B, S, S, 1] -> (means [B, M, d], log-weights
    [B, M]; log pi ranks and samples exactly as the logits do)."""
    if self._grey_mixture is None:
      raise ValueError(f"{self.path}: exported without the grey_mixture signature; export the "
                       "model again (divcolor-export) to evaluate it")
    out = self._grey_mixture(grey=tf.cast(grey, tf.float32))
    return out["means"], tf.math.log(tf.maximum(out["weights"], 1e-30))

  def decode(self, z, field_lightness):
    """As :meth:`Colorizer.decode`: z [B, K, d] -> colour fields [B, K, F, F, 2]; through
    ``decode_each`` (a "+skip" decoder's grey path once per photo) when the export has it."""
    if self._decode_each is not None:
      if self.skip:
        each = lambda z, l: self._decode_each(z=z, lightness=l)["ab"]
      else:
        each = lambda z, _: self._decode_each(z=z)["ab"]
      return contract.decode_each(each, z, field_lightness, self.latent_dim, per_photo=True)
    if self.skip:
      decode = lambda flat_z, flat_l: self._decode(z=flat_z, lightness=flat_l)["ab"]
    else:
      decode = lambda flat_z, _: self._decode(z=flat_z)["ab"]
    return contract.decode_each(decode, z, field_lightness, self.latent_dim)

  @property
  def can_encode(self):
    return self._encode is not None

  @property
  def model_dir(self):
    return self.path

  def encode(self, colour_field):
    """As :meth:`Colorizer.encode` (exports that carry the ``encode`` signature)."""
    if self._encode is None:
      raise ValueError(f"{self.path}: exported without the encode signature")
    return self._encode(colour_field=tf.cast(colour_field, tf.float32))["mean"]

  def colorize(self, images, k=None, samples=None, seed=None, lazy=False):
    """As :meth:`Colorizer.colorize` (same arguments, same results)."""
    single, batch, k, samples, seed = contract.colorize_arguments(self, images, k, samples, seed)
    results = []
    for i, image in enumerate(batch):
      rgb8 = fullres.checked_rgb(image, f"image {i}", self.max_megapixels)
      if rgb8.dtype != np.uint8:  # the signatures take uint8
        rgb8 = photos.to_uint8(rgb8)
      rgb8 = tf.constant(rgb8[None])
      lightness, field_l, grey = self._prepare(rgb8)
      if self._grey_mixture is not None:
        mixture = self._grey_mixture(grey=grey)
      else:
        mixture = self._mixture(image=rgb8)
      means, weights = mixture["means"], mixture["weights"]
      if samples is None:
        order = np.argsort(-weights.numpy()[0], kind="stable")[:k]
        z = tf.gather(means, order, axis=1)
        weights, components = tf.gather(weights, order, axis=1), order[None].astype(np.int64)
      else:
        z, weights, components = mdn_lib.sample_mixture(
            means, tf.math.log(tf.maximum(weights, 1e-30)), int(samples),
            contract.photo_seed(seed, i), self.variance)
      ab = self.decode(z, field_l)
      results.append(contract.Colorization(
          colorizations=(contract.LazyColorizations(self._join, lightness, ab) if lazy
                         else self._join(lightness, ab)[0].numpy()), ab=ab[0].numpy(),
          weights=weights[0].numpy(), z=z[0].numpy(),
          components=np.asarray(components[0]).astype(np.int64)))
    return results[0] if single else results
