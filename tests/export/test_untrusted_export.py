"""An export is a program (issue 47, row 3): a SavedModel whose signatures call tf.io.write_file
ran under divcolor-colorize --model, wrote its file and exited 0, and no export.json was needed.

Loading now reads saved_model.pb first (nothing is executed) and refuses ops outside the
allow-list (``exported.check``) in one line, unless the user says they trust the model
(``--trust_model``, ``trust=True``); export.json is required either way.
"""

import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import ROOT as REPO
from conftest import console_script, tool_env
import divcolor_tf as dc
from divcolor_tf import export
from divcolor_tf import exported
from divcolor_tf import methods

SHIPPED = sorted(p.parent for p in (REPO / "saved_models").glob("*/[0-9]*/saved_model.pb"))


@pytest.fixture(scope="module")
def tiny_export(colorizer, tmp_path_factory):
  return pathlib.Path(export.export_saved_model(colorizer, tmp_path_factory.mktemp("ok") / "m"))


def _wrapped(function, target=None):
  """A concrete function with ``function``'s inputs and outputs that, given ``target``, also
  writes "pwned" there (tf.io.write_file: the WriteFile op) each time it runs."""
  specs = function.structured_input_signature[1]
  names = sorted(specs)

  def call(*args):
    out = function(**dict(zip(names, args)))
    if target is None:
      return out
    with tf.control_dependencies([tf.io.write_file(str(target), "pwned")]):
      return {key: tf.identity(value) for key, value in out.items()}

  return tf.function(call, input_signature=[
      tf.TensorSpec(specs[n].shape, specs[n].dtype, name=n) for n in names]).get_concrete_function()


@pytest.fixture(scope="module")
def hostile(tiny_export, tmp_path_factory):
  """The tiny export's signatures again, ``serving_default`` and ``decode`` (which colorizing
  calls) writing a file; its export.json and config copied: all a loader looked at before."""
  root = tmp_path_factory.mktemp("hostile")
  target = root / "pwned.txt"
  base = tf.saved_model.load(str(tiny_export))
  module = tf.Module()
  module.base = base  # its variables travel with the new SavedModel
  signatures = {name: _wrapped(base.signatures[name], target if name in (
      "serving_default", "decode") else None) for name in ("serving_default", "mixture", "decode",
                                                           "grey_mixture")}
  path = root / "model" / "1"
  tf.saved_model.save(module, str(path), signatures=signatures)
  shutil.copytree(tiny_export / "assets.extra", path / "assets.extra")
  return path, target


def test_a_savedmodel_that_writes_files_is_refused_in_one_line_and_writes_nothing(hostile):
  path, target = hostile
  with pytest.raises(exported.UntrustedModelError) as refused:
    dc.load(str(path))
  message = str(refused.value)
  assert "\n" not in message and "WriteFile" in message and "--trust_model" in message, message
  assert str(path / "saved_model.pb") in message
  assert not target.exists()


def test_the_command_line_refuses_it_and_runs_it_only_when_trusted(hostile, tmp_path):
  path, target = hostile
  photo = tmp_path / "photo.png"
  Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(photo)
  command = console_script("divcolor-colorize") + [
      "--model", str(path), "--input", str(photo), "--k", "2"]
  refused = subprocess.run(command + ["--output", str(tmp_path / "refused")], capture_output=True,
                           text=True, env=tool_env(), timeout=300)
  lines = [l for l in refused.stderr.splitlines() if l.startswith("divcolor-colorize:")]
  assert refused.returncode == 1 and len(lines) == 1 and "WriteFile" in lines[0], refused.stderr
  assert "Traceback" not in refused.stderr
  assert not target.exists() and not (tmp_path / "refused").exists()
  trusted = subprocess.run(command + ["--output", str(tmp_path / "trusted"), "--trust_model"],
                           capture_output=True, text=True, env=tool_env(), timeout=300)
  assert trusted.returncode == 0, trusted.stderr[-2000:]
  assert target.read_text() == "pwned"  # what trusting a model means: its graph ran
  assert len(list((tmp_path / "trusted").glob("photo_*.png"))) == 2


def test_trust_loads_it_through_the_api(hostile):
  path, _ = hostile
  model = dc.load(str(path), trust=True)
  assert model.num_components >= 2


def test_an_export_without_export_json_is_one_line_even_when_trusted(tiny_export, tmp_path):
  copy = tmp_path / "no_json" / "1"
  shutil.copytree(tiny_export, copy)
  (copy / methods.EXPORT_JSON).unlink()
  for trust in (False, True):
    with pytest.raises(FileNotFoundError) as missing:
      dc.load(str(copy), trust=trust)
    assert str(copy / methods.EXPORT_JSON) in str(missing.value)
    assert "\n" not in str(missing.value)


def test_every_shipped_export_and_a_fresh_one_pass_the_allow_list(tiny_export):
  assert len(SHIPPED) >= 4, SHIPPED
  for path in SHIPPED + [tiny_export]:
    assert exported.untrusted_ops(str(path)) == {}, path
    exported.check(str(path))


def test_saver_ops_are_allowed_only_in_the_saver_and_python_calls_nowhere(tmp_path):
  """Every export's saver holds SaveV2 (it writes the checkpoint); a signature that calls it, or
  that calls back into Python (tf.py_function: EagerPyFunc), is refused."""
  module = tf.Module()
  module.v = tf.Variable(1.0)

  def save_v2(prefix):
    with tf.control_dependencies([tf.raw_ops.SaveV2(
        prefix=prefix, tensor_names=["v"], shape_and_slices=[""],
        tensors=[module.v.read_value()])]):
      return tf.identity(prefix)

  save = tf.function(save_v2, input_signature=[tf.TensorSpec([], tf.string)])
  python = tf.function(lambda x: tf.py_function(lambda y: y * 2, [x], tf.float32),
                       input_signature=[tf.TensorSpec([], tf.float32)])
  tf.saved_model.save(module, str(tmp_path / "m"), signatures={
      "serving_default": save.get_concrete_function(), "other": python.get_concrete_function()})
  serving, saver = exported.graph_ops(str(tmp_path / "m"))
  assert "SaveV2" in serving and "SaveV2" in saver  # the signature's and the saver's own
  assert set(exported.untrusted_ops(str(tmp_path / "m"))) == {"SaveV2", "EagerPyFunc"}
