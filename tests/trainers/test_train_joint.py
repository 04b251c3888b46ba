"""The joint stage (divcolor_tf/train_joint.py) on real faces, over tiny trained earlier stages:
its loss is the module's equation, it trains the MDN and the decoder and nothing else, never
rewrites the earlier stages, resumes, and the workdir then serves its files."""

import csv
import hashlib
import os
import shutil
import subprocess

from conftest import console_script
import conftest
import numpy as np
import pytest
import tensorflow as tf
import tiny_models

from divcolor_tf import color
from divcolor_tf import colorize
from divcolor_tf import data
from divcolor_tf import exported
from divcolor_tf import losses
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.evaluation import metrics
from divcolor_tf.models import vae
from divcolor_tf.trainers import joint as train_joint
from divcolor_tf.trainers import mdn as train_mdn
from divcolor_tf.trainers import vae as train_vae


STAGE_FILES = (workdir_lib.ENCODER, workdir_lib.DECODER, workdir_lib.TRUNK, workdir_lib.MDN,
               workdir_lib.STATS)


def _config(repo_root, lfw_ci):
  return tiny_models.tiny_config(repo_root, lfw_ci, "skip")  # the bundled recipe's decoder


@pytest.fixture(scope="module")
def stages(skip_stages, repo_root, lfw_ci, tmp_path_factory):
  """A workdir with the three tiny stages trained ("+skip" VAE and feature network: conftest's,
  shared; then the MDN)."""
  workdir = str(tmp_path_factory.mktemp("stages") / "w")
  shutil.copytree(skip_stages, workdir)
  train_mdn.train(_config(repo_root, lfw_ci), workdir, verbose=0)
  return workdir


def _copy(src, dst):
  shutil.copytree(src, dst)
  return str(dst)


def _digests(workdir):
  return {name: hashlib.sha256(open(workdir_lib.path(workdir, name), "rb").read()).hexdigest()
          for name in STAGE_FILES}


@pytest.fixture(scope="module")
def faces(lfw_ci):
  paths = data.list_images(str(lfw_ci))[:6]
  return next(iter(data.make_dataset(paths, grey_size=64, batch_size=6)))


def test_the_loss_is_the_best_decoded_mean_weighted_error(stages, repo_root, lfw_ci, faces):
  """colour = min_m sum_p w_p |C_m - C| / sum_p w_p; best_abs / top_k_abs = Table 3's
  error-of-best over all M and over the top-k by weight; loss = colour + ce (-log pi_m*) +
  recon e(f(mean_Q(C)), C)."""
  config = _config(repo_root, lfw_ci)
  trunk, encoder = training.load_frozen(stages)
  stats = workdir_lib.load_stats(stages)
  weights = stats_lib.bin_weights_for(stats, config.loss)
  mdn = train_mdn.load_mdn(stages)
  tiny_models.scale(mdn.get_layer("mdn_fc_means"), 300.0)  # components far apart: the argmin
  tiny_models.scale(mdn.get_layer("mdn_fc_logits"), 30.0)  # and the ranking mean something
  trainer = train_joint.JointTrainer(
      trunk, mdn, workdir_lib.load_keras(stages, workdir_lib.DECODER),
      encoder, bin_weights=weights, ce_factor=0.3, recon_factor=0.7, k=3)
  batch = {k: faces[k] for k in ("grey", "colour_field", "lightness")}
  per_example, terms = trainer.objective(batch, training=False)
  out = trainer(batch)
  fields = out["fields"].numpy()
  target = faces["colour_field"].numpy()
  assert fields.shape == (6, config.mdn.components, 64, 64, 2)
  assert np.ptp(fields, axis=1).max() > 1e-2  # the components decode differently

  pixel_w = np.asarray(weights)[np.asarray(color.nearest_bin(target * color.AB_SCALE))]
  error = np.abs(fields - target[:, None]).mean(-1)  # [B, M, F, F]
  weighted = (error * pixel_w[:, None]).sum((2, 3)) / pixel_w[:, None].sum((2, 3))
  np.testing.assert_allclose(terms["colour"], weighted.min(1), rtol=1e-4)
  best = weighted.argmin(1)
  logits = out["logits"].numpy()
  log_pi = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
      - logits.max(1, keepdims=True)
  np.testing.assert_allclose(terms["neg_log_pi"], -log_pi[np.arange(6), best], rtol=1e-4)
  np.testing.assert_allclose(terms["best_abs"], metrics.error_of_best(target, fields)[0], rtol=1e-4)
  top = np.argsort(-logits, axis=1, kind="stable")[:, :3]
  np.testing.assert_allclose(
      terms["top_k_abs"],
      metrics.error_of_best(target, np.take_along_axis(fields, top[..., None, None, None], 1))[0],
      rtol=1e-4)
  assert np.all(terms["recon"].numpy() > 0)
  np.testing.assert_allclose(
      per_example, terms["colour"] + 0.3 * terms["neg_log_pi"] + 0.7 * terms["recon"], rtol=1e-5)

  # weight_power 0.5: w_p ** 0.5 (between L_hist's weights and the plain error).
  trainer.weight_power = 0.5
  _, terms = trainer.objective(batch, training=False)
  root = pixel_w[:, None] ** 0.5
  root_weighted = (error * root).sum((2, 3)) / root.sum((2, 3))
  np.testing.assert_allclose(terms["colour"], root_weighted.min(1), rtol=1e-4)

  # chroma_gap / spatial_gap: the best mean's chroma and spatial variation against the truth's
  # (Table 3's columns, metrics.py), added with their factors.
  chosen = fields[np.arange(6), root_weighted.argmin(1)]
  np.testing.assert_allclose(
      terms["chroma_gap"], np.abs(metrics.mean_chroma(chosen) - metrics.mean_chroma(target)),
      rtol=1e-3, atol=2e-5)
  np.testing.assert_allclose(
      terms["spatial_gap"],
      np.abs(metrics.spatial_variation(chosen) - metrics.spatial_variation(target)),
      rtol=1e-3, atol=2e-5)
  assert terms["chroma_gap"].numpy().max() > 1e-3
  trainer.weight_power, trainer.chroma_factor, trainer.spatial_factor = 1.0, 2.0, 3.0
  gapped, terms = trainer.objective(batch, training=False)
  np.testing.assert_allclose(
      gapped, per_example + 2.0 * terms["chroma_gap"] + 3.0 * terms["spatial_gap"], rtol=1e-5)


def test_the_gradient_is_that_of_differentiating_through_all_decodes(stages, repo_root, lfw_ci,
                                                                      faces):
  """objective decodes the M means without a gradient and only the best one with it: its loss
  gradient (every term on) equals the one taken through all M decodes, as the module's formula
  reads."""
  config = _config(repo_root, lfw_ci)
  trunk, encoder = training.load_frozen(stages)
  stats = workdir_lib.load_stats(stages)
  mdn = train_mdn.load_mdn(stages)
  tiny_models.scale(mdn.get_layer("mdn_fc_means"), 300.0)  # components far apart
  trainer = train_joint.JointTrainer(
      trunk, mdn, workdir_lib.load_keras(stages, workdir_lib.DECODER), encoder,
      bin_weights=stats_lib.bin_weights_for(stats, config.loss), ce_factor=0.3, recon_factor=0.7,
      chroma_factor=0.5, spatial_factor=0.4, k=3)
  batch = {k: faces[k] for k in ("grey", "colour_field", "lightness")}
  target = batch["colour_field"]
  weights = losses.pixel_weights(target, trainer.bin_weights)
  variables = trainer.optimized_variables

  with tf.GradientTape() as tape:
    per_example, _ = trainer.objective(batch, training=False)
    loss = tf.reduce_mean(per_example)
  fast = tape.gradient(loss, variables)

  with tf.GradientTape() as tape:  # the formula, through all M decodes
    out = trainer(batch)
    errors = train_joint.weighted_mean(train_joint.pixel_errors(target, out["fields"]), weights)
    best = tf.argmin(errors, axis=1, output_type=tf.int32)
    chosen = tf.gather(out["fields"], best, batch_dims=1)
    mean, _ = encoder(target, training=False)
    recon = vae.decode(trainer.decoder, mean, batch["lightness"])
    reference = tf.reduce_mean(
        tf.reduce_min(errors, 1)
        + 0.3 * tf.nn.sparse_softmax_cross_entropy_with_logits(best, out["logits"])
        + 0.7 * train_joint.weighted_mean(train_joint.pixel_errors(target, recon[:, None]),
                                          weights)[:, 0]
        + 0.5 * tf.abs(train_joint.chroma(chosen) - train_joint.chroma(target))
        + 0.4 * tf.abs(train_joint.spread(chosen) - train_joint.spread(target)))
  slow = tape.gradient(reference, variables)

  np.testing.assert_allclose(float(loss), float(reference), rtol=1e-5)
  assert len(np.unique(best.numpy())) > 1  # not one component for every photo
  for variable, a, b in zip(variables, fast, slow):
    assert a is not None and b is not None, variable.path
    scale = float(tf.reduce_max(tf.abs(b))) + 1e-12
    np.testing.assert_allclose(a.numpy() / scale, b.numpy() / scale, atol=1e-4,
                               err_msg=variable.path)


def test_trains_mdn_and_decoder_only_keeps_the_stages_and_is_served(stages, repo_root, lfw_ci,
                                                                    tmp_path):
  workdir = _copy(stages, tmp_path / "run")
  before = _digests(workdir)
  config = _config(repo_root, lfw_ci)
  assert workdir_lib.served(workdir, workdir_lib.DECODER) == workdir_lib.DECODER
  # An earlier joint run's fine-tuned trunk (joint.train_trunk): this run's decoder and MDN read
  # the stage trunk, so that one must not be served any more (removed).
  stale = workdir_lib.path(workdir, workdir_lib.JOINT_TRUNK)
  os.makedirs(os.path.dirname(stale))
  shutil.copy(workdir_lib.path(workdir, workdir_lib.TRUNK), stale)
  assert train_joint.train(config, workdir, verbose=0) is not None
  assert _digests(workdir) == before  # the earlier stages are read, never rewritten
  assert not os.path.exists(stale)
  assert workdir_lib.served(workdir, workdir_lib.TRUNK) == workdir_lib.TRUNK
  out = os.path.join(workdir, "joint")
  for name in ("decoder.keras", "mdn.keras", "config.json", "history.csv", "history.png",
               "checkpoints/state.json"):
    assert os.path.exists(os.path.join(out, name)), name
  with open(os.path.join(out, "history.csv")) as f:
    (row,) = list(csv.DictReader(f))
  for prefix in ("", "val_"):
    values = {t: float(row[prefix + t]) for t in train_joint.TERMS}
    assert all(np.isfinite(v) and v > 0 for v in values.values()), values
    assert values["best_abs"] <= values["top_k_abs"]

  # MDN and decoder moved; the served files are joint/'s, for colorizing, Table 1 and exports.
  for name, joint in ((workdir_lib.DECODER, workdir_lib.JOINT_DECODER),
                      (workdir_lib.MDN, workdir_lib.JOINT_MDN)):
    assert workdir_lib.served(workdir, name) == joint
    old = workdir_lib.load_keras(workdir, name).get_weights()
    new = workdir_lib.load_keras(workdir, joint).get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(old, new)), name
  trunk_weights = workdir_lib.load_keras(workdir, workdir_lib.TRUNK).get_weights()
  loaded = colorize.Colorizer.load(workdir)
  joint_decoder = workdir_lib.load_keras(workdir, workdir_lib.JOINT_DECODER)
  assert loaded.config.joint.epochs == 1  # its config is the joint stage's (exports carry it)
  for a, b in zip(loaded.decoder.get_weights(), joint_decoder.get_weights()):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(loaded.trunk.get_weights(), trunk_weights):
    np.testing.assert_array_equal(a, b)
  assert workdir_lib.load_vae(workdir)[2].get_weights()[0].tobytes() == \
      joint_decoder.get_weights()[0].tobytes()
  values = exported.workdir_variables(workdir)
  for weight in joint_decoder.weights:
    np.testing.assert_array_equal(values[weight.path], weight.numpy())

  assert train_joint.train(config, workdir, verbose=0) is None  # already done: resumes to the end
  config.joint.epochs = 2  # one more epoch continues from the checkpoint
  assert train_joint.train(config, workdir, verbose=0) is not None
  with open(os.path.join(out, "history.csv")) as f:
    assert [r["epoch"] for r in csv.DictReader(f)] == ["0", "1"]


def test_zero_epochs_is_the_papers_pipeline_and_writes_nothing(stages, repo_root, lfw_ci,
                                                               tmp_path):
  workdir = _copy(stages, tmp_path / "run")
  config = _config(repo_root, lfw_ci)
  config.joint.epochs = 0
  assert train_joint.train(config, workdir, verbose=0) is None
  assert not os.path.exists(os.path.join(workdir, "joint"))


def test_a_missing_stage_is_one_line_and_writes_nothing(stages, repo_root, lfw_ci, tmp_path):
  workdir = _copy(stages, tmp_path / "run")
  shutil.rmtree(os.path.join(workdir, "mdn"))
  with pytest.raises(train_joint.MissingStageError) as info:
    train_joint.train(_config(repo_root, lfw_ci), workdir, verbose=0)
  message = str(info.value)
  assert "\n" not in message and "mdn.keras" in message and "divcolor-train-mdn" in message
  assert not os.path.exists(os.path.join(workdir, "joint"))


def test_cli_trains_the_tiny_config_and_a_trainable_trunk_is_served(stages, repo_root, lfw_ci,
                                                                   tmp_path):
  """The command line, with joint.train_trunk: the trunk is fine-tuned too, written to
  joint/trunk.keras (the stage's stays byte-identical) and served, loaded and exported."""
  workdir = _copy(stages, tmp_path / "run")
  before = _digests(workdir)
  result = subprocess.run(
      console_script("divcolor-train-joint") + [
          f"--config={repo_root / 'configs' / 'lfw.py'}:tiny,skip",
          f"--config.data.train={lfw_ci}", f"--workdir={workdir}", "--verbose=0",
          "--config.joint.train_trunk=True"],
      capture_output=True, text=True, env=conftest.tool_env(), timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert os.path.isfile(os.path.join(workdir, workdir_lib.JOINT_DECODER))
  assert _digests(workdir) == before  # features/trunk.keras is read, never rewritten
  assert workdir_lib.served(workdir, workdir_lib.TRUNK) == workdir_lib.JOINT_TRUNK
  stage_trunk = workdir_lib.load_keras(workdir, workdir_lib.TRUNK)
  joint_trunk = workdir_lib.load_keras(workdir, workdir_lib.JOINT_TRUNK)
  assert any(not np.allclose(a, b)
             for a, b in zip(stage_trunk.get_weights(), joint_trunk.get_weights()))
  loaded = colorize.Colorizer.load(workdir)
  for a, b in zip(loaded.trunk.get_weights(), joint_trunk.get_weights()):
    np.testing.assert_array_equal(a, b)
  values = exported.workdir_variables(workdir)  # exports carry the fine-tuned trunk
  for weight in joint_trunk.weights:
    np.testing.assert_array_equal(values[weight.path], weight.numpy())

  empty = tmp_path / "empty"
  empty.mkdir()
  result = subprocess.run(
      console_script("divcolor-train-joint") + [
          f"--config={repo_root / 'configs' / 'lfw.py'}:tiny,skip",
          f"--config.data.train={lfw_ci}", f"--workdir={empty}"],
      capture_output=True, text=True, env=conftest.tool_env(), timeout=600, check=False)
  assert result.returncode == 1
  (line,) = [l for l in result.stderr.splitlines() if l.strip()]
  assert line.startswith("divcolor-train-joint: ") and "divcolor-train-vae" in line
