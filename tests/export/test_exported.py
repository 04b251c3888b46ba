"""An export as Keras models again: the bundled model evaluated, re-exported and fine-tuned from
the shipped files alone (divcolor_tf.exported, config.init_from)."""

import os

import numpy as np
import pytest
import skimage.data
import skimage.transform

from conftest import ROOT as REPO
from conftest import console_script
from conftest import finish_tool
from conftest import start_tool
import tiny_models
from divcolor_tf import colorize
from divcolor_tf import export
from divcolor_tf import exported
from divcolor_tf.trainers import vae as train_vae
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.models import features

BUNDLED = REPO / "saved_models" / "divcolor_lfw"


@pytest.fixture(scope="module")
def bundled_tools(lfw_ci, tmp_path_factory):
  """divcolor-evaluate-vae and divcolor-export on the bundled model, started together."""
  out = tmp_path_factory.mktemp("reexport") / "divcolor_lfw"
  evaluate = start_tool(console_script("divcolor-evaluate-vae") + [
      "--workdir", str(BUNDLED), "--images", str(lfw_ci), "--max_images", "16"])
  reexport = start_tool(console_script("divcolor-export") + [
      "--model", str(BUNDLED), "--out", str(out), "--tflite", "fp32", "--tflite_size", "128"])
  yield {"evaluate": evaluate, "export": reexport, "out": out}
  for process in (evaluate, reexport):
    if process.poll() is None:
      process.kill()
      process.communicate()


def test_the_bundled_export_rebuilds_keras_models_that_colorize_exactly_like_it():
  photo = (skimage.transform.resize(skimage.data.astronaut(), (160, 128), anti_aliasing=True)
           * 255).round().astype(np.uint8)
  keras_model = colorize.Colorizer.load(str(BUNDLED))  # unpacked from the export
  assert keras_model.can_encode and keras_model.skip
  served = colorize.load(str(BUNDLED))  # the SavedModel's own signatures
  a, b = keras_model.colorize(photo, k=5), served.colorize(photo, k=5)
  assert np.abs(a.colorizations.astype(int) - b.colorizations).max() <= 1
  np.testing.assert_allclose(a.weights, b.weights, atol=1e-6)
  unpacked = exported.workdir_for(str(BUNDLED))
  assert exported.workdir_for(str(BUNDLED)) == unpacked  # once per process
  for name in (workdir_lib.CONFIG, workdir_lib.ENCODER, workdir_lib.DECODER, workdir_lib.TRUNK,
               workdir_lib.MDN, workdir_lib.STATS, workdir_lib.BASELINES):
    assert os.path.isfile(os.path.join(unpacked, name)), name


def test_evaluate_vae_and_export_run_on_the_bundled_model(bundled_tools):
  result = finish_tool(bundled_tools["evaluate"])
  assert result.returncode == 0, result.stderr[-2000:]
  rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines()
          if line.startswith("| ") and "---" not in line}
  model_error = float(rows["model"].split("|")[2])
  grey_error = float(rows["grey (ab = 0)"].split("|")[2])
  assert model_error < 0.6 * grey_error, result.stdout  # measured 0.038 against 0.095
  result = finish_tool(bundled_tools["export"])
  assert result.returncode == 0, result.stderr[-2000:]
  out = bundled_tools["out"]
  assert (out / "1" / "saved_model.pb").is_file()
  assert (out / "1" / "assets.extra" / "stats.npz").is_file()
  assert (out / "tflite" / export.tflite_filename("pipeline", "fp32", 128)).is_file()


def test_initialize_sets_every_weight_by_name_and_names_what_the_source_lacks(
    tiny_config, tmp_path):
  trained = colorize.Colorizer(*tiny_models.build(tiny_config), tiny_config)
  rng = np.random.default_rng(0)
  for model in (trained.trunk, trained.mdn, trained.decoder):  # "trained": unlike a fresh build
    for weight in model.weights:
      weight.assign(weight.numpy() + rng.uniform(0.5, 1.0, weight.shape).astype(np.float32))
  out = export.export_saved_model(trained, tmp_path / "export", version=1)
  _, fresh_mdn, fresh_decoder = tiny_models.build(tiny_config)
  assert not np.array_equal(fresh_mdn.weights[0].numpy(), trained.mdn.weights[0].numpy())
  assigned, missing = exported.initialize([fresh_mdn, fresh_decoder], out, "MDN")
  assert not missing and assigned == len(fresh_mdn.weights) + len(fresh_decoder.weights)
  for model, source in ((fresh_mdn, trained.mdn), (fresh_decoder, trained.decoder)):
    for a, b in zip(model.weights, source.weights):
      np.testing.assert_array_equal(a.numpy(), b.numpy())
  # The full feature network: its trunk comes from the export; the layers past the trunk (conv7's
  # norm, conv8 and the 313-bin head) stay fresh.
  network = features.build_feature_network(tiny_config.features,
                                            grey_size=tiny_config.data.grey_size)
  _, missing = exported.initialize([network], out, "feature network")
  assert missing and all(path.startswith(("conv8", "conv7_3norm")) for path in missing)


def test_initialize_refuses_a_source_of_other_sizes_in_one_line(tiny_config):
  _, mdn, decoder = tiny_models.build(tiny_config)
  with pytest.raises(ValueError, match=r"is \(.*\) there but \(.*\) here") as e:
    exported.initialize([decoder, mdn], str(BUNDLED), "VAE")
  assert "\n" not in str(e.value)


def test_init_from_starts_a_fresh_run_from_the_source_and_a_resume_ignores_it(
    tiny_config, repo_root, lfw_ci, tmp_path, monkeypatch):
  source = str(tmp_path / "source")
  train_vae.train(tiny_config, source, verbose=0)
  tuned = str(tmp_path / "tuned")
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  config.init_from = source
  config.vae.learning_rate = 0.0  # the trained weights stay the source's
  train_vae.train(config, tuned, verbose=0)
  for name in (workdir_lib.ENCODER, workdir_lib.DECODER):
    a = workdir_lib.load_keras(source, name)
    b = workdir_lib.load_keras(tuned, name)
    for x, y in zip(a.trainable_weights, b.trainable_weights):
      np.testing.assert_array_equal(x.numpy(), y.numpy())
  # Resuming the tuned run continues from its checkpoint: the source is not read again.
  monkeypatch.setattr(exported, "initialize",
                      lambda *args: pytest.fail("init_from applied on a resume"))
  config.vae.epochs = 2
  train_vae.train(config, tuned, verbose=0)
  assert training.latest_epoch(os.path.join(tuned, "checkpoints")) == 2


def test_a_missing_init_from_fails_before_anything_is_written(repo_root, lfw_ci, tmp_path):
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  config.init_from = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="no such model to start from"):
    train_vae.train(config, str(tmp_path / "run"), verbose=0)
  assert not (tmp_path / "run").exists()
