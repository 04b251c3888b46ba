"""The grey-level feature network G of Section 4 / 6.2: Zhang et al.'s colorization CNN (ECCV 2016).

The paper's MDN reads "the features from conv-7 layer of a colorization CNN [30]" (Section 1),
28x28x512 for a 224x224 grey image (Section 6.2); "the first 7 convolutional layers [are]
pre-trained on task of [30] and held fixed". This module builds that network, with its own task's
head (conv8: 313-way per-pixel colour classification), and imports Zhang et al.'s released weights
from a file a user provides.

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
are imported by name. A conv layer's output is its ReLU's output (caffe's in-place ReLU), so
'conv7_3' is G, before 'conv7_3norm'.

Padding. Caffe pads every 3x3 convolution by 1 pixel on each side (2 for the dilated ones) and
the deconvolution conv8_1 by 1. TF's 'same' padding is the same thing for a stride-1 convolution
(3x3: 1 each side; 3x3 dilation 2, an effective 5x5: 2 each side), but for a stride-2 convolution
on an even size it pads (0, 1), which shifts every later feature map by one input pixel against
the released network. The stride-2 3x3 convolutions are therefore an explicit ZeroPadding2D(1)
followed by a 'valid' convolution. conv8_1 (k4, s2) with 'same' crops one pixel on each side of
the full transposed convolution, as caffe's pad 1 does, so 'same' is exact there.

Weight file (:func:`load_zhang_weights`, :func:`zhang_weights`, :func:`save_zhang_weights`): an
.npz keyed by the released layer names, in caffe's layouts:

  '<conv>/kernel'     (out, in, kh, kw)   every Convolution (conv1_1 .. conv7_3, conv8_2 .. conv8_313)
  'conv8_1/kernel'    (in, out, kh, kw)   the Deconvolution (caffe and PyTorch ConvTranspose2d)
  '<conv>/bias'       (out,)
  '<norm>/mean'       (c,)                BatchNorm running mean, ALREADY divided by caffe's third
  '<norm>/variance'   (c,)                BN blob (its moving-average scale factor)

with <norm> in conv1_2norm, conv2_2norm, conv3_3norm, conv4_3norm, ..., conv7_3norm. Keys of
layers a model does not have (the 'class8_ab' 313 -> ab layer, or conv8_* for a trunk) are
ignored. Neither convolution nor deconvolution needs a spatial flip: caffe, PyTorch and TF all
compute a cross-correlation, and their transposed convolutions are each the exact adjoint of
that correlation, so the kernel is only transposed: (out, in, kh, kw) -> (kh, kw, in, out) for
Conv2D and (in, out, kh, kw) -> (kh, kw, out, in) for Conv2DTranspose (tested against a direct
scatter-add and against PyTorch).

Input. Zhang et al.'s caffe network takes L - 50; the PyTorch port of the released weights takes
(L - 50) / 100 (its ``l_cent=50, l_norm=100``, with conv1_1 scaled to match). The model's input is
L in [0, 100] and it computes (L - 50) / ``lightness_norm`` itself (default 1: caffe's L - 50).
"""

import os

import keras
import numpy as np

NUM_BINS = 313  # Zhang et al.'s in-gamut ab bins (shared/data/color_prior/pts_in_hull.npy)
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


def _conv_names(block, strides):
  return [f"{block}_{i}" for i in range(1, len(strides) + 1)]


def norm_layer_names():
  """The released network's BN layer names, conv1_2norm .. conv7_3norm."""
  return [f"{_conv_names(b, s)[-1]}norm" for b, _, s, _ in TRUNK_BLOCKS]


def conv_layer_names(include_head=True):
  """The released network's convolution names, conv1_1 .. conv7_3 (then conv8_1 .. conv8_313)."""
  names = [n for b, _, s, _ in TRUNK_BLOCKS for n in _conv_names(b, s)]
  return names + list(HEAD_LAYERS) if include_head else names


def _get(config, name, default):
  return config.get(name, default) if hasattr(config, "get") else getattr(config, name, default)


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
  """The released network's block-end BN: normalisation only, no learned scale or offset."""
  return keras.layers.BatchNormalization(center=False, scale=False, epsilon=BN_EPSILON,
                                         name=name)(x)


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
  width = float(_get(features_config, "width", 1.0))
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
    for name, stride in zip(_conv_names(block, strides), strides):
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


# Weight import / export (caffe layouts; see the module docstring).

def _keras_layout(key, value):
  """Caffe array -> Keras array for one npz entry.

  One transpose serves both layer types: (out, in, kh, kw) -> (kh, kw, in, out) for Conv2D, and
  the deconvolution's (in, out, kh, kw) -> (kh, kw, out, in) for Conv2DTranspose. No spatial flip
  (module docstring).
  """
  return np.transpose(value, (2, 3, 1, 0)) if key.endswith("/kernel") else value


def _caffe_layout_shape(keras_shape):
  kh, kw, a, b = keras_shape  # Conv2D: (kh, kw, in, out); Conv2DTranspose: (kh, kw, out, in)
  return (b, a, kh, kw)


def _weight_keys(layer):
  """[(npz key, index in layer.get_weights())] of one of the network's layers."""
  if isinstance(layer, keras.layers.BatchNormalization):
    return [(f"{layer.name}/mean", 0), (f"{layer.name}/variance", 1)]
  if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
    return [(f"{layer.name}/kernel", 0), (f"{layer.name}/bias", 1)]
  return []


def _network_layers(model):
  known = set(conv_layer_names()) | set(norm_layer_names())
  layers = [layer for layer in model.layers if layer.name in known]
  if not layers:
    raise ValueError(f"model {model.name!r} has none of Zhang et al.'s layers (conv1_1 ...)")
  return layers


def zhang_weights(model):
  """The model's weights as the npz layout of the module docstring: {key: float32 array}."""
  out = {}
  for layer in _network_layers(model):
    weights = layer.get_weights()
    for key, index in _weight_keys(layer):
      value = np.asarray(weights[index], np.float32)
      if key.endswith("/kernel"):
        value = np.transpose(value, (3, 2, 0, 1))  # the inverse of _keras_layout's transposes
      out[key] = value
  return out


def save_zhang_weights(model, npz_path):
  """Writes :func:`zhang_weights` to ``npz_path`` (np.savez); returns the path."""
  np.savez(npz_path, **zhang_weights(model))
  return npz_path


def load_zhang_weights(model, npz_path):
  """Sets every Zhang et al. layer of ``model`` (full network or trunk) from an npz file.

  Args:
    model: a :func:`build_feature_network` or :func:`build_trunk` model (any width whose shapes
      match the file).
    npz_path: an .npz in the module docstring's layout (caffe layouts, released layer names),
      e.g. from :func:`save_zhang_weights` or :func:`convert_pytorch_state_dict`.

  Returns:
    The sorted list of npz keys that were used.

  Raises:
    ValueError: a key the model needs is missing, or an array's shape does not match the model.
      Nothing is assigned unless every layer matches.
  """
  path = os.fspath(npz_path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such weight file")
  try:
    archive = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise ValueError(f"{path}: not a readable .npz weight file ({e})") from None
  if not isinstance(archive, np.lib.npyio.NpzFile):  # np.load reads a plain .npy as one array
    raise ValueError(f"{path}: a single array (.npy), not an .npz of named weights")
  with archive:
    assignments, used = [], []
    for layer in _network_layers(model):
      weights = layer.get_weights()
      for key, index in _weight_keys(layer):
        if key not in archive.files:
          raise ValueError(f"{path}: key {key!r} missing (needed by layer {layer.name!r})")
        value = archive[key]
        expected = weights[index].shape
        if key.endswith("/kernel"):
          expected = _caffe_layout_shape(expected)
        if value.shape != tuple(expected):
          raise ValueError(f"{path}: {key!r} has shape {value.shape}, the model needs "
                           f"{tuple(expected)} (caffe layout)")
        weights[index] = _keras_layout(key, value).astype(weights[index].dtype)
        used.append(key)
      assignments.append((layer, weights))
  for layer, weights in assignments:
    layer.set_weights(weights)
  return sorted(used)


def pytorch_eccv16_names():
  """{PyTorch module name: released layer name} for the eccv16 port's nn.Sequential blocks.

  model1 .. model7 are [Conv2d, ReLU] * n then BatchNorm2d, so their convolutions sit at indices
  0, 2, .., 2(n - 1) and the BN at 2n; model8 is [ConvTranspose2d, ReLU, Conv2d, ReLU, Conv2d,
  ReLU, Conv2d(256, 313, 1)] at 0, 2, 4, 6.
  """
  names = {}
  for i, (block, _, strides, _) in enumerate(TRUNK_BLOCKS, start=1):
    convs = _conv_names(block, strides)
    for j, conv in enumerate(convs):
      names[f"model{i}.{2 * j}"] = conv
    names[f"model{i}.{2 * len(convs)}"] = f"{convs[-1]}norm"
  for j, conv in enumerate(HEAD_LAYERS):
    names[f"model8.{2 * j}"] = conv
  return names


def convert_pytorch_state_dict(state_dict):
  """A PyTorch eccv16 state dict -> the npz layout of :func:`load_zhang_weights`.

  PyTorch's Conv2d (out, in, kh, kw) and ConvTranspose2d (in, out, kh, kw) weights already have
  caffe's layouts, and its BN running_var is the variance, so only names change. Entries of
  other modules (the port's 'model_out' 313 -> ab layer, BN num_batches_tracked) are dropped.

  Args:
    state_dict: {name: torch.Tensor or array}, e.g. ``module.state_dict()``.

  Returns:
    {npz key: float32 numpy array}; save with ``np.savez(path, **result)``.

  Raises:
    ValueError: a BN has a learned scale/offset other than the identity (this network's BNs have
      none), or a module of the mapping is missing.
  """
  def array(v):
    v = v.detach().cpu().numpy() if hasattr(v, "detach") else v
    return np.asarray(v, dtype=np.float32)

  suffixes = {"weight": "kernel", "bias": "bias", "running_mean": "mean",
              "running_var": "variance"}
  out = {}
  for module, layer in pytorch_eccv16_names().items():
    is_norm = layer.endswith("norm")
    wanted = ("running_mean", "running_var") if is_norm else ("weight", "bias")
    for suffix in wanted:
      key = f"{module}.{suffix}"
      if key not in state_dict:
        raise ValueError(f"state dict: {key!r} missing (released layer {layer!r})")
      out[f"{layer}/{suffixes[suffix]}"] = array(state_dict[key])
    if is_norm:  # an affine BN port is fine only if its scale/offset are the identity
      for suffix, identity in (("weight", 1.0), ("bias", 0.0)):
        key = f"{module}.{suffix}"
        if key in state_dict and not np.allclose(array(state_dict[key]), identity):
          raise ValueError(f"state dict: {key!r} is not {identity} everywhere; Zhang et al.'s "
                           "BNs have no learned scale/offset")
  return out
