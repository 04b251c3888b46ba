"""Faults a user meets: a training run killed and resumed, a run gone non-finite, broken stage
files. Each test drives the installed command lines in fresh processes, as a user would."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import conftest

TINY = "configs/lfw.py:tiny"


def _train_vae(workdir, photos, *overrides):
  return conftest.start_tool(conftest.console_script("divcolor-train-vae") + [
      "--config", TINY, "--workdir", str(workdir), "--verbose", "0",
      f"--config.data.train={photos}", *overrides])


def _position(workdir):
  try:
    with open(os.path.join(workdir, "checkpoints", "state.json")) as f:
      state = json.load(f)
  except (OSError, ValueError):  # not written yet, or being replaced
    return None
  return state["epoch"], state.get("step", 0)


def _weights(workdir):
  import keras  # pylint: disable=g-import-not-at-top
  from divcolor_tf import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  return [w for name in (workdir_lib.ENCODER, workdir_lib.DECODER)
          for w in keras.models.load_model(os.path.join(workdir, name), compile=False).get_weights()]


def _rows(workdir):
  with open(os.path.join(workdir, "history.csv")) as f:
    lines = [line.strip().split(",") for line in f if line.strip()]
  return [dict(zip(lines[0], row)) for row in lines[1:]]


def _assert_same_run(uninterrupted, resumed, how):
  """The resumed workdir ends as the uninterrupted one: its final weights and the logged losses of
  each of the 3 epochs, to float tolerance."""
  for a, b in zip(_weights(uninterrupted), _weights(resumed)):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=how)
  rows_a, rows_b = _rows(uninterrupted), _rows(resumed)
  assert [r["epoch"] for r in rows_b] == ["0", "1", "2"], (how, rows_b)
  for row_a, row_b in zip(rows_a, rows_b):
    for key in ("loss", "hist", "kl", "val_loss"):
      assert float(row_b[key]) == pytest.approx(float(row_a[key]), rel=1e-5), (key, how)


_SCHEDULE = ["--config.vae.epochs=3", "--config.vae.steps_per_epoch=5",
             "--config.train.checkpoint_steps=1"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, lfw_ci):
  """The uninterrupted run of _SCHEDULE (its colour statistics computed by the trainer)."""
  reference = tmp_path_factory.mktemp("uninterrupted")
  done = conftest.finish_tool(_train_vae(reference, lfw_ci, *_SCHEDULE))
  assert done.returncode == 0, done.stderr[-2000:]
  return reference


def test_a_run_killed_twice_and_resumed_ends_where_the_uninterrupted_run_ends(
    tmp_path, uninterrupted, lfw_ci, stats_setting):
  """SIGKILL once a checkpoint at global step 4 (inside epoch 1 of 5 steps) is on disk, resume
  with the same command, SIGKILL again past step 13 (inside epoch 3), resume once more: the final
  weights and the logged losses equal the uninterrupted run's."""
  steps_per_epoch = 5
  resumed = tmp_path / "resumed"
  schedule = [*_SCHEDULE, f"--config.{stats_setting}"]
  killed = []
  for passes, kill_at in enumerate((4, 13), 1):
    process = _train_vae(resumed, lfw_ci, *schedule)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
      position = _position(resumed)
      if position and position[0] * steps_per_epoch + position[1] >= kill_at:
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed.append(position)
        break
      time.sleep(0.02)
    assert len(killed) == passes, f"the run ended before step {kill_at}"
    assert process.returncode == -signal.SIGKILL
  again = conftest.finish_tool(_train_vae(resumed, lfw_ci, *schedule))
  assert again.returncode == 0, again.stderr[-2000:]

  _assert_same_run(uninterrupted, resumed, f"killed at {killed}")


_ONE_PASS = ["--config.vae.epochs=3", "--config.vae.steps_per_epoch=0",  # an epoch: one pass
             "--config.train.checkpoint_steps=1"]


@pytest.fixture(scope="module")
def uninterrupted_one_pass(tmp_path_factory, lfw_ci, stats_setting):
  """The uninterrupted run of _ONE_PASS."""
  reference = tmp_path_factory.mktemp("uninterrupted_one_pass")
  done = conftest.finish_tool(_train_vae(reference, lfw_ci, *_ONE_PASS,
                                         f"--config.{stats_setting}"))
  assert done.returncode == 0, done.stderr[-2000:]
  return reference


@pytest.mark.parametrize("schedule", ["steps_per_epoch", "one pass"])
def test_a_run_killed_between_an_epochs_last_step_and_its_end_resumes_with_the_next_epoch(
    request, tmp_path, lfw_ci, stats_setting, schedule):
  """issue 47, row 8: SIGKILL after the step checkpoint at epoch 2's last step, before its
  epoch-end checkpoint (the kill is placed there exactly: at the start of the checkpointer's
  epoch end). Resumed, with vae.steps_per_epoch 5 - 5 = 0 steps reached Keras' fit, which took
  0 for "until the data ends" on data that repeats: it trained on and never ended; with epochs of
  one pass over the photos, it logged no training terms (history.csv's columns shifted). Now the
  resumed run ends epoch 2 (its validation, its history row, its checkpoint) and trains epoch 3
  only: it ends where the uninterrupted run ends."""
  one_pass = schedule == "one pass"
  uninterrupted = request.getfixturevalue("uninterrupted_one_pass" if one_pass else "uninterrupted")
  resumed = tmp_path / "resumed"
  schedule = [*(_ONE_PASS if one_pass else _SCHEDULE), f"--config.{stats_setting}"]
  kill_at_epoch_end = ("import os, signal\n"
                       "from divcolor_tf.training import checkpoints\n"
                       "end = checkpoints.Checkpointer.on_epoch_end\n"
                       "def on_epoch_end(self, epoch, logs=None):\n"
                       "  if epoch == 1:\n"
                       "    os.kill(os.getpid(), signal.SIGKILL)\n"
                       "  end(self, epoch, logs)\n"
                       "checkpoints.Checkpointer.on_epoch_end = on_epoch_end\n"
                       "from divcolor_tf.bin import train_vae\n"
                       "train_vae.run()\n")
  killed = conftest.finish_tool(conftest.start_tool(
      [sys.executable, "-c", kill_at_epoch_end, "--config", TINY, "--workdir", str(resumed),
       "--verbose", "0", f"--config.data.train={lfw_ci}", *schedule]))
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
  epoch, steps = _position(resumed)
  assert epoch == 1 and steps == (steps if one_pass else 5) > 0  # epoch 2's last step, not its end

  process = _train_vae(resumed, lfw_ci, *schedule)
  try:
    deadline = time.time() + 300  # a guard against the hang, not a measure
    while process.poll() is None and time.time() < deadline:
      position = _position(resumed)
      assert position is None or position[1] <= steps, (
          f"epoch {position[0] + 1} went on to step {position[1]} of {steps}")
      time.sleep(0.05)
  finally:
    if process.poll() is None:
      process.kill()
  again = conftest.finish_tool(process)
  assert again.returncode == 0, again.stderr[-2000:]
  assert _position(resumed) == (3, 0)
  _assert_same_run(uninterrupted, resumed, "killed at epoch 2's end")


def test_the_nan_stop_is_one_line_and_its_advice_works(tmp_path, lfw_ci, stats_setting):
  """A good first epoch, then a learning rate that blows the run up: it stops with one line (exit
  1, no checkpoint of the bad epoch); following the line's advice (a lower rate, same workdir)
  resumes from the good epoch at the lower rate and finishes."""
  workdir = tmp_path / "run"
  common = ["--config.vae.steps_per_epoch=4", "--config.vae.optimizer=sgd",
            "--config.vae.log_variance_limit=5", f"--config.{stats_setting}"]
  first = conftest.finish_tool(_train_vae(
      workdir, lfw_ci, "--config.vae.epochs=1", "--config.vae.learning_rate=1e-4", *common))
  assert first.returncode == 0, first.stderr[-2000:]
  bad = conftest.finish_tool(_train_vae(
      workdir, lfw_ci, "--config.vae.epochs=2", "--config.vae.learning_rate=1e6", *common))
  assert bad.returncode == 1, bad.stderr[-2000:]
  message = [line for line in bad.stderr.splitlines() if line.startswith("divcolor-train-vae:")]
  assert len(message) == 1 and "non-finite" in message[0], bad.stderr[-2000:]
  assert "Traceback" not in bad.stderr
  assert "last good checkpoint: epoch 1" in message[0]
  assert "Lower the stage's learning_rate" in message[0]
  assert _position(workdir) == (1, 0)
  good = conftest.finish_tool(_train_vae(
      workdir, lfw_ci, "--config.vae.epochs=2", "--config.vae.learning_rate=1e-4", *common))
  assert good.returncode == 0, good.stderr[-2000:]
  assert "epoch 2: learning rate 0.0001" in good.stderr
  assert all(np.all(np.isfinite(w)) for w in _weights(workdir))
  assert _position(workdir) == (2, 0)


@pytest.mark.parametrize("broken", ["empty", "truncated"])
def test_a_broken_stage_file_is_one_line(tmp_path, uninterrupted, broken):
  """evaluate-vae on a workdir whose encoder.keras is 0 bytes or cut short: one line naming the
  file, exit 1."""
  workdir = tmp_path / "run"
  shutil.copytree(uninterrupted, workdir)  # a trained workdir (the kill tests' reference run)
  encoder = workdir / "encoder.keras"
  data = encoder.read_bytes()
  encoder.write_bytes(b"" if broken == "empty" else data[:len(data) // 2])
  result = subprocess.run(
      conftest.console_script("divcolor-evaluate-vae") + ["--workdir", str(workdir)],
      capture_output=True, text=True, env=conftest.tool_env(), timeout=300)
  assert result.returncode == 1
  lines = [line for line in result.stderr.splitlines() if line.startswith("divcolor-evaluate-vae:")]
  assert len(lines) == 1 and str(encoder) in lines[0], result.stderr[-2000:]
  assert "Traceback" not in result.stderr


def test_statistics_of_too_few_photos_floor_their_zero_variances(lfw_ci, caplog):
  """10 photos give at most 9 nonzero PCA variances of 20: the other 11 (~1e-15 before) are raised
  to a floor with a warning naming how many photos L_mah needs, and L_mah stays finite."""
  from divcolor_tf import data, losses  # pylint: disable=g-import-not-at-top
  from divcolor_tf.data import stats  # pylint: disable=g-import-not-at-top
  paths = data.list_images(str(lfw_ci))[:10]
  result = stats.compute(paths, n_components=20, batch_size=10)
  floor = stats.VARIANCE_FLOOR * result.pca_total_variance
  assert np.sum(result.pca_variance > 10 * floor) == 9
  assert np.all(result.pca_variance >= floor * (1 - 1e-12))
  message = [r.getMessage() for r in caplog.records if "PCA variances are ~0" in r.getMessage()]
  assert len(message) == 1 and "11 of the 20" in message[0] and "at least 21" in message[0]
  fields = next(iter(data.make_dataset(paths[:2], grey_size=64, batch_size=2)))["colour_field"]
  value = losses.mahalanobis_loss(fields[:1], fields[1:], result.pca_components.astype(np.float32),
                                  result.pca_variance.astype(np.float32))
  assert np.all(np.isfinite(value.numpy())) and float(value.numpy().max()) < 1e12


def _one_line(result, prog):
  """The tool's own error lines, after asserting it failed with one and no traceback."""
  lines = [line for line in result.stderr.splitlines() if line.startswith(f"{prog}:")]
  assert result.returncode == 1 and len(lines) == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr, result.stderr[-2000:]
  return lines[0]


_DAMAGE = {  # issue 29, row 6: what a checkpoint looks like after a full disk, a bad copy, an edit
    "truncated weights": ("weights", lambda data: data[:len(data) // 2]),
    "random weights": ("weights", lambda data: os.urandom(len(data))),
    "empty weights": ("weights", lambda data: b""),
    "state cut short": ("state", lambda data: data[:len(data) // 2]),
    "state without its weights": ("state", lambda data: b'{"epoch": 3, "step": 0}'),
}


@pytest.mark.parametrize("damage", list(_DAMAGE))
def test_a_damaged_checkpoint_stops_the_resume_with_one_line_and_keeps_the_files(
    tmp_path, uninterrupted, lfw_ci, damage):
  """Resuming from a checkpoint whose weights or state.json are damaged: one line naming the
  damaged file and how to start the stage over, exit 1, and the workdir's files as they were."""
  workdir = tmp_path / "run"
  shutil.copytree(uninterrupted, workdir)
  checkpoints = workdir / "checkpoints"
  state = json.loads((checkpoints / "state.json").read_text())
  which, damaged_bytes = _DAMAGE[damage]
  target = checkpoints / (state["weights"] if which == "weights" else "state.json")
  target.write_bytes(damaged_bytes(target.read_bytes()))
  # (.lock, the run's own lock, records the pid of whichever run holds it: not the user's)
  before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file() and p.name != ".lock"}
  result = conftest.finish_tool(_train_vae(workdir, lfw_ci, *_SCHEDULE[1:], "--config.vae.epochs=4"))
  line = _one_line(result, "divcolor-train-vae")
  assert str(target) in line and "to start this stage over" in line, line
  after = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file() and p.name != ".lock"}
  assert after == before  # nothing the run had is replaced, nothing written beside it


@pytest.mark.parametrize("name", ["export.json", "config.json"])
def test_a_damaged_metadata_file_of_an_export_is_one_line_naming_it(tmp_path, repo_root, lfw_ci,
                                                                    name):
  """issue 29, row 5: the bundled export with its assets.extra/export.json or config.json cut
  short. The API raises a ValueError naming the file; divcolor-colorize and divcolor-evaluate end
  with one line naming it."""
  import divcolor_tf  # pylint: disable=g-import-not-at-top
  export = tmp_path / "model"
  shutil.copytree(repo_root / "saved_models" / "divcolor_lfw", export)
  damaged = next(export.glob(f"*/assets.extra/{name}"))
  damaged.write_text(damaged.read_text()[:10])
  with pytest.raises(ValueError) as raised:
    divcolor_tf.load(str(export))
  assert str(damaged) in str(raised.value) and "not valid JSON" in str(raised.value)
  assert "\n" not in str(raised.value)
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  photo = data.list_images(str(lfw_ci))[0]
  for prog, args in (("divcolor-colorize", ["--input", photo, "--output", str(tmp_path / "out")]),
                     ("divcolor-evaluate", ["--images", str(lfw_ci)])):
    result = subprocess.run(conftest.console_script(prog) + ["--model", str(export), *args],
                            capture_output=True, text=True, env=conftest.tool_env(), timeout=300)
    line = _one_line(result, prog)
    assert str(damaged) in line and "not valid JSON" in line, line


def test_a_training_set_with_no_usable_photo_is_one_line(tmp_path, lfw_ci):
  """issue 29, row 8: a folder of grey photos only, a list file whose paths are all missing, a
  validation list whose paths are all missing: one line naming the source and why, exit 1 (they
  were tracebacks: "0 usable photos" as a bare ValueError, StopIteration)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  grey = tmp_path / "grey"
  grey.mkdir()
  rng = np.random.default_rng(0)
  for i in range(4):
    Image.fromarray(rng.integers(0, 256, (64, 64), np.uint8)).convert("RGB").save(grey / f"g{i}.png")
  missing = tmp_path / "missing.txt"
  missing.write_text("/no/such/a.jpg\n/no/such/b.jpg\n")
  cases = [
      ([f"--config.data.train={grey}"], "0 usable photo(s) of 4", "4 near-grey"),
      ([f"--config.data.train={missing}"], "0 usable photo(s) of 2", "2 unreadable"),
      ([f"--config.data.train={lfw_ci}", f"--config.data.val={missing}"],
       f"config data.val={missing}: none of the 2 validation photos exists", "/no/such/a.jpg"),
  ]
  for overrides, says, why in cases:
    workdir = tmp_path / "run"
    result = conftest.finish_tool(conftest.start_tool(
        conftest.console_script("divcolor-train-vae") + [
            "--config", TINY, "--workdir", str(workdir), "--verbose", "0", *overrides]))
    line = _one_line(result, "divcolor-train-vae")
    assert says in line and why in line, line
    shutil.rmtree(workdir, ignore_errors=True)
