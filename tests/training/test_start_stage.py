"""training.start_stage, the set-up every trainer shares: a smoke-test config says in the log that
it makes no usable model."""

import logging as py_logging

from PIL import Image
import pytest

from conftest import ROOT
from divcolor_tf import config as config_lib
from divcolor_tf import training
from divcolor_tf.methods import ours as ours_method

LFW = str(ROOT / "configs" / "lfw.py")


@pytest.mark.parametrize("variant, warns", [("tiny", True), ("cpu_skip", False), ("", False)])
def test_start_stage_warns_once_when_the_config_is_a_smoke_test(tmp_path, caplog, variant, warns):
  photo = tmp_path / "photo.png"  # start_stage lists the config's photos: one is enough
  Image.new("RGB", (32, 32), (200, 120, 40)).save(photo)
  config = config_lib.load(f"{LFW}:{variant}", [f"data.train={photo}"])
  with caplog.at_level(py_logging.WARNING):
    stage = training.start_stage(config, str(tmp_path / "out"), ours_method.METHOD)
  warnings = [r for r in caplog.records if "smoke test" in r.getMessage()]
  assert len(warnings) == (1 if warns else 0)
  if warns:
    assert warnings[0].levelno == py_logging.WARNING
    assert "config variant 'tiny'" in warnings[0].getMessage()
    assert "not a usable model" in warnings[0].getMessage()
  assert stage.train_paths + stage.val_paths == [str(photo)]
  assert config_lib.load_resolved(str(tmp_path / "out")).smoke_test is warns
