"""The grey feature network's own training (Zhang et al.'s task) on real faces: loss, targets,
train / resume, overfitting a batch, and divcolor-train-features."""

import csv
import json
import math
import os
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import console_script
import tiny_models
from divcolor_tf import color
from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf import losses
from divcolor_tf.trainers import features as train_features
from divcolor_tf.models import features


@pytest.fixture
def tiny_config(repo_root, lfw_ci):
  return tiny_models.tiny_config(repo_root, lfw_ci)


@pytest.fixture(scope="module")
def face_batch(lfw_ci):
  """Four real faces: grey 64x64 (the tiny config's S) and their 64x64 colour fields."""
  paths = data.list_images(str(lfw_ci))[:4]
  batch = next(iter(data.make_dataset(paths, grey_size=64, batch_size=4)))
  return {"grey": batch["grey"], "colour_field": batch["colour_field"]}


def _history(out):
  with open(os.path.join(out, "history.csv")) as f:
    return list(csv.DictReader(f))


def test_rebalanced_cross_entropy_by_hand():
  """Two pixels, three bins. Example 0: uniform logits (CE = log 3) on a target peaked at bin 0,
  then logits log(1, 2, 1) (softmax 1/4, 1/2, 1/4) on a target peaked at bin 2:
  CE = -(0.2 log 1/4 + 0.2 log 1/2 + 0.6 log 1/4) = 1.8 log 2. Example 1: the same logits with
  targets peaked at bins 1 and 1, so the weight is w[1] at both pixels."""
  w = np.array([0.5, 2.0, 1.5], np.float32)
  logits = np.log(np.array([[[[1, 1, 1], [1, 2, 1]]],
                            [[[1, 1, 1], [1, 2, 1]]]], np.float32))  # [2, 1, 2, 3]
  targets = np.array([[[[0.7, 0.2, 0.1], [0.2, 0.2, 0.6]]],
                      [[[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]]]], np.float32)
  loss = losses.rebalanced_cross_entropy(logits, targets, w).numpy()
  ce_second_pixel_example1 = -math.log(0.5)  # all target mass on bin 1, softmax 1/2
  expected = [(w[0] * math.log(3) + w[2] * 1.8 * math.log(2)) / 2,
              (w[1] * math.log(3) + w[1] * ce_second_pixel_example1) / 2]
  assert loss.shape == (2,) and loss.dtype == np.float32
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  # bf16 logits are computed in float32.
  np.testing.assert_allclose(
      losses.rebalanced_cross_entropy(tf.cast(logits, tf.bfloat16), targets, w).numpy(),
      expected, rtol=1e-2)


def test_pixel_accuracy_by_hand():
  logits = np.zeros([2, 2, 2, 3], np.float32)
  top = np.array([[[0, 1], [2, 2]], [[1, 1], [1, 1]]])  # the top-1 bin of each pixel
  np.put_along_axis(logits, top[..., None], 5.0, axis=-1)
  targets = np.array([[[0, 1], [2, 0]], [[0, 0], [1, 2]]], np.int32)
  np.testing.assert_allclose(train_features.pixel_accuracy(logits, targets).numpy(), [0.75, 0.25])


def test_targets_are_soft_encoded_at_the_output_resolution(tiny_config, face_batch):
  network = features.build_feature_network(tiny_config.features, grey_size=64)
  trainer = train_features.FeatureTrainer(network, bin_weights=np.ones(313, np.float32))
  soft, nearest = trainer.targets(face_batch["colour_field"])
  assert trainer.output_size == 16  # S/4
  assert soft.shape == (4, 16, 16, 313) and nearest.shape == (4, 16, 16)
  assert soft.shape == trainer(face_batch["grey"]).shape
  np.testing.assert_allclose(tf.reduce_sum(soft, -1).numpy(), 1.0, atol=1e-5)
  assert int(tf.reduce_max(tf.math.count_nonzero(soft, axis=-1))) <= 5  # k = 5 bins per pixel
  # q* is the nearest bin of the photo's ab (Lab units) resized to 16x16.
  ab = tf.image.resize(face_batch["colour_field"] * 128.0, [16, 16], antialias=True)
  np.testing.assert_array_equal(nearest.numpy(), color.nearest_bin(ab).numpy())
  np.testing.assert_array_equal(nearest.numpy(), tf.argmax(soft, -1).numpy())
  assert len(np.unique(nearest.numpy())) > 5  # real faces: many different bins, not one
  # The targets' mean ab lies near the photo's ab (in Lab units, not ab / 128).
  mean_ab = tf.einsum("bhwq,qc->bhwc", soft, tf.constant(color.ab_bins(), tf.float32))
  assert float(tf.reduce_max(tf.abs(mean_ab - ab))) < 8.0
  assert float(tf.reduce_max(tf.abs(ab))) > 20.0


def test_the_loss_falls_when_overfitting_one_batch(tiny_config, small_stats, face_batch):
  """30 Adam steps at lr 3e-3 on four faces: a wrong gradient (sign, target, weights) fails this."""
  keras.utils.set_random_seed(0)
  trainer = train_features.build_trainer(tiny_config, small_stats)
  trainer.compile(optimizer=keras.optimizers.Adam(3e-3))

  def loss():
    return float(tf.reduce_mean(trainer.objective(face_batch, training=True)[0]))

  before = loss()
  history = trainer.fit(tf.data.Dataset.from_tensors(face_batch).repeat(30), epochs=1, verbose=0)
  after = loss()
  assert np.isfinite(before) and np.isfinite(after)
  assert after < 0.6 * before, (before, after)
  assert set(history.history) == {"loss", "accuracy"}


def test_train_writes_everything_and_resumes(tiny_config, tmp_path, face_batch):
  workdir = str(tmp_path / "run")
  out = os.path.join(workdir, "features")
  assert train_features.train(tiny_config, workdir, verbose=0) is not None
  for name in ("config.json", "features.keras", "trunk.keras", "history.csv",
               "checkpoints/state.json", "checkpoints/epoch-0001.weights.h5"):
    assert os.path.exists(os.path.join(out, name)), name
  assert os.path.exists(os.path.join(workdir, "stats.npz"))  # computed first, shared with the VAE
  (row,) = _history(out)
  for term in ("loss", "accuracy", "val_loss", "val_accuracy"):
    assert np.isfinite(float(row[term])), term
  assert float(row["loss"]) > 0 and 0 <= float(row["accuracy"]) <= 1

  config, network, trunk = train_features.load_models(workdir)
  assert config.features.width == tiny_config.features.width
  side = tiny_config.data.grey_size // 8
  assert tuple(trunk.output.shape[1:]) == (side, side, round(512 * tiny_config.features.width))
  assert tuple(trunk.input.shape[1:]) == (64, 64, 1)
  np.testing.assert_allclose(trunk(face_batch["grey"]).numpy(),
                             network(face_batch["grey"])["grey_features"].numpy(), atol=1e-5)
  assert network.output["logits"].shape[1:] == (16, 16, 313)

  # "Interrupted" after epoch 1: the same command with more epochs carries on from there.
  first = network.get_weights()
  tiny_config.features.epochs = 2
  train_features.train(tiny_config, workdir, verbose=0)
  assert [r["epoch"] for r in _history(out)] == ["0", "1"]
  with open(os.path.join(out, "checkpoints", "state.json")) as f:
    assert json.load(f)["epoch"] == 2
  _, network, _ = train_features.load_models(workdir)
  assert any(not np.allclose(a, b) for a, b in zip(first, network.get_weights()))
  assert train_features.train(tiny_config, workdir, verbose=0) is None  # already done


def test_cli_trains_the_tiny_config(repo_root, lfw_ci, tmp_path):
  workdir = str(tmp_path / "cli")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  run = subprocess.run(
      [*console_script("divcolor-train-features"),
       "--config", str(repo_root / "configs" / "lfw.py") + ":tiny", "--workdir", workdir,
       "--verbose", "0", f"--config.data.train={lfw_ci}", "--config.features.steps_per_epoch=1"],
      capture_output=True, text=True, env=env, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  out = os.path.join(workdir, "features")
  for name in ("features.keras", "trunk.keras", "history.csv"):
    assert os.path.exists(os.path.join(out, name)), name
  assert config_lib.load_resolved(out).features.steps_per_epoch == 1
  (row,) = _history(out)
  assert np.isfinite(float(row["loss"]))


def test_zhang_weights_start_the_network_and_epochs_0_keeps_them_as_released(tiny_config,
                                                                               tmp_path):
  """features.zhang_weights: the released layers (here a perturbed network of the same width,
  written in the release's caffe layout) are the trunk the MDN gets; epochs=0 trains nothing."""
  from divcolor_tf.models import zhang_weights  # pylint: disable=g-import-not-at-top
  released = features.build_feature_network(tiny_config.features,
                                            grey_size=tiny_config.data.grey_size,
                                            lightness_norm=100.0)
  rng = np.random.default_rng(0)
  for weight in released.weights:
    weight.assign(weight.numpy() + rng.uniform(0.5, 1.0, weight.shape).astype(np.float32))
  npz = zhang_weights.save_zhang_weights(released, str(tmp_path / "zhang.npz"))
  tiny_config.features.zhang_weights = npz
  tiny_config.features.lightness_norm = 100.0
  tiny_config.features.epochs = 0
  workdir = str(tmp_path / "run")
  train_features.train(tiny_config, workdir, verbose=0)
  trunk = keras.models.load_model(os.path.join(workdir, "features", "trunk.keras"))
  reference = features.build_trunk(released)
  grey = np.linspace(0, 100, 64 * 64, dtype=np.float32).reshape(1, 64, 64, 1)
  np.testing.assert_allclose(trunk(grey).numpy(), reference(grey).numpy(), rtol=1e-5, atol=1e-5)

  tiny_config.init_from = workdir
  with pytest.raises(ValueError, match="one of init_from and features.zhang_weights"):
    train_features.train(tiny_config, str(tmp_path / "both"), verbose=0)
  tiny_config.init_from = ""
  tiny_config.features.zhang_weights = str(tmp_path / "nowhere.npz")
  with pytest.raises(FileNotFoundError, match="nowhere.npz: no such weight file"):
    train_features.train(tiny_config, str(tmp_path / "missing"), verbose=0)
  assert not (tmp_path / "both").exists() and not (tmp_path / "missing").exists()
