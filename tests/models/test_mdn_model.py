"""Tests of divcolor_tf.models.mdn against the paper's Section 6.2 (and its test-time top-k)."""

import keras
import numpy as np
import pytest

from divcolor_tf import config as config_lib
from divcolor_tf.models import mdn
from divcolor_tf.models import vae

M, D = 8, 64  # the paper's 8 components, d = 64

# Section 6.2 on G = 28x28x512: (layer, kernel, stride, channels, output side).
PAPER_CONVS = [
    ("mdn_conv1", 5, 1, 384, 28),
    ("mdn_conv2", 5, 1, 320, 28),
    ("mdn_conv3", 5, 1, 288, 28),
    ("mdn_conv4", 5, 2, 256, 14),
    ("mdn_conv5", 5, 1, 128, 14),
]
PAPER_BNS = ["mdn_bn1", "mdn_bn2", "mdn_bn3", "mdn_bn4", "mdn_bn5"]


def mdn_config(**overrides):
  c = config_lib.base_config().mdn
  c.update(overrides)
  return c


def scaled(n, width):
  return max(1, round(n * width))


def assert_paper_layers(model, width, grey_side, latent_dim):
  """C_ReLU(5,1,384)-B-C_ReLU(5,1,320)-B-C_ReLU(5,1,288)-B-C_ReLU(5,2,256)-B-C_ReLU(5,1,128)-B-
  F(4096)-F(8d + 8), the last F as its two heads F(8d) and F(8)."""
  convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
  assert [layer.name for layer in convs] == [row[0] for row in PAPER_CONVS]
  for layer, bn_name, (name, k, s, n, side) in zip(convs, PAPER_BNS, PAPER_CONVS):
    n, side = scaled(n, width), side * grey_side // 28
    assert layer.kernel_size == (k, k), name
    assert layer.strides == (s, s), name
    assert layer.padding == "same", name
    assert layer.filters == n, name
    assert layer.activation.__name__ == "relu", name
    assert not layer.use_bias, name  # the module's documented choice (authors' code)
    assert tuple(layer.output.shape) == (None, side, side, n), name
    assert model.get_layer(bn_name).input is layer.output, name  # C_ReLU then B

  dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
  assert [layer.name for layer in dense] == ["mdn_fc1", "mdn_fc_means", "mdn_fc_logits"]
  fc1, fc_means, fc_logits = dense
  last_side = grey_side // 2
  assert fc1.units == scaled(4096, width)
  assert fc1.activation.__name__ == "tanh"
  assert tuple(fc1.kernel.shape) == (last_side * last_side * scaled(128, width), fc1.units)
  # F(8d + 8): two linear heads over the same (dropped-out) F(4096) features.
  assert fc_means.units + fc_logits.units == M * latent_dim + M
  assert (fc_means.units, fc_logits.units) == (M * latent_dim, M)
  assert fc_means.input is fc_logits.input
  assert fc_means.activation.__name__ == fc_logits.activation.__name__ == "linear"
  assert tuple(model.output["means"].shape) == (None, M, latent_dim)
  assert tuple(model.output["logits"].shape) == (None, M)


@pytest.fixture(scope="module")
def paper_mdn():
  return mdn.build_mdn(mdn_config(), D)  # built, never run at this size


def test_paper_mdn_layers(paper_mdn):
  assert tuple(paper_mdn.input.shape) == (None, 28, 28, 512)
  assert_paper_layers(paper_mdn, 1.0, 28, D)
  assert tuple(paper_mdn.get_layer("mdn_fc1").kernel.shape) == (14 * 14 * 128, 4096)


def test_paper_mdn_order_and_dropout(paper_mdn):
  kinds = {keras.layers.Conv2D: "C", keras.layers.BatchNormalization: "B",
           keras.layers.Flatten: "flatten", keras.layers.Dropout: "dropout",
           vae.RowDropout: "dropout",  # Keras' Dropout, the global batch's mask
           keras.layers.Dense: "F", keras.layers.Reshape: "reshape"}
  signature = [kinds[type(layer)] for layer in paper_mdn.layers if type(layer) in kinds]
  assert signature == (["C", "B"] * 5 + ["flatten", "dropout", "F", "dropout", "F", "F",
                                         "reshape"])
  rates = [layer.rate for layer in paper_mdn.layers if isinstance(layer, keras.layers.Dropout)]
  assert rates == [pytest.approx(0.25)] * 2  # authors' keep probability 0.75


def test_no_dropout_layers_at_rate_zero():
  model = mdn.build_mdn(mdn_config(width=1 / 16, dropout=0.0), 8, (8, 8, 4))
  assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


@pytest.mark.parametrize("width, grey_shape, latent_dim", [
    (0.25, (28, 28, 128), 32), (1 / 16, (8, 8, 32), 8)])
def test_width_scales_channels_but_not_m_or_d(width, grey_shape, latent_dim):
  model = mdn.build_mdn(mdn_config(width=width), latent_dim, grey_shape)
  assert tuple(model.input.shape) == (None,) + grey_shape
  assert_paper_layers(model, width, grey_shape[0], latent_dim)


def test_forward_shapes_and_training_noise():
  model = mdn.build_mdn(mdn_config(width=1 / 16), D, (8, 8, 32))
  grey = np.random.default_rng(0).normal(size=(3, 8, 8, 32)).astype(np.float32)
  out = model(grey, training=False)
  assert tuple(out["means"].shape) == (3, M, D)
  assert tuple(out["logits"].shape) == (3, M)
  again = model(grey, training=False)
  np.testing.assert_array_equal(out["means"].numpy(), again["means"].numpy())
  trained = model(grey, training=True)  # dropout (and batch statistics) in training
  assert not np.allclose(out["means"].numpy(), trained["means"].numpy())


@pytest.mark.parametrize("overrides, latent_dim, shape", [
    (dict(components=0), D, (8, 8, 4)),
    (dict(components=2.5), D, (8, 8, 4)),
    (dict(components=None), D, (8, 8, 4)),
    (dict(width=0.0), D, (8, 8, 4)),
    (dict(dropout=1.0), D, (8, 8, 4)),
    ({}, 0, (8, 8, 4)),
    ({}, D, (8, 8)),
])
def test_bad_arguments(overrides, latent_dim, shape):
  with pytest.raises(ValueError):
    # A plain dict: a ConfigDict would refuse some of these values itself.
    mdn.build_mdn({"components": M, "width": 1 / 16, **overrides}, latent_dim, shape)


# The mixture at test time.


def test_mixture_weights_sum_to_one():
  logits = np.random.default_rng(1).normal(0, 5, size=(4, M)).astype(np.float32)
  logits[0] = [80, -80, 0, 0, 0, 0, 0, 0]  # large logits stay finite
  weights = np.asarray(mdn.mixture_weights(logits))
  assert weights.shape == (4, M)
  assert np.all(weights >= 0)
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
  want = np.exp(logits[1:] - logits[1:].max(-1, keepdims=True))
  np.testing.assert_allclose(weights[1:], want / want.sum(-1, keepdims=True), rtol=1e-5)


def test_mixture_weights_of_the_model_sum_to_one():
  model = mdn.build_mdn(mdn_config(width=1 / 16), 8, (8, 8, 32))
  grey = np.random.default_rng(2).normal(size=(2, 8, 8, 32)).astype(np.float32)
  weights = np.asarray(mdn.mixture_weights(model(grey, training=False)["logits"]))
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)


def test_top_k_means_descending_by_weight():
  # Two images, 4 components, d = 2; component i's mean is (10 * image + i, -i).
  means = np.array([[[10 * b + i, -i] for i in range(4)] for b in range(2)], np.float32)
  logits = np.log(np.array([[0.1, 0.4, 0.2, 0.3],
                            [0.5, 0.05, 0.05, 0.4]], np.float32))
  top_means, top_weights, top_indices = (
      np.asarray(t) for t in mdn.top_k_means(means, logits, 3))
  assert top_means.shape == (2, 3, 2) and top_weights.shape == (2, 3)
  np.testing.assert_allclose(top_weights, [[0.4, 0.3, 0.2], [0.5, 0.4, 0.05]], rtol=1e-5)
  np.testing.assert_array_equal(top_means[0], [[1, -1], [3, -3], [2, -2]])
  # Tied weights (components 1 and 2): the lower index first.
  np.testing.assert_array_equal(top_means[1], [[10, 0], [13, -3], [11, -1]])
  np.testing.assert_array_equal(top_indices, [[1, 3, 2], [0, 3, 1]])
  assert np.all(np.diff(top_weights, axis=-1) <= 0)

  all_means, all_weights, _ = (np.asarray(t) for t in mdn.top_k_means(means, logits, 4))
  np.testing.assert_allclose(all_weights.sum(-1), 1.0, rtol=1e-6)
  one_mean, one_weight, _ = (np.asarray(t) for t in mdn.top_k_means(means, logits, 1))
  np.testing.assert_array_equal(one_mean[:, 0], [[1, -1], [10, 0]])


def test_top_k_means_matches_a_sort_on_random_mixtures():
  rng = np.random.default_rng(3)
  means = rng.normal(size=(5, M, D)).astype(np.float32)
  logits = rng.normal(size=(5, M)).astype(np.float32)
  top_means, top_weights, top_indices = (
      np.asarray(t) for t in mdn.top_k_means(means, logits, 5))
  weights = np.asarray(mdn.mixture_weights(logits))
  order = np.argsort(-weights, axis=-1, kind="stable")[:, :5]
  np.testing.assert_array_equal(top_means, np.take_along_axis(means, order[..., None], axis=1))
  np.testing.assert_allclose(top_weights, np.take_along_axis(weights, order, axis=1), rtol=1e-6)
  np.testing.assert_array_equal(top_indices, order)


@pytest.mark.parametrize("k", [0, -1, M + 1, 2.5, True, None, "3"])
def test_top_k_means_rejects_bad_k(k):
  means = np.zeros((1, M, 4), np.float32)
  logits = np.zeros((1, M), np.float32)
  with pytest.raises(ValueError, match="k must be in"):
    mdn.top_k_means(means, logits, k)
