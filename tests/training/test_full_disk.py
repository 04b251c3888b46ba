"""Training onto a disk that fills up (issue 47, row 9): the VAE's checkpoint write died inside
HDF5 and the process segfaulted at exit (rc 139) after 21 h5py tracebacks. Now: one line naming
the workdir and "no space left", exit 1, the checkpoints written before intact, and the same
command resumes once there is room. On a real small file system (a tmpfs of its own; root)."""

import json
import os
import subprocess
import time

import pytest

from conftest import ROOT, console_script, start_tool, finish_tool


@pytest.fixture
def small_disk(tmp_path):
  """A 16 MB tmpfs mounted for the test (unmounted after it)."""
  folder = tmp_path / "disk"
  folder.mkdir()
  try:
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
                          capture_output=True, text=True, timeout=30)
  except FileNotFoundError:
    pytest.skip("no small file system can be made here: no mount command")
  if done.returncode:
    pytest.skip("no small file system can be made here: mount -t tmpfs failed "
                f"({done.stderr.strip() or done.returncode}; it needs root)")
  try:
    yield folder
  finally:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def _fill(folder, leave):
  """Writes folder/filler until at most ``leave`` bytes are free (or the disk is full)."""
  stat = os.statvfs(folder)
  left = stat.f_bavail * stat.f_frsize - leave
  chunk = b"\0" * (1 << 16)
  with open(folder / "filler", "ab") as f:
    try:
      while left > 0:
        f.write(chunk[:left])
        left -= len(chunk)
      f.flush()
    except OSError:  # the trainer took some of it meanwhile: full is full
      pass


def test_a_disk_that_fills_up_is_one_line_and_the_same_command_resumes(
    small_disk, lfw_ci, stats_setting):
  workdir = small_disk / "run"
  command = console_script("divcolor-train-vae") + [
      "--config", f"{ROOT}/configs/lfw.py:tiny", "--workdir", str(workdir), "--verbose", "0",
      f"--config.data.train={lfw_ci}", "--config.vae.epochs=1",
      "--config.vae.steps_per_epoch=40", "--config.train.checkpoint_steps=2",
      "--config.train.image_summaries=0", f"--config.{stats_setting}"]
  ckpt_dir = workdir / "checkpoints"
  process = start_tool(command)
  deadline = time.time() + 300
  state = None
  while time.time() < deadline and process.poll() is None:
    try:
      state = json.loads((ckpt_dir / "state.json").read_text())
      break
    except (OSError, ValueError):
      time.sleep(0.02)
  assert state is not None, finish_tool(process).stderr[-3000:]
  # The disk fills up: less room than one more checkpoint takes.
  _fill(small_disk, (ckpt_dir / state["weights"]).stat().st_size // 2)
  done = finish_tool(process)
  assert done.returncode == 1, (done.returncode, done.stderr[-3000:])  # was -11 (rc 139)
  assert "Traceback" not in done.stderr, done.stderr[-3000:]
  last = done.stderr.strip().splitlines()[-1]
  assert last.startswith(f"divcolor-train-vae: {workdir}: no space left on its disk ("), last
  assert last.endswith("training stopped, the checkpoints written before are intact: free some "
                       "space and run the same command to resume"), last
  # The newest checkpoint the run wrote is whole, and nothing half-written is left.
  from divcolor_tf.training import checkpoints  # pylint: disable=g-import-not-at-top
  kept = checkpoints.check(str(ckpt_dir))
  assert kept is not None and kept["step"] >= state["step"], kept
  assert not [n for n in os.listdir(ckpt_dir) if n.startswith(".divcolor-tmp-")]
  os.remove(small_disk / "filler")
  again = finish_tool(start_tool(command))
  assert again.returncode == 0, again.stderr[-3000:]
  assert checkpoints.read_state(str(ckpt_dir))["epoch"] == 1
  assert (workdir / "encoder.keras").exists() and (workdir / "decoder.keras").exists()
