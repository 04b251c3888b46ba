"""The mixture density network (MDN) of Section 4 and 6.2: P(z | G) as a Gaussian mixture.

Written in the paper's notation (Section 6): C_a(k, s, n) a k x k convolution, stride s, n
channels, activation a, zero ("same") padding; B batch normalisation; F(n) fully connected with n
outputs, with dropout. Section 6.2:

  G (28x28x512) -> C_ReLU(5,1,384)-B-C_ReLU(5,1,320)-B-C_ReLU(5,1,288)-B-C_ReLU(5,2,256)-B-
  C_ReLU(5,1,128)-B-F(4096)-F(8d + 8)

giving, for M = 8 components, M means of z (8d values) and M mixture-weight logits (8 values,
softmax-ed into pi). The fixed spherical variance sigma^2 = 0.1 is the loss's (Eq. 6), not the
network's. G comes from conv7 of Zhang et al.'s network (``divcolor_tf.models.features``), which
the paper keeps fixed: with it the MDN "is a network with 12 convolutional and 2 fully connected
layers" (Zhang's 7 blocks counted as 7 + the 5 here).

Choices the paper leaves open, and why:

* Convolutions have no bias, as in the authors' code: each is followed by ReLU - B, whose offset
  would absorb a bias anyway (up to the ReLU's threshold).
* F(4096) has a tanh (authors' code; the paper names no activation, and without one the two FCs
  would collapse into a single linear map). The final F is linear.
* Dropout with rate ``mdn.dropout`` before both F (paper: "our fully connected layers use dropout";
  authors' code: keep probability 0.75, i.e. rate 0.25. Their PyTorch port passed 0.75 as the
  rate: a known fault, not reproduced).
* F(8d + 8) is written as two heads over the same 4096 features, 'mdn_fc_means' F(8d) and
  'mdn_fc_logits' F(8): the same function as one F(8d + 8) split in two (as the VAE encoder's
  F(2d) is, in ``models/vae.py``), with named outputs and no splitting layer.
* ``mdn.width`` scales 384 .. 128 and 4096 (rounded, at least 1); M and d are never scaled.

Test time (Section 6.2): order the means by mixture weight, descending, and decode the top k
(:func:`top_k_means`).
"""

import functools

from keras import ops
import keras
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf.models import vae


PAPER_GREY_FEATURES_SHAPE = (28, 28, 512)  # conv7 of Zhang et al. on a 224x224 grey image


# The paper's building blocks (Section 6 notation) are the VAE's: vae.C (here without bias), vae.B,
# vae.F. Keras layer names mirror the paper.
C = functools.partial(vae.C, bias=False)  # pylint: disable=invalid-name
B = vae.B  # pylint: disable=invalid-name


def _is_integer(value):
  """True for an int-valued number that is not a bool (3, 3.0, np.int64(3)); never raises."""
  try:
    return not isinstance(value, bool) and int(value) == value
  except (TypeError, ValueError, OverflowError):
    return False


def build_mdn(mdn_config, latent_dim, grey_features_shape=PAPER_GREY_FEATURES_SHAPE):
  """The MDN of Section 6.2.

  Args:
    mdn_config: a ConfigDict like ``config.base_config().mdn`` (or a dict); reads ``components``
      (M, paper 8), ``width`` (channel multiplier, 1.0 the paper's) and ``dropout`` (rate).
    latent_dim: d, the VAE's latent size (paper 64).
    grey_features_shape: (H, W, c) of G (paper 28x28x512; S/8 x S/8 x 512*width for a feature
      network of grey size S and width ``features.width``).

  Returns:
    keras.Model 'mdn': input 'grey_features' [B, H, W, c] -> dict {'means': [B, M, d],
    'logits': [B, M]} (the mixture weights are ``mixture_weights(logits)``).
  """
  components = config_lib.field(mdn_config, "mdn", "components")
  width = float(config_lib.field(mdn_config, "mdn", "width"))
  dropout = float(config_lib.field(mdn_config, "mdn", "dropout"))
  for name, value in (("mdn.components", components), ("latent_dim", latent_dim)):
    if not _is_integer(value) or value < 1:
      raise ValueError(f"{name} must be a positive integer, got {value!r}")
  if not width > 0:
    raise ValueError(f"mdn.width must be > 0, got {width!r}")
  if not 0.0 <= dropout < 1.0:
    raise ValueError(f"mdn.dropout must be a rate in [0, 1), got {dropout!r}")
  if len(grey_features_shape) != 3 or min(grey_features_shape) < 1:
    raise ValueError(f"grey_features_shape must be (H, W, c), got {grey_features_shape!r}")
  m, d = int(components), int(latent_dim)

  def n(channels):
    return max(1, int(round(channels * width)))

  grey_features = keras.Input(tuple(int(v) for v in grey_features_shape), name="grey_features")
  x = B(C(grey_features, 5, 1, n(384), "relu", "mdn_conv1"), "mdn_bn1")
  x = B(C(x, 5, 1, n(320), "relu", "mdn_conv2"), "mdn_bn2")
  x = B(C(x, 5, 1, n(288), "relu", "mdn_conv3"), "mdn_bn3")
  x = B(C(x, 5, 2, n(256), "relu", "mdn_conv4"), "mdn_bn4")
  x = B(C(x, 5, 1, n(128), "relu", "mdn_conv5"), "mdn_bn5")
  x = keras.layers.Flatten(name="mdn_flatten")(x)
  x = vae.F(x, n(4096), "mdn_fc1", act="tanh", dropout=dropout)
  x = vae.RowDropout(dropout, name="mdn_fc2_dropout")(x) if dropout > 0 else x
  means = keras.layers.Dense(m * d, name="mdn_fc_means")(x)  # with mdn_fc_logits: F(8d + 8)
  means = keras.layers.Reshape((m, d), name="means")(means)
  logits = keras.layers.Dense(m, name="mdn_fc_logits")(x)
  return keras.Model(grey_features, {"means": means, "logits": logits}, name="mdn")


# The mixture at test time (Section 6.2).

def mixture_weights(logits):
  """pi: softmax of the MDN's logits over the components. [..., M] -> [..., M]."""
  return ops.softmax(ops.convert_to_tensor(logits), axis=-1)


def top_k_means(means, logits, k):
  """The k means of highest mixture weight, in DESCENDING order of weight (Section 6.2).

  The paper decodes the top-k means (k = 5 in its figures) ordered by decreasing pi. (A PyTorch
  port of the authors' code sorted ascending, so its "top" colorization was the least likely.)
  Ties keep the lower component index first.

  Args:
    means: [B, M, d] component means.
    logits: [B, M] mixture logits.
    k: how many, 1 <= k <= M.

  Returns:
    (means [B, k, d], weights [B, k], indices [B, k]): the chosen means, their mixture weights
    pi and their component indices.
  """
  means = ops.convert_to_tensor(means)
  weights = mixture_weights(logits)
  num_components = weights.shape[-1]
  if not _is_integer(k) or not 1 <= k <= num_components:
    raise ValueError(f"top_k_means: k must be in [1, {num_components}], got {k!r}")
  top_weights, indices = ops.top_k(weights, int(k), sorted=True)
  top_means = ops.take_along_axis(means, ops.expand_dims(indices, -1), axis=-2)
  return top_means, top_weights, indices


def sample_mixture(means, logits, n, seed, variance):
  """n draws z ~ the mixture per image: component m ~ pi, then z = mu_m + sigma * eps.

  The one random stream of the project: a workdir's ``colorize.Colorizer`` and an export's
  ``saved_model.SavedModelColorizer`` both draw here, so the same seed gives the same draws.

  Args:
    means, logits: [B, M, d], [B, M] (log-weights serve as well: a constant shift changes nothing).
    n: draws per image.
    seed: int32 [2], the stateless seed (same seed, same draws).
    variance: sigma^2 of every component (paper 0.1).

  Returns:
    (z [B, n, d], weights [B, n] pi of each draw's component, components [B, n] int64).
  """
  means = tf.convert_to_tensor(means, tf.float32)
  logits = tf.convert_to_tensor(logits, tf.float32)
  pick_seed, noise_seed = tf.unstack(
      tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), 2))
  components = tf.random.stateless_categorical(logits, n, seed=pick_seed)  # [B, n]
  mu = tf.gather(means, components, batch_dims=1)
  eps = tf.random.stateless_normal(tf.shape(mu), seed=noise_seed)
  z = mu + tf.sqrt(tf.cast(variance, tf.float32)) * eps
  weights = tf.gather(mixture_weights(logits), components, batch_dims=1)
  return z, tf.cast(weights, tf.float32), components
