"""The ImageNet-pretrained grey trunk in the model (features.network=efficientnet_lite0; issue 44):
the grey level it reads, its endpoints, and a workdir that trains, colorizes and exports with it."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from conftest import have_imagenet_weights
from conftest import needs_imagenet_weights
from divcolor_tf import color
from divcolor_tf import colorize
from divcolor_tf import config as config_lib
from divcolor_tf import export
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.inference import colorizer as colorizer_lib
from divcolor_tf.models import efficientnet_lite
from divcolor_tf.models import features

HAVE_WEIGHTS = have_imagenet_weights()
needs_weights = needs_imagenet_weights


def test_the_grey_level_of_a_lightness_is_the_grey_photo_that_has_it():
  grey = np.arange(256, dtype=np.float32)
  rgb = np.repeat(grey[:, None], 3, axis=1)[None, None] / 255.0  # [1, 1, 256, 3] neutral greys
  lightness = color.rgb_to_lightness(tf.constant(rgb))
  back = features.GreyLevel()(lightness).numpy().ravel()
  np.testing.assert_allclose(back, grey, atol=0.05)


@pytest.mark.parametrize("endpoints, shape", [(("stride_32",), (2, 2, 320)),
                                              (("stride_16", "stride_32"), (2, 2, 432)),
                                              (("stride_8",), (8, 8, 40))])
def test_the_endpoints_it_reads(endpoints, shape):
  trunk = features.build_pretrained_trunk({"endpoints": endpoints}, grey_size=64, weights=False)
  assert tuple(trunk.input.shape[1:]) == (64, 64, 1) and tuple(trunk.output.shape[1:]) == shape
  with pytest.raises(ValueError, match="features.endpoints must name some of stride_2"):
    features.build_pretrained_trunk({"endpoints": ("conv7",)}, weights=False)


@needs_weights
def test_it_is_efficientnet_lite0_with_its_imagenet_weights():
  trunk = features.build_pretrained_trunk({"endpoints": ("stride_16",)}, grey_size=96)
  reference = efficientnet_lite.pretrained_efficientnet_lite0()  # grey level in, 5 endpoints
  lightness = np.random.default_rng(0).uniform(0, 100, (2, 96, 96, 1)).astype(np.float32)
  grey = features.GreyLevel()(lightness)
  np.testing.assert_allclose(trunk(lightness), reference(grey)["stride_16"], atol=1e-4)


@needs_weights
def test_a_workdir_with_the_pretrained_trunk_trains_colorizes_and_exports(
    skip_stages, repo_root, lfw_ci, tmp_path):
  import tiny_models  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import features as train_features  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import mdn as train_mdn  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "w")
  shutil.copytree(skip_stages, workdir)  # the tiny +skip VAE (and a Zhang trunk, replaced here)
  config = tiny_models.tiny_config(repo_root, lfw_ci, "skip")
  config.features.network = "efficientnet_lite0"
  assert train_features.train(config, workdir, verbose=0) is None  # nothing to train
  trunk = workdir_lib.load_keras(workdir, workdir_lib.TRUNK)
  assert tuple(trunk.output.shape[1:]) == (2, 2, 320)  # 64x64 grey -> stride 32
  saved = json.load(open(os.path.join(workdir, "features", "config.json")))
  assert saved["features"]["network"] == "efficientnet_lite0" and saved["method"] == "divcolor"
  train_mdn.train(config, workdir, verbose=0)
  photo = (np.random.default_rng(1).uniform(0, 1, (40, 52, 3)) * 255).astype(np.uint8)
  ours = colorize.load(workdir).colorize(photo, k=3)
  out = export.export_saved_model(workdir, str(tmp_path / "export"))
  exported = colorize.load(out).colorize(photo, k=3)
  diff = np.abs(ours.colorizations.astype(int) - exported.colorizations.astype(int))
  assert diff.max() <= 1
  np.testing.assert_allclose(ours.weights, exported.weights, atol=1e-5)
  # the export's Keras models rebuilt (exported.unpack: the method's models from its config)
  rebuilt = colorizer_lib.load_pipeline(out).colorize(photo, k=3)
  assert np.abs(rebuilt.colorizations.astype(int) - ours.colorizations.astype(int)).max() <= 1


def test_an_unknown_network_is_one_line(repo_root):
  config = config_lib.load(str(repo_root / "configs" / "lfw.py") + ":tiny")
  config.features.network = "resnet50"
  with pytest.raises(config_lib.ConfigError,
                     match="features.network='resnet50': must be 'zhang' or 'efficientnet_lite0'"):
    config_lib.validate(config)
