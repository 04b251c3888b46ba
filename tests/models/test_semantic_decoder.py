"""The "+skip" decoder that also reads ImageNet maps (vae.grey_trunk; issue 44 item 3b): the
frozen EfficientNet-Lite0 it adds, its sizes, the zero start that makes a fine-tune of a decoder
without it begin where that one ended, and what survives a save."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import have_imagenet_weights
from conftest import needs_imagenet_weights
from divcolor_tf import exported
from divcolor_tf.config import schema
from divcolor_tf.models import efficientnet_lite
from divcolor_tf.models import features
from divcolor_tf.models import vae

HAVE_WEIGHTS = have_imagenet_weights()
needs_weights = needs_imagenet_weights


def vae_config(**overrides):
  c = schema.base_config().vae
  c.update(dict(skip=True, width=1 / 16, latent_dim=8, output_padding="reflect"), **overrides)
  return c


def inputs(batch=2, seed=0):
  rng = np.random.default_rng(seed)
  return {"z": rng.normal(size=(batch, 8)).astype(np.float32),
          "lightness": rng.uniform(0, 100, (batch, 64, 64, 1)).astype(np.float32)}


@pytest.fixture(scope="module")
def semantic_decoder():
  return vae.build_decoder(vae_config(grey_trunk="efficientnet_lite0"), trunk_weights=HAVE_WEIGHTS)


def test_its_maps_have_the_grey_encoders_sizes_and_the_trunk_is_frozen(semantic_decoder):
  trunk = semantic_decoder.get_layer("grey_encoder").get_layer("grey_semantic_trunk")
  assert {k: tuple(v.shape[1:]) for k, v in trunk.output.items()} == {
      "stride_8": (32, 32, 40), "stride_16": (16, 16, 112), "stride_32": (8, 8, 320)}
  assert not trunk.trainable and trunk.weights
  trainable = {w.path for w in semantic_decoder.trainable_weights}
  assert not trainable & {w.path for w in trunk.weights}
  assert {"grey_semantic_proj32/kernel", "grey_semantic_proj8/bias"} <= trainable
  # Batch norm reads its moving statistics in a training step too.
  lightness = inputs()["lightness"]
  for name, value in trunk(lightness, training=True).items():
    np.testing.assert_allclose(value, trunk(lightness, training=False)[name], atol=1e-5)


def test_it_starts_as_the_decoder_without_it(semantic_decoder):
  plain = vae.build_decoder(vae_config())
  values = {w.path: w.numpy() for w in plain.weights}
  assigned, missing = exported.assign([semantic_decoder], values, "plain")
  assert assigned == len(plain.weights)  # every weight of the plain decoder has its place
  assert missing and all(p.startswith("grey_semantic_") for p in missing)
  np.testing.assert_allclose(semantic_decoder(inputs(), training=False),
                             plain(inputs(), training=False), atol=1e-6)


def test_a_training_step_moves_the_new_maps_and_leaves_the_trunk(semantic_decoder):
  decoder = vae.build_decoder(vae_config(grey_trunk="efficientnet_lite0"), trunk_weights=False)
  trunk = decoder.get_layer("grey_encoder").get_layer("grey_semantic_trunk")
  before = [w.numpy().copy() for w in trunk.weights]
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.square(decoder(inputs(), training=True) - 0.5))
  grads = tape.gradient(loss, decoder.trainable_weights)
  by_path = dict(zip((w.path for w in decoder.trainable_weights), grads))
  assert float(tf.reduce_max(tf.abs(by_path["grey_semantic_proj16/kernel"]))) > 0
  keras.optimizers.SGD(1.0).apply_gradients(zip(grads, decoder.trainable_weights))
  for old, new in zip(before, trunk.weights):
    np.testing.assert_array_equal(old, new.numpy())


@needs_weights
def test_the_trunk_is_efficientnet_lite0_on_the_lightness_upsampled_to_256(semantic_decoder):
  trunk = semantic_decoder.get_layer("grey_encoder").get_layer("grey_semantic_trunk")
  reference = efficientnet_lite.pretrained_efficientnet_lite0()
  lightness = inputs()["lightness"]
  grey = features.GreyLevel()(tf.image.resize(lightness, (256, 256), method="bilinear"))
  want = reference(grey)
  for name, value in trunk(lightness).items():
    np.testing.assert_allclose(value, want[name], atol=2e-3)


def test_a_saved_decoder_loads_with_its_trunk_frozen(semantic_decoder, tmp_path):
  path = str(tmp_path / "decoder.keras")
  semantic_decoder.save(path)
  loaded = keras.saving.load_model(path)
  trunk = loaded.get_layer("grey_encoder").get_layer("grey_semantic_trunk")
  assert not trunk.trainable
  assert len(loaded.trainable_weights) == len(semantic_decoder.trainable_weights)
  np.testing.assert_allclose(loaded(inputs(), training=False),
                             semantic_decoder(inputs(), training=False), atol=1e-6)


@pytest.mark.parametrize("overrides, message", [
    (dict(grey_trunk="resnet50"), "vae.grey_trunk must be one of"),
    (dict(grey_trunk="efficientnet_lite0", skip=False), "set vae.skip as well"),
])
def test_a_wrong_setting_is_one_line(overrides, message):
  with pytest.raises(ValueError, match=message):
    vae.build_decoder(vae_config(**overrides), trunk_weights=False)


def test_the_schema_knows_the_endpoints_the_trunk_builds():
  assert schema.ENDPOINTS == tuple(f"stride_{s}" for s in efficientnet_lite.ENDPOINT_STRIDES)
