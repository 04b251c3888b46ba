"""The config's sections (issue 43, Deliver 3): ``train`` holds what every stage shares (seed,
precision, devices, checkpoints); each stage's batch, epochs and optimizer are in its own section,
built by one factory (``training.make_optimizer(section)``) into the optimizers the stages had
before. An old config.json (train.epochs, ...) is migrated on read; an old override or config
file that sets train.epochs is one line saying where the field went."""

import glob
import json
import os
import pathlib
import subprocess
import time

import conftest
from conftest import ROOT
import keras
import pytest
import tiny_models

from divcolor_tf import config as config_lib
from divcolor_tf import training
from divcolor_tf.trainers import vae as train_vae

STAGES = ("vae", "features", "mdn", "joint", "cvae", "cgan")
SHARED = ("seed", "precision", "mixed_precision", "jit_compile", "strategy", "num_devices",
          "cpu_devices", "cluster_timeout", "image_summaries", "checkpoint_minutes",
          "checkpoint_steps")
# The VAE's schedule as it was written before it moved to vae.*: the old config.json's names.
OLD_TRAIN = ("batch_size", "epochs", "learning_rate", "optimizer", "lr_decay_epochs",
             "lr_decay_factor", "clipnorm", "steps_per_epoch")
MOVED_LINE = ("moved to vae.epochs (each stage's batch, epochs and optimizer are in its own "
              "section: vae, features, mdn, joint, cvae, cgan)")


def test_the_shared_section_has_no_stage_field_and_each_stage_its_schedule():
  base = config_lib.base_config()
  assert sorted(base.train.keys()) == sorted(SHARED)
  assert config_lib.STAGES == STAGES
  for section in STAGES:
    for name in ("epochs", "batch_size", "steps_per_epoch", "learning_rate", "optimizer",
                 "clipnorm", "beta_1"):
      assert name in base[section], f"{section}.{name}"
  assert (base.vae.lr_decay_epochs, base.vae.lr_decay_factor) == ((), 0.1)


def _settings(optimizer):
  return {k: v for k, v in optimizer.get_config().items() if k != "name"}


@pytest.mark.parametrize("path", ["configs/lfw.py:cpu_joint_gap", "configs/imagenet_val.py",
                                  "configs/lfw.py:tiny"])
def test_make_optimizer_builds_each_stages_optimizer_as_before(path):
  """What the stages built before the sections: the VAE Adam at train.learning_rate, the feature
  network and the CVAE Adam at their own rates, the MDN and the joint stage their section's, the
  cGAN Adam(rate, beta_1=0.5) inline: Keras' defaults otherwise."""
  c = config_lib.load(path)
  before = {
      "vae": keras.optimizers.Adam(learning_rate=c.vae.learning_rate),
      "features": keras.optimizers.Adam(learning_rate=c.features.learning_rate),
      "mdn": keras.optimizers.Adam(learning_rate=c.mdn.learning_rate),
      "joint": keras.optimizers.Adam(learning_rate=c.joint.learning_rate),
      "cvae": keras.optimizers.Adam(learning_rate=c.cvae.learning_rate),
      "cgan": keras.optimizers.Adam(c.cgan.learning_rate, beta_1=0.5),
  }
  for section, optimizer in before.items():
    assert _settings(training.make_optimizer(c[section])) == _settings(optimizer), section
  c.vae.optimizer, c.vae.clipnorm = "sgd", 1.5
  sgd = keras.optimizers.SGD(learning_rate=c.vae.learning_rate, momentum=0.9, global_clipnorm=1.5)
  assert _settings(training.make_optimizer(c.vae)) == _settings(sgd)


def _old_layout(config):
  """``config`` as a config.json of the layout before the sections: the VAE's schedule in
  train.*, no optimizer fields in the feature network's, the CVAE's or the cGAN's sections, no
  beta_1 but the cGAN's."""
  values = json.loads(config.to_json())
  for name in OLD_TRAIN:
    values["train"][name] = values["vae"].pop(name)
  for section in STAGES:
    if section != "cgan":
      del values[section]["beta_1"]
  for section in ("features", "cvae", "cgan"):
    del values[section]["optimizer"], values[section]["clipnorm"]
  return values


def test_an_old_config_json_is_migrated_on_read(tmp_path):
  config = config_lib.load("configs/lfw.py:cpu_skip")
  old = _old_layout(config)
  old["train"].update(epochs=7, optimizer="sgd", clipnorm=2.0, lr_decay_epochs=[3, 5])
  (tmp_path / "config.json").write_text(json.dumps(old))
  loaded = config_lib.load_resolved(str(tmp_path))
  assert not set(OLD_TRAIN) & set(loaded.train.keys())
  assert (loaded.vae.epochs, loaded.vae.optimizer, loaded.vae.clipnorm) == (7, "sgd", 2.0)
  assert loaded.vae.lr_decay_epochs == (3, 5) and loaded.vae.learning_rate == 2e-4
  assert loaded.vae.width == 0.5 and loaded.train.seed == 0  # the rest as it was
  # The feature network and the CVAE took train's optimizer and clipnorm: they keep them.
  assert (loaded.features.optimizer, loaded.cvae.clipnorm) == ("sgd", 2.0)
  config_lib.validate(loaded)
  # A value already in vae.* is not overwritten (a migration runs once).
  assert config_lib.migrate({"train": {"epochs": 3}, "vae": {"epochs": 4}}) == {
      "train": {}, "vae": {"epochs": 4}}


@pytest.mark.parametrize("path", sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(str(ROOT / "saved_models/*/*/assets.extra/config.json"))))
def test_the_bundled_config_jsons_load_with_their_values(path):
  path = str(ROOT / path)
  raw = json.loads(pathlib.Path(path).read_text())
  loaded = config_lib.load_resolved(os.path.dirname(path))
  for name in OLD_TRAIN:
    if name in raw["train"]:
      assert loaded.vae[name] == config_lib.files._lists_to_tuples(raw["train"][name]), name
      assert name not in loaded.train
  for name in SHARED:
    if name in raw["train"]:
      assert loaded.train[name] == raw["train"][name], name
  assert loaded.vae.width == raw["vae"]["width"] and loaded.mdn.to_dict().items() >= {
      k: v for k, v in raw["mdn"].items() if not isinstance(v, list)}.items()


def test_an_old_override_says_where_the_field_went():
  with pytest.raises(ValueError) as raised:
    config_lib.load("configs/lfw.py:tiny", ["train.epochs=3"])
  assert str(raised.value) == f"train.epochs: {MOVED_LINE}"
  # A config file (or variant) that sets the old name: validate refuses it (it would be ignored).
  config = config_lib.load("configs/lfw.py:tiny")
  config.train.epochs = 3
  with pytest.raises(config_lib.ConfigError, match=r"^config field train\.epochs: moved to vae"):
    config_lib.validate(config)


def test_an_old_override_on_the_command_line_is_one_line_before_tensorflow(tmp_path):
  workdir = tmp_path / "run"
  start = time.monotonic()
  result = subprocess.run(conftest.console_script("divcolor-train-vae") + [
      "--config", "configs/lfw.py:tiny", "--workdir", str(workdir), "--config.train.epochs=3"],
      capture_output=True, text=True, env=conftest.tool_env(), timeout=120, cwd=ROOT)
  elapsed = time.monotonic() - start
  assert result.returncode == 1
  assert result.stderr.splitlines() == [
      f"divcolor-train-vae: --config.train.epochs: {MOVED_LINE.replace('to ', 'to --config.', 1)}"]
  assert elapsed < 2.0, elapsed  # the flags are checked before TensorFlow loads
  assert not workdir.exists()


def test_an_old_workdir_resumes(repo_root, lfw_ci, tmp_path):
  """A workdir whose config.json has the old layout (train.epochs) resumes under the new config."""
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  workdir = str(tmp_path / "run")
  train_vae.train(config, workdir, verbose=0)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(_old_layout(config), f)
  config.vae.epochs = 2
  train_vae.train(config, workdir, verbose=0)
  with open(os.path.join(workdir, "checkpoints", "state.json")) as f:
    assert json.load(f)["epoch"] == 2
  assert config_lib.load_resolved(workdir).vae.epochs == 2
