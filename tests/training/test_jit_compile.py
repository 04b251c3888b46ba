"""XLA (config train.jit_compile): a trainer compiled with jit_compile=True takes the step it takes
without, on real faces; its validation step (not XLA-compatible) runs without XLA.

XLA draws other numbers from the same stateless seeds (its own random kernels: the VAE's noise
and the dropout masks differ from TensorFlow's), so the step comparison fixes the noise and turns
dropout off.
"""

import csv
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf.trainers import mdn as train_mdn
from divcolor_tf.trainers import vae as train_vae
from divcolor_tf.models import features
from divcolor_tf.models import vae


def test_jit_compile_is_off_by_default():
  assert config_lib.base_config().train.jit_compile is False


@pytest.fixture(scope="module")
def photos(tiny_config, lfw_ci):
  paths = data.list_images(str(lfw_ci))[:16]
  batch = next(iter(data.make_dataset(paths, grey_size=tiny_config.data.grey_size, batch_size=8)))
  return {k: batch[k] for k in ("grey", "colour_field", "lightness")}


def _fixed_noise(mean, log_variance, seed=None, truncated=False):
  """vae.sample_z with a fixed eps, the same with and without XLA."""
  del seed, truncated
  eps = tf.reshape(tf.sin(tf.cast(tf.range(tf.size(mean)), mean.dtype)), tf.shape(mean))
  return mean + tf.exp(tf.cast(log_variance, mean.dtype) / 2) * eps


def _vae(config, stats, photos):
  inputs = {k: photos[k] for k in ("colour_field", "lightness")}
  return lambda: train_vae.build_trainer(config, stats), inputs


def _mdn(config, stats, photos):
  """The MDN trainer on cached features (mdn.cache_features), made by untrained frozen networks."""
  del stats
  trunk = features.build_trunk(features.build_feature_network(
      config.features, grey_size=config.data.grey_size))
  encoder = vae.build_encoder(config.vae, field_size=config.data.field_size)
  inputs = train_mdn.frozen_features(photos, trunk, encoder)
  mdn_config = config.copy_and_resolve_references()
  mdn_config.mdn.cache_features = True
  mdn_config.mdn.dropout = 0.0
  return lambda: train_mdn.build_trainer(mdn_config, trunk, encoder), inputs


@pytest.mark.parametrize("setup", [_vae, _mdn], ids=["vae", "mdn"])
def test_xla_takes_the_same_step(setup, tiny_config, small_stats, photos, monkeypatch):
  """One SGD step from the same weights, with and without XLA (fixed noise, no dropout); the
  trainable weights and the BN moving statistics are compared each against its own move. Then a
  validation step, which fit runs at every epoch's end. The step is small (SGD 1e-4): at 1e-3 the
  untrained tiny VAE's log-variance overflows in one step and both validation losses are NaN,
  which compares nothing."""
  monkeypatch.setattr(vae, "sample_z", _fixed_noise)
  make, inputs = setup(tiny_config, small_stats, photos)
  ds = tf.data.Dataset.from_tensors(inputs)
  before, after, validation = None, {}, {}
  for jit in (False, True):
    keras.utils.set_random_seed(0)
    trainer = make()
    trainer.compile(optimizer=keras.optimizers.SGD(1e-4), jit_compile=jit)
    assert trainer.jit_compile is jit  # Keras did not turn it off
    if before is None:
      before = trainer.get_weights()
      trainable = [v.trainable for v in trainer.weights]
    trainer.set_weights(before)
    trainer.fit(ds, epochs=1, verbose=0)
    after[jit] = trainer.get_weights()
    validation[jit] = trainer.evaluate(ds, verbose=0, return_dict=True)["loss"]
  assert np.isfinite(validation[False]), validation
  assert validation[True] == pytest.approx(validation[False], rel=1e-3)
  for group in (True, False):  # trainable weights, then BN moving statistics
    pick = [i for i, t in enumerate(trainable) if t == group]
    moved = max(np.abs(after[False][i] - before[i]).max() for i in pick)
    diff = max(np.abs(after[False][i] - after[True][i]).max() for i in pick)
    assert moved > 1e-5, group  # the step did something
    assert diff < 1e-3 * moved, (group, moved, diff)


def test_vae_trains_with_jit_compile(tiny_config, tmp_path):
  """train.jit_compile reaches the trainer; fit's validation at the epoch's end runs too."""
  config = tiny_config.copy_and_resolve_references()
  config.train.jit_compile = True
  workdir = str(tmp_path / "run")
  train_vae.train(config, workdir, verbose=0)
  with open(os.path.join(workdir, "history.csv")) as f:
    (row,) = list(csv.DictReader(f))
  assert np.isfinite(float(row["loss"])) and np.isfinite(float(row["val_loss"]))
