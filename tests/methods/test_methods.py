"""The method registry (divcolor_tf.methods): one record per method, asked by everything else."""

import json
import os
import subprocess
import sys

import pytest

from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib


def test_the_builtin_methods_and_what_they_declare():
  assert methods.names() == ("divcolor", "cvae", "cgan", "prior")
  ours = methods.get("divcolor")
  assert ours is methods.DEFAULT and ours.tflite and ours.serves_export and ours.vae
  assert ours.endpoints == methods.ENDPOINTS
  assert methods.get("cvae").endpoints == ("serving_default", "colorize_bytes", "decode")
  assert not methods.get("cgan").tflite and not methods.get("cgan").vae
  assert methods.get("prior").models is None and methods.get("prior").prefixed


def _workdir(tmp_path, config=None, files=()):
  tmp_path.mkdir(parents=True, exist_ok=True)
  if config is not None:
    (tmp_path / workdir_lib.CONFIG).write_text(json.dumps(config))
  for name in files:
    (tmp_path / name).write_bytes(b"")
  return str(tmp_path)


def test_a_workdir_records_its_method_and_an_older_one_is_told_by_its_files(tmp_path):
  assert methods.of_workdir(_workdir(tmp_path / "a", {"method": "cgan"})).name == "cgan"
  # an older workdir (no "method" in config.json): its marker file, else ours
  old_cvae = _workdir(tmp_path / "b", {"dataset": "lfw"}, [workdir_lib.CVAE_DECODER])
  assert methods.of_workdir(old_cvae).name == "cvae"
  assert methods.of_workdir(_workdir(tmp_path / "c", {})).name == "divcolor"
  assert methods.of_workdir(str(tmp_path / "missing")).name == "divcolor"  # not trained yet


def test_an_unknown_method_is_one_line_naming_the_file(tmp_path):
  workdir = _workdir(tmp_path / "w", {"method": "diffusion"})
  with pytest.raises(ValueError) as e:
    methods.of_workdir(workdir)
  assert str(e.value) == (f"{os.path.join(workdir, 'config.json')}: unknown method 'diffusion' "
                          "(known: divcolor, cvae, cgan, prior)")
  export = tmp_path / "export" / "1"
  (export / "assets.extra").mkdir(parents=True)
  (export / "assets.extra" / "export.json").write_text(json.dumps({"method": "retrieval"}))
  with pytest.raises(ValueError, match=r"export\.json: unknown method 'retrieval'"):
    methods.of_export(str(export))
  (export / "assets.extra" / "export.json").write_text(json.dumps({"dataset": "lfw"}))
  assert methods.of_export(str(export)) is methods.DEFAULT  # exports before the record


def test_prefixed_arguments_and_registering_a_method():
  assert methods.split("prior:saved_models/divcolor_lfw") == (methods.get("prior"),
                                                               "saved_models/divcolor_lfw")
  assert methods.split("cvae:x") == (None, "cvae:x")  # only prefixed methods take a prefix
  assert methods.split("C:/models/x") == (None, "C:/models/x")
  extra = methods.Method(name="test-retrieval", label="retrieval", files=("config.json",),
                         pipeline="divcolor_tf.inference.clustered:CGANColorizer",
                         why_not_exported="a test method")
  try:
    assert methods.register(extra) is methods.get("test-retrieval")
    with pytest.raises(ValueError, match="registered already"):
      methods.register(extra)
  finally:
    methods._REGISTRY.pop("test-retrieval")  # pylint: disable=protected-access
  with pytest.raises(ValueError, match="unknown endpoints"):
    methods.Method(name="x", label="x", files=(), pipeline="m:C", models="m:f",
                   endpoints=("serving_default", "colourise"))
  with pytest.raises(ValueError, match="why_not_exported"):
    methods.Method(name="x", label="x", files=(), pipeline="m:C")


def test_reading_the_registry_loads_no_tensorflow():
  code = ("import sys\nfrom divcolor_tf import methods\n"
          "assert methods.get('cvae').pipeline_class\n"
          "assert 'tensorflow' not in sys.modules\n")
  subprocess.run([sys.executable, "-c", code], check=True)


def test_a_trainer_refuses_another_methods_name_before_writing(tmp_path, repo_root):
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  config = config_lib.load(str(repo_root / "configs" / "lfw.py") + ":tiny")
  config.method = "cgan"
  out = tmp_path / "out"
  with pytest.raises(config_lib.ConfigError, match="method='cgan': this command trains Ours"):
    training.start_stage(config, str(out), methods.DEFAULT)
  assert not out.exists()
