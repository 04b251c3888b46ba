"""A trainer's files checked before anything is written, each in one line (issue 47 row 14):
--workdir that is a file, config.init_from naming no model (/etc) or a model of another width,
config.stats.path a pickled .npz."""

import numpy as np
import pytest
import tiny_models

from conftest import console_script
from conftest import finish_tool
from conftest import start_tool
from divcolor_tf import config as config_lib
from divcolor_tf import export
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.models import vae
from divcolor_tf.trainers import vae as train_vae


def test_bad_workdir_init_from_and_stats_path_are_one_line(repo_root, tmp_path):
  lfw = str(repo_root / "configs" / "lfw.py")
  a_file = tmp_path / "a_file"
  a_file.write_text("mine")
  pickled = tmp_path / "pickled.npz"
  np.savez(pickled, x=np.array([{"a": 1}], dtype=object))
  train = console_script("divcolor-train-vae") + ["--config", f"{lfw}:tiny"]
  cases = [
      (train + ["--workdir", str(a_file)],
       f"divcolor-train-vae: {a_file}: a file, not a folder (--workdir names the folder"),
      (train + ["--workdir", str(tmp_path / "w1"), "--config.init_from=/etc"],
       "divcolor-train-vae: config field init_from=/etc: holds no trained model"),
      (train + ["--workdir", str(tmp_path / "w2"), f"--config.stats.path={pickled}"],
       f"divcolor-train-vae: config field stats.path: {pickled}: not a divcolor_tf stats file"),
  ]
  runs = [start_tool(args) for args, _ in cases]
  for (args, expected), process in zip(cases, runs):
    result = finish_tool(process)
    problems = [line for line in result.stderr.splitlines() if "smoke test" not in line]
    assert result.returncode == 1, (args, result.stderr)
    assert len(problems) == 1 and problems[0].startswith(expected), (args, result.stderr)
  assert a_file.read_text() == "mine"
  assert not (tmp_path / "w1").exists() and not (tmp_path / "w2").exists()  # nothing written


def test_init_from_a_model_of_another_width_is_a_config_error(repo_root, lfw_ci, tmp_path):
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  other = tiny_models.tiny_config(repo_root, lfw_ci)
  other.vae.width = config.vae.width * 2
  source = tiny_models.write_model_dir(tmp_path / "wider", tiny_models.build(other), other, lfw_ci)
  vae.build_encoder(other.vae, field_size=other.data.field_size).save(
      source / workdir_lib.ENCODER)
  config.init_from = str(source)
  config.vae.steps_per_epoch = 1
  with pytest.raises(config_lib.ConfigError) as caught:
    train_vae.train(config, str(tmp_path / "run"), verbose=0)
  message = str(caught.value)
  assert "\n" not in message and message.startswith(str(source))
  assert "there but" in message and "init_from" in message


def test_evaluate_vae_on_an_export_whose_config_does_not_fit_its_weights(repo_root, lfw_ci,
                                                                         tmp_path):
  """Row 6's export (written before row 6 held: config.json of another width than the weights)
  given to divcolor-evaluate-vae: one line naming the export, not a traceback."""
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  models = tiny_models.build(config)
  workdir = tiny_models.write_model_dir(tmp_path / "model", models, config, lfw_ci)
  vae.build_encoder(config.vae, field_size=config.data.field_size).save(
      workdir / workdir_lib.ENCODER)
  config.vae.width = config.vae.width / 2  # what the resume rewrote
  config_lib.save_resolved(config, str(workdir))
  path = export.export_saved_model(str(workdir), tmp_path / "export", version=1)
  result = finish_tool(start_tool(console_script("divcolor-evaluate-vae") + [
      "--workdir", path, "--images", str(lfw_ci), "--max_images", "2"]))
  assert result.returncode == 1, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"divcolor-evaluate-vae: {path}: "), lines
  assert "there but" in lines[0] and "Traceback" not in result.stderr
