"""The MDN trainer (Section 4, Eq. 6) on real faces, over the frozen networks of tiny earlier stages:
gradients, frozen weights, train / resume / feature cache, missing stages, divcolor-train-mdn."""

import csv
import io
import math
import os
import shutil
import subprocess

from conftest import console_script
import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import tiny_models

from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf import losses
from divcolor_tf import training
from divcolor_tf.trainers import mdn as train_mdn


VARIANCE = 0.1


def _tiny_config(repo_root, lfw_ci):
  return tiny_models.tiny_config(repo_root, lfw_ci, "skip")  # the bundled recipe's decoder


@pytest.fixture
def tiny_config(repo_root, lfw_ci):
  return _tiny_config(repo_root, lfw_ci)


@pytest.fixture(scope="module")
def stages(skip_stages):
  """A workdir holding the tiny "+skip" VAE and feature network (conftest's, shared)."""
  return skip_stages


def _copy_stages(src, dst, trunk=True):
  """A fresh workdir with the earlier stages' model files only (each MDN run writes its own mdn/)."""
  os.makedirs(os.path.join(dst, "features"), exist_ok=True)
  shutil.copy(os.path.join(src, "encoder.keras"), dst)
  if trunk:
    shutil.copy(os.path.join(src, "features", "trunk.keras"), os.path.join(dst, "features"))
  return str(dst)


@pytest.fixture(scope="module")
def face_batch(lfw_ci):
  """Four real faces: grey 64x64 and their 64x64 colour fields."""
  paths = data.list_images(str(lfw_ci))[:4]
  batch = next(iter(data.make_dataset(paths, grey_size=64, batch_size=4)))
  return {"grey": batch["grey"], "colour_field": batch["colour_field"]}


@pytest.fixture
def trainer(stages, repo_root, lfw_ci):
  keras.utils.set_random_seed(0)
  trunk, encoder = training.load_frozen(stages)
  return train_mdn.build_trainer(_tiny_config(repo_root, lfw_ci), trunk, encoder)


def _history(out):
  with open(os.path.join(out, "history.csv")) as f:
    return list(csv.DictReader(f))


def test_only_the_nearest_mean_receives_gradient(trainer, face_batch):
  """d L / d mu_i = (mu_m - z) / sigma^2 for i = m = argmin ||z - mu_i||, 0 for every other mean;
  d L / d logits = softmax - onehot(m) for every logit (per example, divided by the batch)."""
  frozen = trainer.features(face_batch)
  z = frozen["mean"]  # a fixed embedding of each face's colour field
  with tf.GradientTape() as tape:
    outputs = trainer.mdn(frozen["grey_features"], training=False)
    means, logits = outputs["means"], outputs["logits"]
    loss = tf.nn.compute_average_loss(losses.mdn_loss(z, means, logits, variance=VARIANCE))
  grad_means, grad_logits = (g.numpy() for g in tape.gradient(loss, [means, logits]))
  z, means, logits = z.numpy(), means.numpy(), logits.numpy()
  batch, components, _ = means.shape
  nearest = np.argmin(((z[:, None] - means) ** 2).sum(-1), axis=-1)
  onehot = np.eye(components)[nearest]
  expected = onehot[..., None] * (means - z[:, None]) / VARIANCE / batch
  np.testing.assert_allclose(grad_means, expected, rtol=1e-4, atol=1e-7)
  for b, m in enumerate(nearest):
    assert np.all(grad_means[b, np.arange(components) != m] == 0)
    assert np.abs(grad_means[b, m]).max() > 0
  pi = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  np.testing.assert_allclose(grad_logits, (pi - onehot) / batch, rtol=1e-4, atol=1e-7)
  assert np.all(grad_logits != 0)  # every logit, through the softmax


def test_the_training_objective_trains_the_nearest_mean(trainer, face_batch):
  """The trainer's own objective on one face with a near-zero posterior variance (z = mean): the
  gradient of the means layer's bias is d L / d mu, non-zero in the row of the nearest mean only."""
  frozen = trainer.features({k: v[:1] for k, v in face_batch.items()})
  batch = dict(frozen, log_var=tf.fill(tf.shape(frozen["mean"]), -60.0))
  means_bias = trainer.mdn.get_layer("mdn_fc_means").bias
  logits_bias = trainer.mdn.get_layer("mdn_fc_logits").bias
  with tf.GradientTape() as tape:
    per_example, terms = trainer.objective(batch, training=False)
  grad_means, grad_logits = (g.numpy() for g in tape.gradient(per_example,
                                                             [means_bias, logits_bias]))
  outputs = trainer(batch)
  means, logits = outputs["means"].numpy()[0], outputs["logits"].numpy()[0]
  z = frozen["mean"].numpy()[0]
  m = int(np.argmin(((z - means) ** 2).sum(-1)))
  grad_means = grad_means.reshape(means.shape)
  np.testing.assert_allclose(grad_means[m], (means[m] - z) / VARIANCE, rtol=1e-3, atol=1e-5)
  assert np.all(np.delete(grad_means, m, axis=0) == 0)
  assert np.all(grad_logits != 0)
  # The logged terms add up to Eq. 6.
  log_pi = logits - np.log(np.exp(logits).sum())
  np.testing.assert_allclose(terms["neg_log_pi"].numpy(), [-log_pi[m]], rtol=1e-5)
  np.testing.assert_allclose(per_example.numpy(),
                             [-log_pi[m] + ((z - means[m]) ** 2).sum() / (2 * VARIANCE)],
                             rtol=1e-4)
  assert float(terms["components_used"]) == 1.0


def test_a_train_step_changes_the_mdn_only(trainer, face_batch):
  trunk, encoder = trainer.frozen.trunk, trainer.frozen.encoder
  frozen_ids = {id(v) for v in trunk.weights + encoder.weights}
  assert {id(v) for v in trainer.trainable_variables} == {id(v) for v in
                                                          trainer.mdn.trainable_variables}
  assert not frozen_ids & {id(v) for v in trainer.weights}  # nor in its checkpoints
  before = {"trunk": trunk.get_weights(), "encoder": encoder.get_weights(),
            "mdn": trainer.mdn.get_weights()}
  trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
  logs = trainer.train_step(face_batch)
  assert all(np.isfinite(float(v)) for v in logs.values()) and set(logs) == set(train_mdn.TERMS)
  for name in ("trunk", "encoder"):  # every weight, BN moving statistics included
    after = (trunk if name == "trunk" else encoder).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before[name], after)), name
  assert any(not np.array_equal(a, b) for a, b in zip(before["mdn"], trainer.mdn.get_weights()))


def test_train_logs_every_term_resumes_and_caches_features(stages, tiny_config, tmp_path):
  workdir = _copy_stages(stages, tmp_path / "run")
  out = os.path.join(workdir, "mdn")
  assert train_mdn.train(tiny_config, workdir, verbose=0) is not None
  for name in ("mdn.keras", "config.json", "history.csv", "checkpoints/state.json"):
    assert os.path.exists(os.path.join(out, name)), name
  (row,) = _history(out)
  for prefix in ("", "val_"):
    values = {term: float(row[prefix + term]) for term in train_mdn.TERMS}
    assert all(np.isfinite(v) for v in values.values()), values
    assert values["loss"] == pytest.approx(values["neg_log_pi"] + values["distance"], rel=1e-4)
    assert values["distance"] > 0 and values["neg_log_pi"] > 0
    assert 0 <= values["pi_entropy"] <= math.log(tiny_config.mdn.components) + 1e-5
    assert 1 <= values["components_used"] <= tiny_config.mdn.batch_size
  assert float(row["seconds"]) > 0
  assert config_lib.load_resolved(out).mdn.width == tiny_config.mdn.width

  mdn = train_mdn.load_mdn(workdir)
  trunk = keras.models.load_model(os.path.join(workdir, "features", "trunk.keras"))
  assert tuple(mdn.input.shape[1:]) == tuple(trunk.output.shape[1:])
  assert tuple(mdn.output["means"].shape[1:]) == (tiny_config.mdn.components,
                                                  tiny_config.vae.latent_dim)
  assert train_mdn.train(tiny_config, workdir, verbose=0) is None  # already done

  # One more epoch with the feature cache on: resumes from the uncached run's checkpoint.
  first = mdn.get_weights()
  tiny_config.mdn.cache_features = True
  tiny_config.mdn.epochs = 2
  assert train_mdn.train(tiny_config, workdir, verbose=0) is not None
  rows = _history(out)
  assert [r["epoch"] for r in rows] == ["0", "1"]
  assert all(np.isfinite(float(rows[1][t])) for t in train_mdn.TERMS)
  second = train_mdn.load_mdn(workdir).get_weights()
  assert any(not np.allclose(a, b) for a, b in zip(first, second))


def test_cached_features_equal_the_ones_computed_in_the_step(stages, lfw_ci):
  trunk, encoder = training.load_frozen(stages)
  paths = data.list_images(str(lfw_ci))[:6]
  common = dict(field_size=64, grey_size=64, batch_size=3, shuffle=False, seed=0, repeat=False,
                drop_remainder=False, shuffle_buffer=8, drop_near_grey=True,
                near_grey_threshold=data.NEAR_GREY_THRESHOLD, skip_log=data.SkipLog())
  cached = next(iter(train_mdn.cached_feature_dataset(paths, trunk, encoder, **common)(0)))
  photos = next(iter(train_mdn.photo_dataset(paths, cache=False, **common)(0)))
  computed = train_mdn.frozen_features(photos, trunk, encoder)
  assert cached["grey_features"].shape == (3, 8, 8, 32)
  for key in ("grey_features", "mean", "log_var"):
    np.testing.assert_allclose(cached[key].numpy(), computed[key].numpy(), rtol=1e-4, atol=1e-5)
  assert float(tf.reduce_max(tf.abs(computed["grey_features"]))) > 0


def test_missing_stages_raise_one_line_naming_the_file_and_its_command(stages, tiny_config,
                                                                      tmp_path):
  empty = str(tmp_path / "empty")
  os.makedirs(empty)
  with pytest.raises(train_mdn.MissingStageError) as error:
    train_mdn.train(tiny_config, empty, verbose=0, config_hint="configs/lfw.py:tiny")
  message = str(error.value)
  assert "\n" not in message
  assert os.path.join(empty, "encoder.keras") in message
  assert f"divcolor-train-vae --config configs/lfw.py:tiny --workdir {empty}" in message
  assert os.listdir(empty) == []  # nothing written

  half = _copy_stages(stages, tmp_path / "half", trunk=False)
  with pytest.raises(train_mdn.MissingStageError,
                     match=r"features/trunk\.keras: missing; .*`divcolor-train-features --config "
                           r"CONFIG --workdir "):
    train_mdn.train(tiny_config, half, verbose=0)
  with pytest.raises(train_mdn.MissingStageError, match=r"mdn\.keras: missing; .*divcolor-train-mdn"):
    train_mdn.load_mdn(half)


def test_cli_missing_stage_prints_one_line_and_exits_1(repo_root, tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  run = subprocess.run([*console_script("divcolor-train-mdn"), "--config", "configs/lfw.py:tiny",
                        "--workdir", str(tmp_path), "--verbose", "0"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=str(repo_root))
  assert run.returncode == 1
  assert "Traceback" not in run.stderr
  (line,) = [l for l in run.stderr.splitlines() if l.startswith("divcolor-train-mdn:")]
  assert line == (f"divcolor-train-mdn: {tmp_path / 'encoder.keras'}: missing; make it first with "
                  f"`divcolor-train-vae --config configs/lfw.py:tiny --workdir {tmp_path}`")


def test_cli_trains_the_tiny_config(stages, repo_root, lfw_ci, tmp_path):
  workdir = _copy_stages(stages, tmp_path / "cli")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  run = subprocess.run(
      [*console_script("divcolor-train-mdn"), "--config", str(repo_root / "configs" / "lfw.py") +
       ":tiny,skip", "--workdir", workdir, "--verbose", "0", f"--config.data.train={lfw_ci}",
       "--config.mdn.steps_per_epoch=1"],
      capture_output=True, text=True, env=env, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  out = os.path.join(workdir, "mdn")
  assert os.path.exists(os.path.join(out, "mdn.keras"))
  assert config_lib.load_resolved(out).mdn.steps_per_epoch == 1
  (row,) = _history(out)
  assert all(np.isfinite(float(row[t])) for t in train_mdn.TERMS)


def test_tensorboard_shows_the_top_k_colorizations_and_history_png_the_curves(stages, tiny_config,
                                                                              tmp_path):
  workdir = _copy_stages(stages, tmp_path / "run")
  shutil.copy(os.path.join(stages, "decoder.keras"), workdir)
  train_mdn.train(tiny_config, workdir, verbose=0)
  out = os.path.join(workdir, "mdn")
  with Image.open(os.path.join(out, "history.png")) as curves:
    assert curves.format == "PNG" and curves.size[0] > 300
  events = [os.path.join(root, name) for root, _, names in
            os.walk(os.path.join(out, "tensorboard", "images")) for name in names]
  images = [value for path in events for event in tf.compat.v1.train.summary_iterator(path)
            for value in event.summary.value if value.tag == train_mdn.TopKImages.TAG]
  assert len(images) == 1  # one epoch
  width, height, *pngs = images[0].tensor.string_val
  k = min(5, tiny_config.mdn.components)
  assert (int(width), int(height)) == ((k + 1) * 128, 128) and len(pngs) >= 1
  row = np.asarray(Image.open(io.BytesIO(pngs[0])))
  grey = row[:, :128]
  assert np.array_equal(grey[..., 0], grey[..., 2])  # the grey input, then k colorizations
