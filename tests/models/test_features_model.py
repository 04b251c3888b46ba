"""Tests of divcolor_tf.models.features, Zhang et al.'s (ECCV 2016) colorization net (the paper's G),
and of divcolor_tf.models.zhang_weights, the import of that network's released weights."""

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import keras

from divcolor_tf import color
from divcolor_tf.models import features
from divcolor_tf.models import zhang_weights

SIZE = 224  # the paper's grey input side
TINY = {"width": 1 / 16}

# Zhang et al.'s list (models/features.py's docstring; Zhang et al. 2016, Table 4), at width 1
# for a 224x224 input:
# (layer, kernel, stride, dilation, channels, output side, transposed).
ZHANG = [
    ("conv1_1", 3, 1, 1, 64, 224, False),
    ("conv1_2", 3, 2, 1, 64, 112, False),
    ("conv2_1", 3, 1, 1, 128, 112, False),
    ("conv2_2", 3, 2, 1, 128, 56, False),
    ("conv3_1", 3, 1, 1, 256, 56, False),
    ("conv3_2", 3, 1, 1, 256, 56, False),
    ("conv3_3", 3, 2, 1, 256, 28, False),
    ("conv4_1", 3, 1, 1, 512, 28, False),
    ("conv4_2", 3, 1, 1, 512, 28, False),
    ("conv4_3", 3, 1, 1, 512, 28, False),
    ("conv5_1", 3, 1, 2, 512, 28, False),
    ("conv5_2", 3, 1, 2, 512, 28, False),
    ("conv5_3", 3, 1, 2, 512, 28, False),
    ("conv6_1", 3, 1, 2, 512, 28, False),
    ("conv6_2", 3, 1, 2, 512, 28, False),
    ("conv6_3", 3, 1, 2, 512, 28, False),
    ("conv7_1", 3, 1, 1, 512, 28, False),
    ("conv7_2", 3, 1, 1, 512, 28, False),
    ("conv7_3", 3, 1, 1, 512, 28, False),  # G
    ("conv8_1", 4, 2, 1, 256, 56, True),
    ("conv8_2", 3, 1, 1, 256, 56, False),
    ("conv8_3", 3, 1, 1, 256, 56, False),
    ("conv8_313", 1, 1, 1, 313, 56, False),  # the 313 bins: never scaled by the width
]
NORMS = ["conv1_2norm", "conv2_2norm", "conv3_3norm", "conv4_3norm", "conv5_3norm",
         "conv6_3norm", "conv7_3norm"]


def convs(model):
  return [layer for layer in model.layers
          if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]


def assert_zhang_layers(model, width, size):
  layers = convs(model)
  assert [layer.name for layer in layers] == [row[0] for row in ZHANG]
  in_channels = 1
  for layer, (name, k, s, dilation, n, side, transposed) in zip(layers, ZHANG):
    n = n if name == "conv8_313" else max(1, round(n * width))
    side = side * size // SIZE
    assert isinstance(layer, keras.layers.Conv2DTranspose) == transposed, name
    assert layer.kernel_size == (k, k), name
    assert layer.strides == (s, s), name
    assert layer.dilation_rate == (dilation, dilation), name
    assert layer.filters == n, name
    assert layer.use_bias, name
    assert layer.activation.__name__ == ("linear" if name == "conv8_313" else "relu"), name
    assert tuple(layer.output.shape) == (None, side, side, n), name
    kernel_shape = (k, k, n, in_channels) if transposed else (k, k, in_channels, n)
    assert tuple(layer.kernel.shape) == kernel_shape, name
    in_channels = n


@pytest.fixture(scope="module")
def full_model():
  return features.build_feature_network({"width": 1.0})  # built, never run at this size


@pytest.fixture(scope="module")
def lightness(lfw_ci):
  """L [1, 224, 224, 1] in [0, 100] of a real LFW face, via divcolor_tf.color.rgb_to_lab."""
  path = sorted(lfw_ci.rglob("*.jpg"))[0]
  rgb = np.asarray(Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))
  lab = color.rgb_to_lab(rgb.astype(np.float32) / 255.0).numpy()
  return lab[None, ..., :1]


def randomise_norms(model, seed):
  """Non-trivial BN moving statistics (Keras starts them at 0 and 1)."""
  rng = np.random.default_rng(seed)
  for name in NORMS:
    layer = model.get_layer(name)
    mean, variance = layer.get_weights()
    layer.set_weights([rng.normal(0.0, 0.5, mean.shape).astype(np.float32),
                       rng.uniform(0.5, 2.0, variance.shape).astype(np.float32)])


# Architecture against Zhang et al.


def test_full_width_layers_are_zhangs(full_model):
  assert tuple(full_model.input.shape) == (None, SIZE, SIZE, 1)
  assert_zhang_layers(full_model, 1.0, SIZE)
  assert tuple(full_model.output["grey_features"].shape) == (None, 28, 28, 512)
  assert tuple(full_model.output["logits"].shape) == (None, 56, 56, 313)


def test_grey_features_are_conv7_3_relu_before_its_norm(full_model):
  conv7_3 = full_model.get_layer("conv7_3")
  assert tuple(conv7_3.output.shape) == (None, 28, 28, 512)  # the paper's G (Section 6.2)
  assert full_model.output["grey_features"] is conv7_3.output
  assert full_model.get_layer("conv7_3norm").input is conv7_3.output


def test_block_norms_have_no_scale_or_offset(full_model):
  norms = [layer for layer in full_model.layers
           if isinstance(layer, keras.layers.BatchNormalization)]
  assert [layer.name for layer in norms] == NORMS == features.norm_layer_names()
  for layer in norms:
    assert not layer.center and not layer.scale, layer.name
    assert layer.epsilon == pytest.approx(1e-5), layer.name  # caffe's and PyTorch's
    assert len(layer.get_weights()) == 2, layer.name  # moving mean and variance only
    # Each norm ends its block: it reads the block's last ReLU output.
    assert layer.input is full_model.get_layer(layer.name[:-len("norm")]).output


@pytest.mark.parametrize("width, size", [(0.25, 64), (0.5, 32), (1 / 16, 224)])
def test_width_and_grey_size_scale_shapes(width, size):
  model = features.build_feature_network({"width": width}, grey_size=size)
  assert_zhang_layers(model, width, size)
  c = max(1, round(512 * width))
  assert tuple(model.output["grey_features"].shape) == (None, size // 8, size // 8, c)
  assert tuple(model.output["logits"].shape) == (None, size // 4, size // 4, 313)


def test_build_trunk_ends_at_g():
  model = features.build_feature_network(TINY, grey_size=32)
  trunk = features.build_trunk(model)
  assert tuple(trunk.output.shape) == (None, 4, 4, 32)
  assert trunk.output is model.get_layer("conv7_3").output
  names = [layer.name for layer in trunk.layers]
  assert "conv7_3" in names and "conv7_3norm" not in names
  assert not any(name.startswith("conv8") for name in names)
  grey = np.random.default_rng(0).uniform(0, 100, (2, 32, 32, 1)).astype(np.float32)
  np.testing.assert_array_equal(trunk(grey, training=False).numpy(),
                                model(grey, training=False)["grey_features"].numpy())


@pytest.mark.parametrize("kwargs", [
    dict(features_config={"width": 0.0}),
    dict(features_config=TINY, grey_size=36),
    dict(features_config=TINY, grey_size=0),
    dict(features_config=TINY, lightness_norm=0.0),
])
def test_bad_arguments(kwargs):
  with pytest.raises(ValueError):
    features.build_feature_network(**kwargs)


# Padding: caffe pads every stride-2 convolution by 1 on each side, and crops the deconvolution by 1.


@pytest.fixture(scope="module")
def tiny_model():
  keras.utils.set_random_seed(1)
  return features.build_feature_network(TINY, grey_size=32)


def caffe_conv(x, kernel, bias, stride, pad):
  """Caffe's Convolution + ReLU, written out in numpy: x [H, W, c], kernel (kh, kw, c, n)."""
  x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
  k = kernel.shape[0]
  out_h = (x.shape[0] - k) // stride + 1
  out_w = (x.shape[1] - k) // stride + 1
  out = np.zeros((out_h, out_w, kernel.shape[-1]))
  for i in range(out_h):
    for j in range(out_w):
      patch = x[i * stride:i * stride + k, j * stride:j * stride + k]
      out[i, j] = np.tensordot(patch, kernel, axes=3)
  return np.maximum(out + bias, 0.0)


def caffe_deconv(x, kernel, bias, stride, pad):
  """Caffe's (and PyTorch's) Deconvolution + ReLU: scatter-add, then crop ``pad`` on each side.

  kernel is Keras' Conv2DTranspose layout (kh, kw, out, in), i.e. caffe's W[in, out, kh, kw]
  transposed, with no spatial flip.
  """
  k = kernel.shape[0]
  h, w = x.shape[:2]
  full = np.zeros(((h - 1) * stride + k, (w - 1) * stride + k, kernel.shape[2]))
  for i in range(h):
    for j in range(w):
      full[i * stride:i * stride + k, j * stride:j * stride + k] += kernel @ x[i, j]
  return np.maximum(full[pad:full.shape[0] - pad, pad:full.shape[1] - pad] + bias, 0.0)


@pytest.mark.parametrize("name, side", [("conv1_2", 16), ("conv2_2", 8), ("conv3_3", 9)])
def test_stride_2_convs_pad_one_on_each_side(tiny_model, name, side):
  layer = tiny_model.get_layer(name)
  pad = tiny_model.get_layer(f"{name}_pad")
  kernel, bias = layer.get_weights()
  x = np.random.default_rng(2).normal(size=(1, side, side, kernel.shape[2])).astype(np.float32)
  ours = layer(pad(x)).numpy()[0]

  explicit = tf.nn.relu(tf.nn.conv2d(x, kernel, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]) + bias)
  np.testing.assert_allclose(ours, explicit.numpy()[0], atol=1e-5)
  np.testing.assert_allclose(ours, caffe_conv(x[0], kernel, bias, 2, 1), atol=1e-5)
  assert ours.shape[0] == (side + 2 - 3) // 2 + 1  # caffe's output size
  if side % 2 == 0:  # TF's 'same' pads (0, 1) here: a different (shifted) result
    same = tf.nn.relu(tf.nn.conv2d(x, kernel, 2, "SAME") + bias).numpy()[0]
    assert same.shape == ours.shape and np.abs(same - ours).max() > 1e-2


def test_stride_1_and_dilated_convs_pad_like_caffe(tiny_model):
  for name, pad in (("conv4_1", 1), ("conv5_1", 2)):
    layer = tiny_model.get_layer(name)
    kernel, bias = layer.get_weights()
    x = np.random.default_rng(3).normal(size=(1, 5, 6, kernel.shape[2])).astype(np.float32)
    explicit = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, [[0, 0], [pad, pad], [pad, pad], [0, 0]],
                                       dilations=pad) + bias)
    np.testing.assert_allclose(layer(x).numpy(), explicit.numpy(), atol=1e-5, err_msg=name)


def test_deconvolution_is_caffes_with_pad_one(tiny_model):
  layer = tiny_model.get_layer("conv8_1")
  kernel, bias = layer.get_weights()
  x = np.random.default_rng(4).normal(size=(1, 4, 5, kernel.shape[3])).astype(np.float32)
  ours = layer(x).numpy()[0]
  assert ours.shape[:2] == (8, 10)
  np.testing.assert_allclose(ours, caffe_deconv(x[0], kernel, bias, 2, 1), atol=1e-5)


# Weight import / export (divcolor_tf.models.zhang_weights: npz, caffe layouts).


def test_npz_round_trip(tmp_path):
  keras.utils.set_random_seed(5)
  source = features.build_feature_network(TINY, grey_size=32)
  randomise_norms(source, 6)
  path = zhang_weights.save_zhang_weights(source, tmp_path / "zhang.npz")
  with np.load(path) as archive:
    assert archive["conv1_1/kernel"].shape == (4, 1, 3, 3)  # caffe (out, in, kh, kw)
    assert archive["conv8_1/kernel"].shape == (32, 16, 4, 4)  # caffe deconv (in, out, kh, kw)
    assert archive["conv8_313/kernel"].shape == (313, 16, 1, 1)
    assert len(archive.files) == 2 * len(features.conv_layer_names()) + 2 * len(NORMS)

  keras.utils.set_random_seed(7)
  target = features.build_feature_network(TINY, grey_size=32)
  used = zhang_weights.load_zhang_weights(target, path)
  assert used == sorted(zhang_weights.zhang_weights(source))
  grey = np.random.default_rng(8).uniform(0, 100, (2, 32, 32, 1)).astype(np.float32)
  want, got = source(grey, training=False), target(grey, training=False)
  for key in ("grey_features", "logits"):
    np.testing.assert_array_equal(got[key].numpy(), want[key].numpy())

  # A trunk takes the same file and ignores conv7_3norm and conv8_*.
  trunk = features.build_trunk(features.build_feature_network(TINY, grey_size=32))
  used = zhang_weights.load_zhang_weights(trunk, path)
  assert not any(key.startswith(("conv8", "conv7_3norm")) for key in used)
  np.testing.assert_array_equal(trunk(grey, training=False).numpy(),
                                want["grey_features"].numpy())


@pytest.fixture(scope="module")
def tiny_weights():
  keras.utils.set_random_seed(9)
  return zhang_weights.zhang_weights(features.build_feature_network(TINY, grey_size=32))


def assert_one_line_error(model, path, *fragments):
  before = [w.copy() for w in model.get_weights()]
  with pytest.raises(ValueError) as info:
    zhang_weights.load_zhang_weights(model, path)
  message = str(info.value)
  assert "\n" not in message
  for fragment in (str(path),) + fragments:
    assert fragment in message
  for old, new in zip(before, model.get_weights()):  # nothing assigned
    np.testing.assert_array_equal(old, new)


def test_missing_key_is_a_clear_error(tmp_path, tiny_model, tiny_weights):
  weights = dict(tiny_weights)
  del weights["conv5_2/bias"]
  path = tmp_path / "missing.npz"
  np.savez(path, **weights)
  assert_one_line_error(tiny_model, path, "'conv5_2/bias'", "missing")


def test_wrong_shape_is_a_clear_error(tmp_path, tiny_model, tiny_weights):
  weights = dict(tiny_weights)
  weights["conv4_3norm/variance"] = np.ones(5, np.float32)
  path = tmp_path / "shape.npz"
  np.savez(path, **weights)
  assert_one_line_error(tiny_model, path, "'conv4_3norm/variance'", "(5,)", "(32,)")

  # A file of another width: the first layer already disagrees.
  wider = features.build_feature_network({"width": 1 / 8}, grey_size=32)
  path = tmp_path / "narrow.npz"
  np.savez(path, **tiny_weights)
  assert_one_line_error(wider, path, "'conv1_1/kernel'", "(4, 1, 3, 3)", "(8, 1, 3, 3)")


def test_unreadable_weight_files(tmp_path, tiny_model):
  with pytest.raises(FileNotFoundError, match="no such weight file"):
    zhang_weights.load_zhang_weights(tiny_model, tmp_path / "absent.npz")
  np.save(tmp_path / "single.npy", np.zeros(3))
  with pytest.raises(ValueError, match="single.npy"):
    zhang_weights.load_zhang_weights(tiny_model, tmp_path / "single.npy")
  (tmp_path / "text.npz").write_text("not weights")
  with pytest.raises(ValueError, match="text.npz"):
    zhang_weights.load_zhang_weights(tiny_model, tmp_path / "text.npz")
  with pytest.raises(ValueError, match="none of Zhang"):
    zhang_weights.zhang_weights(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))


def test_pytorch_state_dict_names_without_torch(tiny_weights):
  """The converter on a state dict written by hand: eccv16 names in, released names out."""
  to_released = zhang_weights.pytorch_eccv16_names()
  assert to_released["model1.0"] == "conv1_1" and to_released["model1.4"] == "conv1_2norm"
  assert to_released["model3.6"] == "conv3_3norm" and to_released["model8.0"] == "conv8_1"
  assert to_released["model8.6"] == "conv8_313"
  suffixes = {"kernel": "weight", "bias": "bias", "mean": "running_mean",
              "variance": "running_var"}
  from_released = {v: k for k, v in to_released.items()}
  state = {}
  for key, value in tiny_weights.items():
    layer, suffix = key.split("/")
    state[f"{from_released[layer]}.{suffixes[suffix]}"] = value
  state["model1.4.num_batches_tracked"] = np.array(3)
  state["model_out.weight"] = np.zeros((2, 313, 1, 1))  # the 313 -> ab layer: dropped
  state["model2.4.weight"] = np.ones(8)  # an affine BN at the identity is accepted
  state["model2.4.bias"] = np.zeros(8)
  converted = zhang_weights.convert_pytorch_state_dict(state)
  assert sorted(converted) == sorted(tiny_weights)
  for key, value in tiny_weights.items():
    np.testing.assert_array_equal(converted[key], value)

  with pytest.raises(ValueError, match="model2.4.weight"):
    zhang_weights.convert_pytorch_state_dict({**state, "model2.4.weight": np.full(8, 2.0)})
  del state["model6.2.bias"]
  with pytest.raises(ValueError, match="model6.2.bias"):
    zhang_weights.convert_pytorch_state_dict(state)


# Parity with Zhang et al.'s PyTorch port (richzhang/colorization, eccv16), when torch is there.


def pytorch_eccv16(torch):
  """Zhang et al.'s ECCV16 generator as richzhang/colorization's eccv16.py builds it."""
  nn = torch.nn

  def block(c_in, c_out, num_convs, last_stride=1, dilation=1):
    layers = []
    for i in range(num_convs):
      stride = last_stride if i == num_convs - 1 else 1
      layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, kernel_size=3, stride=stride,
                           padding=dilation, dilation=dilation, bias=True), nn.ReLU(True)]
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out, affine=False))

  class ECCVGenerator(nn.Module):

    def __init__(self):
      super().__init__()
      self.model1 = block(1, 64, 2, last_stride=2)
      self.model2 = block(64, 128, 2, last_stride=2)
      self.model3 = block(128, 256, 3, last_stride=2)
      self.model4 = block(256, 512, 3)
      self.model5 = block(512, 512, 3, dilation=2)
      self.model6 = block(512, 512, 3, dilation=2)
      self.model7 = block(512, 512, 3)
      self.model8 = nn.Sequential(
          nn.ConvTranspose2d(512, 256, kernel_size=4, stride=2, padding=1, bias=True),
          nn.ReLU(True),
          nn.Conv2d(256, 256, kernel_size=3, stride=1, padding=1, bias=True), nn.ReLU(True),
          nn.Conv2d(256, 256, kernel_size=3, stride=1, padding=1, bias=True), nn.ReLU(True),
          nn.Conv2d(256, 313, kernel_size=1, stride=1, padding=0, bias=True))
      self.model_out = nn.Conv2d(313, 2, kernel_size=1, bias=False)

    def forward(self, lightness):
      """(L - 50) / 100 in, (conv7_3's ReLU output, the 313 logits) out."""
      x = lightness
      for i in range(1, 7):
        x = getattr(self, f"model{i}")(x)
      conv7_3 = self.model7[:-1](x)
      return conv7_3, self.model8(self.model7[-1](conv7_3))

  return ECCVGenerator()


def test_pytorch_parity(lightness, tmp_path):
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    pytest.skip("torch is not importable (optional extra: pip install -e '.[torch]'); "
                "no PyTorch parity check")
  torch.manual_seed(0)
  net = pytorch_eccv16(torch)
  l_norm = (lightness.transpose(0, 3, 1, 2) - 50.0) / 100.0  # the port's normalize_l
  with torch.no_grad():
    # Non-trivial running statistics: one train-mode pass on the photo sets them (momentum 1) to
    # its batch statistics, which keeps random-weight activations in range; then perturb them.
    for module in net.modules():
      if isinstance(module, torch.nn.BatchNorm2d):
        module.momentum = 1.0
    net.train()
    net(torch.from_numpy(l_norm))
    for module in net.modules():
      if isinstance(module, torch.nn.BatchNorm2d):
        module.running_mean.add_(
            0.2 * module.running_var.sqrt() * torch.randn_like(module.running_mean))
        module.running_var.mul_(torch.empty_like(module.running_var).uniform_(0.5, 2.0))
    net.eval()
    want_g, want_logits = (t.numpy().transpose(0, 2, 3, 1) for t in net(torch.from_numpy(l_norm)))
  assert want_g.shape == (1, 28, 28, 512) and want_logits.shape == (1, 56, 56, 313)
  assert want_g.std() > 1e-2 and want_logits.std() > 1e-2  # a live signal, not all zeros

  weights = zhang_weights.convert_pytorch_state_dict(net.state_dict())
  np.savez(tmp_path / "eccv16.npz", **weights)
  model = features.build_feature_network({"width": 1.0}, lightness_norm=100.0)
  zhang_weights.load_zhang_weights(model, tmp_path / "eccv16.npz")
  got = model(lightness, training=False)
  for key, want in (("grey_features", want_g), ("logits", want_logits)):
    error = np.abs(got[key].numpy() - want).max() / np.abs(want).max()
    print(f"PyTorch parity {key}: max |diff| / max |PyTorch| = {error:.2e}")
    assert error < 1e-4, key

  # The caffe convention (input L - 50, lightness_norm 1) is the same network with conv1_1's
  # kernel divided by 100: what a conversion of the port's weights to caffe's input needs.
  weights["conv1_1/kernel"] = weights["conv1_1/kernel"] / 100.0
  np.savez(tmp_path / "eccv16_caffe.npz", **weights)
  trunk = features.build_trunk(features.build_feature_network({"width": 1.0}))
  zhang_weights.load_zhang_weights(trunk, tmp_path / "eccv16_caffe.npz")
  got_g = trunk(lightness, training=False).numpy()
  assert np.abs(got_g - want_g).max() / np.abs(want_g).max() < 1e-4
