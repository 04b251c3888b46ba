"""A stage's folder is locked by the run that trains it (issue 47, item 4 and row 21): a second run
on it ends in one line naming the folder and the holder's pid, exit 1, having changed nothing; a
killed run leaves no stale lock. Real processes throughout: the installed command line, and a
process that holds the lock as a trainer does (``workdir.lock``)."""

import signal
import subprocess
import sys
import time

from conftest import ROOT, console_script, finish_tool, start_tool, tool_env

_HOLD = r"""
import sys, time
from divcolor_tf import workdir
workdir.lock(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


def _train_vae(workdir, lfw_ci, *settings):
  return console_script("divcolor-train-vae") + [
      "--config", f"{ROOT}/configs/lfw.py:tiny", "--workdir", str(workdir), "--verbose", "0",
      f"--config.data.train={lfw_ci}", "--config.vae.epochs=1",
      "--config.train.image_summaries=0", *[f"--config.{s}" for s in settings]]


def _hold(folder):
  """A process holding ``folder``'s lock as a trainer does; returns it once it holds it."""
  holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder)], stdout=subprocess.PIPE,
                            text=True, env=tool_env())
  assert holder.stdout.readline().strip() == "held"
  return holder


def test_a_second_trainer_on_a_training_workdir_is_one_line_and_a_killed_one_leaves_no_lock(
    lfw_ci, tmp_path, stats_setting):
  workdir = tmp_path / "run"
  # The first run trains on (no step checkpoints: killed, it leaves none to resume from).
  first = start_tool(_train_vae(workdir, lfw_ci, stats_setting, "vae.steps_per_epoch=100000"))
  try:
    config = workdir / "config.json"  # written once the lock is taken
    deadline = time.time() + 300
    while not config.exists():
      assert first.poll() is None and time.time() < deadline, finish_tool(first).stderr[-3000:]
      time.sleep(0.05)
    written = config.stat()
    done = subprocess.run(_train_vae(workdir, lfw_ci, stats_setting, "vae.steps_per_epoch=2"),
                          capture_output=True, text=True, env=tool_env(), timeout=600)
    assert done.returncode == 1, done.stderr[-3000:]  # was 0: both trained into one workdir
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last == (f"divcolor-train-vae: {workdir}: in use by another training run (pid "
                    f"{first.pid}, holding {workdir}/.lock); wait for it to end, or train in "
                    "another --workdir"), last
    again = config.stat()  # not replaced (the second run's config.json would be a new file)
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert first.poll() is None  # the first run trains on
  finally:
    first.send_signal(signal.SIGKILL)
    first.wait()
  # The kernel dropped the killed run's lock: the same command now trains, unrefused.
  done = subprocess.run(_train_vae(workdir, lfw_ci, stats_setting, "vae.steps_per_epoch=2"),
                        capture_output=True, text=True, env=tool_env(), timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert (workdir / "encoder.keras").exists()
  assert (workdir / ".lock").exists()  # the file stays (removing it would race), unheld:
  holder = _hold(workdir)  # another process takes it at once
  holder.kill()
  holder.wait()


def test_a_held_workdir_is_left_exactly_as_it_was(lfw_ci, tmp_path, stats_setting):
  """The refused run writes nothing at all: not config.json, not checkpoints/, not the lock."""
  workdir = tmp_path / "run"
  holder = _hold(workdir)
  try:
    before = {p.name: p.read_bytes() for p in workdir.iterdir()}
    done = subprocess.run(_train_vae(workdir, lfw_ci, stats_setting, "vae.steps_per_epoch=2"),
                          capture_output=True, text=True, env=tool_env(), timeout=600)
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"(pid {holder.pid}, holding {workdir}/.lock)" in done.stderr.strip().splitlines()[-1]
    assert {p.name: p.read_bytes() for p in workdir.iterdir()} == before
    assert list(before) == [".lock"]
  finally:
    holder.kill()
    holder.wait()
