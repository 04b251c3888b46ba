"""A resume keeps the networks' shapes (issue 47 row 6): a workdir whose checkpoints were trained
with one vae.width refuses another in one line before anything is written, and a legitimate resume
(more epochs) still trains on."""

import json
import os

import pytest
import tiny_models

from divcolor_tf import config as config_lib
from divcolor_tf.trainers import vae as train_vae


@pytest.fixture
def tiny_config(repo_root, lfw_ci):
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  config.vae.steps_per_epoch = 2
  return config


def test_resume_with_another_width_is_refused_before_config_json_is_written(tiny_config,
                                                                            tmp_path):
  workdir = str(tmp_path / "run")
  train_vae.train(tiny_config, workdir, verbose=0)
  config_json = os.path.join(workdir, "config.json")
  with open(config_json, "rb") as f:
    before = f.read()
  old_width = tiny_config.vae.width

  tiny_config.vae.width = old_width / 2
  tiny_config.vae.epochs = 2
  with pytest.raises(config_lib.ConfigError) as caught:
    train_vae.train(tiny_config, workdir, verbose=0)
  message = str(caught.value)
  assert "\n" not in message
  assert f"vae.width={old_width / 2!r}" in message and f"vae.width={old_width!r}" in message
  assert "new workdir" in message and "move" not in message
  with open(config_json, "rb") as f:
    assert f.read() == before  # nothing rewritten

  # The same shapes with more epochs: a legitimate resume trains epoch 2.
  tiny_config.vae.width = old_width
  train_vae.train(tiny_config, workdir, verbose=0)
  with open(os.path.join(workdir, "checkpoints", "state.json")) as f:
    assert json.load(f)["epoch"] == 2
  assert config_lib.load_resolved(workdir).vae.epochs == 2


@pytest.mark.parametrize("method, dotted", [("MDN", "mdn.components"), ("VAE", "vae.width"),
                                            ("CVAE", "cvae.latent_dim"), ("cGAN", "cgan.width")])
def test_check_resume_names_each_stages_shape_fields(tiny_config, tmp_path, method, dotted):
  config_lib.save_resolved(tiny_config, str(tmp_path))
  config_lib.check_resume(tiny_config, str(tmp_path), method)  # the same config: no complaint
  section, name = dotted.split(".")
  old = tiny_config[section][name]
  tiny_config[section][name] = old * 2
  with pytest.raises(config_lib.ConfigError, match=dotted.replace(".", r"\.")):
    config_lib.check_resume(tiny_config, str(tmp_path), method)
  tiny_config.vae.epochs += 3  # not a shape: no complaint about it
  tiny_config[section][name] = old
  config_lib.check_resume(tiny_config, str(tmp_path), method)
