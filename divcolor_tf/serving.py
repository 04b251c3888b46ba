"""Reading an exported model: :class:`SavedModelColorizer`, a client of ``divcolor_tf.export``.

It gives what :class:`colorize.Colorizer` gives for a training workdir (``colorize``, ``mixture``,
``decode``, ``encode``), through the SavedModel's signatures, reusing the pipeline's own pieces:
the same photo handling, the same sampler (``mdn.sample_mixture``: the same seed draws the
same z from a workdir and from its export) and the same join with the photo's own lightness.
:func:`colorize.load` picks this class for a SavedModel directory.
"""

import os

import numpy as np
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf import colorize
from divcolor_tf import photos
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf import config as config_lib


def saved_model_dir(path):
  """The version directory to load for ``path``: itself when it holds saved_model.pb, else the
  highest numbered version under it (TF Serving's layout NAME/<version>/), else None."""
  if os.path.isfile(os.path.join(path, "saved_model.pb")):
    return path
  versions = [int(v) for v in (os.listdir(path) if os.path.isdir(path) else [])
              if v.isdigit() and os.path.isfile(os.path.join(path, v, "saved_model.pb"))]
  return os.path.join(path, str(max(versions))) if versions else None


class SavedModelColorizer:
  """:meth:`Colorizer.colorize` over an exported SavedModel's signatures (``divcolor_tf.export``).

  Top-k comes from ``serving_default`` (all M colorizations, ordered by weight; the first k are
  kept). Samples draw z from the ``mixture`` signature's means and weights with
  ``mdn.sample_mixture`` (sigma^2 from the exported config) and decode them with
  ``decode``; the colour fields are joined with the photo's own L by
  :func:`colorize.join_lightness`, as in the in-memory pipeline.
  """

  def __init__(self, path, gamut="chroma"):
    self.path = path
    try:
      self.module = tf.saved_model.load(path)
      signatures = self.module.signatures
      self._serve = signatures["serving_default"]
      self._mixture = signatures["mixture"]
      self._decode = signatures["decode"]
    except (OSError, KeyError, ValueError, tf.errors.OpError) as e:
      problem = " ".join(str(e).split())[:200]
      raise ValueError(f"{path}: not a divcolor SavedModel ({type(e).__name__}: {problem})") \
          from None
    self.gamut = gamut
    means = self._mixture.structured_outputs["means"].shape
    self.num_components, self.latent_dim = int(means[1]), int(means[2])
    self.config = {}
    for name in (os.path.join("assets.extra", "config.json"), "config.json"):
      if os.path.isfile(os.path.join(path, name)):
        self.config = config_lib.load_resolved(path, name)
        break
    self.variance = float(config_lib.lookup(self.config, "mdn.variance", 0.1))
    self.k = int(config_lib.lookup(self.config, "colorize.k", 5))
    decode_inputs = self._decode.structured_input_signature[1]
    self.skip = "lightness" in decode_inputs  # "+skip": decode also reads the 64x64 L
    self.field_size = int(self._serve.structured_outputs["ab"].shape[2])
    # Exports from divcolor_tf 0.2 on also carry the grey-level mixture and the encoder (evaluation).
    self._grey_mixture = signatures.get("grey_mixture")
    self._encode = signatures.get("encode")
    self.grey_size = (int(self._grey_mixture.structured_input_signature[1]["grey"].shape[1])
                      if self._grey_mixture is not None else None)

  def mixture(self, grey):
    """As :meth:`Colorizer.mixture`: grey L [B, S, S, 1] -> (means [B, M, d], log-weights
    [B, M]; log pi ranks and samples exactly as the logits do)."""
    if self._grey_mixture is None:
      raise ValueError(f"{self.path}: exported without the grey_mixture signature; export the "
                       "model again (divcolor-export) to evaluate it")
    out = self._grey_mixture(grey=tf.cast(grey, tf.float32))
    return out["means"], tf.math.log(tf.maximum(out["weights"], 1e-30))

  def decode(self, z, field_lightness):
    """As :meth:`Colorizer.decode`: z [B, K, d] -> colour fields [B, K, F, F, 2]."""
    if self.skip:
      decode = lambda flat_z, flat_l: self._decode(z=flat_z, lightness=flat_l)["ab"]
    else:
      decode = lambda flat_z, _: self._decode(z=flat_z)["ab"]
    return colorize.decode_each(decode, z, field_lightness, self.latent_dim)

  @property
  def can_encode(self):
    return self._encode is not None

  def encode(self, colour_field):
    """As :meth:`Colorizer.encode` (exports that carry the ``encode`` signature)."""
    if self._encode is None:
      raise ValueError(f"{self.path}: exported without the encode signature")
    return self._encode(colour_field=tf.cast(colour_field, tf.float32))["mean"]

  def colorize(self, images, k=None, samples=None, seed=None):
    """As :meth:`Colorizer.colorize` (same arguments, same results)."""
    single, batch, k, samples, seed = colorize.colorize_arguments(self, images, k, samples, seed)
    results = []
    for i, image in enumerate(batch):
      rgb8 = photos.to_uint8(photos.as_float_rgb(image, f"image {i}"))[None]
      if samples is None:
        out = self._serve(image=tf.constant(rgb8))
        mixture = self._mixture(image=tf.constant(rgb8))
        order = np.argsort(-mixture["weights"].numpy()[0], kind="stable")[:int(k)]
        results.append(colorize.Colorization(
            colorizations=out["colorizations"].numpy()[0, :k], ab=out["ab"].numpy()[0, :k],
            weights=out["weights"].numpy()[0, :k], z=mixture["means"].numpy()[0, order],
            components=order.astype(np.int64)))
        continue
      mixture = self._mixture(image=tf.constant(rgb8))
      z, weights, components = mdn_lib.sample_mixture(
          mixture["means"], tf.math.log(tf.maximum(mixture["weights"], 1e-30)), int(samples),
          colorize.photo_seed(seed, i), self.variance)
      lightness = color.rgb_to_lab(tf.constant(rgb8, tf.float32) / 255.0)[..., :1]
      field_l = tf.image.resize(lightness, [self.field_size] * 2, antialias=True)
      ab = self.decode(z, field_l)
      rgb = colorize.join_lightness(lightness, ab, self.gamut)
      results.append(colorize.Colorization(
          colorizations=photos.to_uint8(rgb[0].numpy()), ab=ab[0].numpy(),
          weights=weights[0].numpy(), z=z[0].numpy(),
          components=components[0].numpy().astype(np.int64)))
    return results[0] if single else results
