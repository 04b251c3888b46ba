"""Importing Zhang et al.'s released colorization weights (ECCV 2016) into the feature network.

The paper keeps "the first 7 convolutional layers [...] pre-trained on task of [30] and held
fixed" (Section 6.2). Instead of this project's own training of that network
(``divcolor-train-features``), a user can start from Zhang et al.'s released weights: this module
reads and writes them for a :mod:`divcolor_tf.models.features` model, by the released layer
names that model uses (conv1_1 .. conv8_313, conv1_2norm .. conv7_3norm).

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

:func:`convert_pytorch_state_dict` turns a state dict of Zhang et al.'s PyTorch port (the eccv16
generator, names from :func:`pytorch_eccv16_names`) into that npz layout. That port takes
(L - 50) / 100: load its weights into a model built with ``lightness_norm=100`` (see
:func:`divcolor_tf.models.features.build_feature_network`).
"""

import os

import keras
import numpy as np

from divcolor_tf.io import atomic
from divcolor_tf.models import features


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
  known = set(features.conv_layer_names()) | set(features.norm_layer_names())
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
  with atomic.atomic_path(npz_path) as temp, open(temp, "wb") as f:
    np.savez(f, **zhang_weights(model))
  return npz_path


def load_zhang_weights(model, npz_path):
  """Sets every Zhang et al. layer of ``model`` (full network or trunk) from an npz file.

  Args:
    model: a :func:`features.build_feature_network` or :func:`features.build_trunk` model (any
      width whose shapes match the file).
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
  for i, (block, _, strides, _) in enumerate(features.TRUNK_BLOCKS, start=1):
    convs = features.block_conv_names(block, strides)
    for j, conv in enumerate(convs):
      names[f"model{i}.{2 * j}"] = conv
    names[f"model{i}.{2 * len(convs)}"] = f"{convs[-1]}norm"
  for j, conv in enumerate(features.HEAD_LAYERS):
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
