"""A "+skip" decoder split into its grey path and its code path (models.vae.grey_path, decode_from_maps): a photo's K
codes decoded with the grey path run once give the decoder's own fields, in inference and in a
training step, and the split leaves the decoder as it was (its saves and its outputs)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from divcolor_tf.config import schema
from divcolor_tf.inference import contract
from divcolor_tf.models import vae


def vae_config(**overrides):
  c = schema.base_config().vae
  c.update(dict(skip=True, width=1 / 16, latent_dim=8, output_padding="reflect"), **overrides)
  return c


def codes(batch=3, k=5, seed=0):
  rng = np.random.default_rng(seed)
  return (tf.constant(rng.normal(size=(batch, k, 8)).astype(np.float32)),
          tf.constant(rng.uniform(0, 100, (batch, 64, 64, 1)).astype(np.float32)))


def one_code_at_a_time(decoder, z, lightness, training=False):
  """The reference: every code decoded with its photo's L, as vae.decode does."""
  b, k = z.shape[:2]
  flat = vae.decode(decoder, tf.reshape(z, [-1, 8]), tf.repeat(lightness, k, axis=0), training)
  return tf.reshape(flat, [b, k, 64, 64, 2])


@pytest.mark.parametrize("semantic", [False, True])
def test_each_photos_codes_decode_as_the_decoder_does(semantic):
  config = vae_config(grey_trunk="efficientnet_lite0") if semantic else vae_config()
  decoder = vae.build_decoder(config, trunk_weights=False)
  for w in decoder.weights:  # not a decoder at its zero start: every path carries something
    w.assign(tf.random.stateless_normal(w.shape, seed=[len(w.path), 1]) * 0.1
             + (1.0 if "variance" in w.path else 0.0))
  z, lightness = codes()
  expected = one_code_at_a_time(decoder, z, lightness)
  np.testing.assert_allclose(vae.decode_each(decoder, z, lightness), expected, atol=1e-5)
  # In chunks of 2 codes (contract.decode_each's loop), and traced.
  chunked = tf.function(lambda z, l: contract.decode_each(
      lambda a, b: vae.decode_each(decoder, a, b), z, l, 8, batch=2, per_photo=True))
  np.testing.assert_allclose(chunked(z, lightness), expected, atol=1e-5)


def test_the_split_carries_the_gradient_of_the_whole_decoder():
  decoder = vae.build_decoder(vae_config())
  z, lightness = codes(batch=2, k=2)
  with tf.GradientTape(persistent=True) as tape:
    split = tf.reduce_sum(vae.decode_each(decoder, z, lightness, training=True) ** 2)
    whole = tf.reduce_sum(one_code_at_a_time(decoder, z, lightness, training=True) ** 2)
  grey = decoder.get_layer("grey_encoder").trainable_weights
  assert grey
  got = [g.numpy().ravel() for g in tape.gradient(split, decoder.trainable_weights)]
  want = [g.numpy().ravel() for g in tape.gradient(whole, decoder.trainable_weights)]
  scale = max(float(np.abs(w).max()) for w in want)  # (a bias before batch norm: ~0, noise)
  np.testing.assert_allclose(np.concatenate(got), np.concatenate(want), rtol=1e-3,
                             atol=1e-4 * scale)


def test_a_decoder_without_skip_has_no_split_and_decodes_each_code():
  decoder = vae.build_decoder(vae_config(skip=False))
  z, lightness = codes()
  with pytest.raises(ValueError, match="not a \\+skip decoder"):
    vae.grey_path(decoder)
  expected = tf.reshape(decoder(tf.reshape(z, [-1, 8])), [3, 5, 64, 64, 2])
  np.testing.assert_allclose(vae.decode_each(decoder, z, lightness), expected, atol=1e-6)


def test_the_split_leaves_the_decoders_saves_as_they_were(tmp_path):
  decoder = vae.build_decoder(vae_config())
  z, lightness = codes()
  before = one_code_at_a_time(decoder, z, lightness)
  np.testing.assert_allclose(vae.decode_each(decoder, z, lightness), before, atol=1e-5)
  decoder.save(os.path.join(tmp_path, "decoder.keras"))
  decoder.save_weights(os.path.join(tmp_path, "decoder.weights.h5"))
  again = keras.models.load_model(os.path.join(tmp_path, "decoder.keras"))
  assert [l.name for l in again.layers] == [l.name for l in decoder.layers]
  np.testing.assert_allclose(one_code_at_a_time(again, z, lightness), before, atol=1e-6)
  np.testing.assert_allclose(vae.decode_each(again, z, lightness), before, atol=1e-5)  # loaded
  fresh = vae.build_decoder(vae_config())
  fresh.load_weights(os.path.join(tmp_path, "decoder.weights.h5"))
  np.testing.assert_allclose(vae.decode_each(fresh, z, lightness), before, atol=1e-5)


def test_maps_given_once_decode_as_maps_found_and_bfloat16_decodes_alike():
  """The joint stage's way (mixed_bfloat16, the maps computed once for two decodes)."""
  z, lightness = codes()
  decoder = vae.build_decoder(vae_config())
  maps = vae.grey_maps(decoder, lightness)
  np.testing.assert_allclose(vae.decode_each(decoder, z, maps=maps),
                             vae.decode_each(decoder, z, lightness), atol=1e-6)
  assert vae.grey_maps(vae.build_decoder(vae_config(skip=False)), lightness) is None
  policy = keras.config.dtype_policy()
  keras.config.set_dtype_policy("mixed_bfloat16")
  try:
    half = vae.build_decoder(vae_config())
  finally:
    keras.config.set_dtype_policy(policy)
  half.set_weights(decoder.get_weights())
  got = vae.decode_each(half, z, lightness)
  assert got.dtype == tf.float32
  # bfloat16 rounds differently for another batch size on some CPUs (the grey path: 3 rows, not 15)
  np.testing.assert_allclose(got, one_code_at_a_time(half, z, lightness), atol=1e-2)
