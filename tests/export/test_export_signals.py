"""An export killed midway leaves nothing behind (issue 47 row 13): SIGTERM ends divcolor-export
as an exception does (its partial version folder and the export it unpacked into $TMPDIR are
removed), and a later export removes the partial folders of exports killed outright (SIGKILL),
never a folder of the user's."""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import console_script
from conftest import tool_env
import tiny_models
from divcolor_tf import colorize
from divcolor_tf import export
from divcolor_tf.io import atomic


@pytest.fixture(scope="module")
def colorizer(repo_root, lfw_ci):
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  return colorize.Colorizer(*tiny_models.build(config), config)


@pytest.fixture(scope="module")
def source_export(colorizer, tmp_path_factory):
  """An export to export again: divcolor-export unpacks it into $TMPDIR first."""
  out = tmp_path_factory.mktemp("source") / "divcolor_tiny"
  return export.export_saved_model(colorizer, out, version=1)


def _hidden_folders(folder):
  return sorted(n for n in os.listdir(folder) if n.startswith(".")) if os.path.isdir(folder) else []


def test_sigterm_removes_the_partial_folder_and_the_unpacked_export(source_export, tmp_path):
  tmpdir, out = tmp_path / "tmpdir", tmp_path / "out"
  tmpdir.mkdir()
  process = subprocess.Popen(
      console_script("divcolor-export") + ["--model", source_export, "--out", str(out)],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(tool_env(), TMPDIR=str(tmpdir)))
  try:
    while process.poll() is None and not _hidden_folders(out):  # the partial version folder
      time.sleep(0.005)
    assert process.poll() is None, "the export ended before its partial folder was seen"
    assert [n for n in os.listdir(tmpdir) if n.startswith("divcolor-unpacked-")]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
  finally:
    if process.poll() is None:
      process.kill()
      process.communicate()
  assert process.returncode == 128 + signal.SIGTERM, stderr
  assert "Traceback" not in stderr
  assert _hidden_folders(out) == [] and not (out / "1").exists()
  assert os.listdir(tmpdir) == []


def _dead_pid():
  process = subprocess.Popen(["true"])
  process.wait()
  return process.pid


def test_an_export_removes_killed_exports_partial_folders_only(colorizer, tmp_path):
  out = tmp_path / "out"
  pid = _dead_pid()
  stale = out / f"{atomic.TEMP_PREFIX}{pid}-0123abcd-1"  # a killed export's, marked
  (stale / "variables").mkdir(parents=True)
  (stale / atomic.TEMP_MARKER).touch()
  unmarked = out / f"{atomic.TEMP_PREFIX}{pid}-0123abcd-2"  # the shape without the marker
  user = out / ".1.partial-mine"  # a user's folder (and an older version's name)
  for folder in (unmarked, user):
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
  path = export.export_saved_model(colorizer, out, version=3)
  assert os.path.isfile(os.path.join(path, "saved_model.pb"))
  assert not os.path.exists(os.path.join(path, atomic.TEMP_MARKER))  # not published
  assert not stale.exists()
  assert (unmarked / "notes.txt").read_text() == "mine" and (user / "notes.txt").read_text() == "mine"
  assert sorted(os.listdir(out)) == sorted([unmarked.name, user.name, "3"])


@pytest.fixture
def full_disk(tmp_path):
  """A 1 MB file system (tmpfs): smaller than the tiny export. Needs the right to mount."""
  folder = tmp_path / "small_disk"
  folder.mkdir()
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                           capture_output=True, check=False)
  if mounted.returncode != 0:
    pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()})")
  yield folder
  subprocess.run(["umount", str(folder)], check=True)


def test_an_export_onto_a_full_disk_is_one_line_and_leaves_nothing(colorizer, full_disk):
  out = full_disk / "out"
  with pytest.raises(OSError) as raised:
    export.export_saved_model(colorizer, out, version=1)
  message = str(raised.value)
  assert raised.value.errno == errno.ENOSPC
  assert message == f"{out / '1'}: cannot be written: no space left on the disk of {out}"
  assert os.listdir(out) == []  # the partial folder removed


_MANGLED_SIGTERM = """
import os, signal, sys
from divcolor_tf.bin import cli

def main(argv):
  try:
    try:
      os.kill(os.getpid(), signal.SIGTERM)  # the handler raises SystemExit(143) here
      signal.pause()
    except SystemExit as stop:  # as a C call in TensorFlow passes it on: SystemError, then another
      raise TypeError("flatten failed") from SystemError(str(stop))
  finally:
    print("finally ran", flush=True)

sys.argv = ["divcolor-mangled"]
cli.run(main, "__main__", "")
"""


_PRINTED_SIGTERM = _MANGLED_SIGTERM.replace(
    'raise TypeError("flatten failed")',
    'import traceback; traceback.print_exc()  # as the C++ call prints it itself\n'
    '      raise TypeError("flatten failed")')


def test_a_traceback_that_a_c_call_prints_after_sigterm_stays_off_stderr(tmp_path):
  """The CI run of session 29's last landing: exit status 143, but stderr held the traceback of
  the SystemError that TensorFlow's nest flatten printed itself (from C++, not through Python's
  exception handling) when the handler's SystemExit was raised inside it."""
  assert "print_exc" in _PRINTED_SIGTERM
  result = subprocess.run([sys.executable, "-c", _PRINTED_SIGTERM], capture_output=True,
                          text=True, env=tool_env(), timeout=120, check=False)
  assert result.returncode == 128 + signal.SIGTERM, result.stderr
  assert "finally ran" in result.stdout
  assert result.stderr == "", result.stderr


def test_sigterm_that_a_c_call_turned_into_another_error_still_exits_143_quietly(tmp_path):
  """The CI run of session 28: the handler's SystemExit, raised inside TensorFlow's nest flatten
  while an export traced, came out as a TypeError with a traceback and exit status 1."""
  result = subprocess.run([sys.executable, "-c", _MANGLED_SIGTERM], capture_output=True, text=True,
                          env=tool_env(), timeout=120, check=False)
  assert result.returncode == 128 + signal.SIGTERM, result.stderr
  assert "finally ran" in result.stdout
  assert "Traceback" not in result.stderr, result.stderr
