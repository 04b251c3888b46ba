"""The VAE trainer end to end on real faces: train, resume, NaN guard, 1 vs 2 devices, evaluation."""

import csv
import json
import os
import subprocess

from conftest import console_script
import keras
import numpy as np
import pytest
import tensorflow as tf
import tiny_models

from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf import losses
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.evaluation import tables
from divcolor_tf.trainers import vae as train_vae


@pytest.fixture
def tiny_config(repo_root, lfw_ci):
  return tiny_models.tiny_config(repo_root, lfw_ci)


def _history(workdir):
  with open(os.path.join(workdir, "history.csv")) as f:
    return list(csv.DictReader(f))


def test_train_writes_everything_and_resumes(tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  train_vae.train(tiny_config, workdir, verbose=0)
  for name in ("config.json", "stats.npz", "history.csv", "encoder.keras", "decoder.keras",
               "checkpoints/state.json", "checkpoints/epoch-0001.weights.h5"):
    assert os.path.exists(os.path.join(workdir, name)), name
  (row,) = _history(workdir)
  for term in ("loss", "hist", "mah", "grad", "kl", "val_loss", "kl_weight"):
    assert np.isfinite(float(row[term])), term
  assert config_lib.load_resolved(workdir).vae.width == tiny_config.vae.width
  assert os.listdir(os.path.join(workdir, "tensorboard"))

  # "Interrupted" after epoch 1: the same command with more epochs carries on from there, and a
  # learning rate changed on the command line applies (not the one restored with the optimizer).
  first = keras.models.load_model(os.path.join(workdir, "encoder.keras")).get_weights()
  tiny_config.vae.epochs = 2
  tiny_config.vae.learning_rate = tiny_config.vae.learning_rate / 10
  train_vae.train(tiny_config, workdir, verbose=0)
  history = _history(workdir)
  assert [r["epoch"] for r in history] == ["0", "1"]
  assert float(history[1]["learning_rate"]) == pytest.approx(tiny_config.vae.learning_rate)
  assert float(history[0]["learning_rate"]) == pytest.approx(tiny_config.vae.learning_rate * 10)
  with open(os.path.join(workdir, "checkpoints", "state.json")) as f:
    assert json.load(f)["epoch"] == 2
  second = keras.models.load_model(os.path.join(workdir, "encoder.keras")).get_weights()
  assert any(not np.allclose(a, b) for a, b in zip(first, second))
  assert train_vae.train(tiny_config, workdir, verbose=0) is None  # already done: no training


def test_nan_loss_stops_with_a_clear_message_and_writes_no_checkpoint(tiny_config, small_stats,
                                                                     lfw_ci, tmp_path):
  """A diverged weight (as after a blown-up step) makes the loss NaN at the next step."""
  paths = data.list_images(str(lfw_ci))[:8]
  batch = next(iter(data.make_dataset(paths, grey_size=64, batch_size=8)))
  ds = tf.data.Dataset.from_tensors({k: batch[k] for k in ("colour_field", "lightness")})
  trainer = train_vae.build_trainer(tiny_config, small_stats)
  trainer.compile(optimizer=keras.optimizers.Adam(1e-4))
  last = trainer.decoder.get_layer("dec_conv5")
  kernel = last.get_weights()
  kernel[0][0, 0, 0, 0] = np.nan
  last.set_weights(kernel)
  ckpt = str(tmp_path / "checkpoints")
  with pytest.raises(FloatingPointError, match=r"epoch 1, step 1: non-finite loss"):
    trainer.fit(ds.repeat(2), epochs=1, verbose=0,
                callbacks=[training.NanGuard(ckpt), training.Checkpointer(ckpt)])
  assert not [f for f in os.listdir(ckpt) if f.endswith(".h5")]


def test_checkpointer_refuses_non_finite_weights(tiny_config, small_stats, tmp_path):
  trainer = train_vae.build_trainer(tiny_config, small_stats)
  trainer.compile(optimizer=keras.optimizers.Adam(1e-4))
  weights = trainer.get_weights()
  weights[0] = np.full_like(weights[0], np.inf)
  trainer.set_weights(weights)
  saver = training.Checkpointer(str(tmp_path))
  saver.set_model(trainer)
  with pytest.raises(FloatingPointError, match="non-finite weights; training stopped, checkpoint not"):
    saver.on_epoch_end(0)
  assert not os.listdir(tmp_path)


def test_step_decay_sets_the_rate_of_each_epoch_also_after_a_resume(tiny_config, small_stats,
                                                                   lfw_ci):
  assert training.step_decay_rate(0, 2e-4, (6,), 0.25) == 2e-4
  assert training.step_decay_rate(5, 2e-4, (6,), 0.25) == 2e-4
  assert training.step_decay_rate(6, 2e-4, (6,), 0.25) == pytest.approx(5e-5)
  assert training.step_decay_rate(9, 1.0, (2, 4), 0.1) == pytest.approx(0.01)
  paths = data.list_images(str(lfw_ci))[:4]
  batch = next(iter(data.make_dataset(paths, grey_size=64, batch_size=4)))
  ds = tf.data.Dataset.from_tensors({k: batch[k] for k in ("colour_field", "lightness")})
  trainer = train_vae.build_trainer(tiny_config, small_stats)
  trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
  seen = {}
  record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.update(
      {epoch: float(keras.ops.convert_to_numpy(trainer.optimizer.learning_rate))}))
  decay = training.step_decay(1e-3, (1, 2), 0.5)
  trainer.fit(ds, epochs=3, verbose=0, callbacks=[decay, record])
  assert seen == pytest.approx({0: 1e-3, 1: 5e-4, 2: 2.5e-4})
  trainer.optimizer.learning_rate = 1e-3  # what a fresh process resuming at epoch 3 starts with
  trainer.fit(ds, epochs=4, initial_epoch=3, verbose=0, callbacks=[decay, record])
  assert seen[3] == pytest.approx(2.5e-4)


def test_evaluate_reports_tables_and_baselines(tiny_config, tmp_path, lfw_ci):
  workdir = str(tmp_path / "run")
  train_vae.train(tiny_config, workdir, verbose=0)
  paths = data.list_images(str(lfw_ci))[-24:]
  rows, count, skip_log = tables.evaluate_vae(workdir, paths)
  rows = dict(rows)
  assert count == 24 and skip_log.count == 0
  assert set(rows) >= {"model", "grey (ab = 0)", "training mean field", "paper (lfw, all terms)"}
  # The grey baseline's absolute error is the photos' own mean |a|,|b|: computed independently.
  fields = np.concatenate([b["colour_field"].numpy()
                           for b in data.make_dataset(paths, grey_size=64, batch_size=24)])
  assert rows["grey (ab = 0)"]["abs_all"] == pytest.approx(np.abs(fields).mean(), rel=1e-5)
  for name in ("model", "grey (ab = 0)", "training mean field"):
    assert all(np.isfinite(v) and v >= 0 for v in rows[name].values())
  # The loss budget, measured in the same pass: each term as trained, times its factor.
  again, _, _, budget = tables.evaluate_vae(workdir, paths, budget=True)
  assert dict(again)["model"] == rows["model"] and budget["count"] == 24
  terms = budget["terms"]
  assert sum(t["share"] for t in terms.values()) == pytest.approx(1.0)
  for name, factor in (("hist", 1.0), ("grad", 1e-3), ("kl", 1e-2)):
    assert terms[name]["weighted"] == pytest.approx(factor * terms[name]["value"]), name
  config, encoder, decoder, stats = workdir_lib.load_vae(workdir)
  batch = next(iter(data.make_dataset(paths, grey_size=64, batch_size=24)))
  mean, log_var = encoder(batch["colour_field"], training=False)
  assert budget["kl_per_example"] == pytest.approx(
      float(np.mean(losses.kl_loss(mean, log_var))), rel=1e-4)
  assert budget["active_dims"] == int((np.var(mean.numpy(), 0) > 0.01).sum())
  assert budget["latent_dim"] == config.vae.latent_dim


def test_cli_trains_and_evaluates(repo_root, lfw_ci, tmp_path):
  workdir = str(tmp_path / "cli")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  train = subprocess.run(
      [*console_script("divcolor-train-vae"), "--config", str(repo_root / "configs" / "lfw.py") + ":tiny",
       "--workdir", workdir, "--verbose", "0", "--config.vae.steps_per_epoch=1",
       f"--config.data.train={lfw_ci}"],
      capture_output=True, text=True, env=env, timeout=300)
  assert train.returncode == 0, train.stderr[-3000:]
  assert config_lib.load_resolved(workdir).vae.steps_per_epoch == 1
  ev = subprocess.run([*console_script("divcolor-evaluate-vae"), "--workdir", workdir, "--images", str(lfw_ci),
                       "--max_images", "16"], capture_output=True, text=True, env=env, timeout=300)
  assert ev.returncode == 0, ev.stderr[-3000:]
  assert "Tables 1 and 2 on 16 photos" in ev.stdout
  assert "| model |" in ev.stdout and "| grey (ab = 0) |" in ev.stdout
