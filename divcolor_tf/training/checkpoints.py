"""Resumable checkpoints: the trainer's weights, its optimizer's state and the run's position.

Checkpoints hold the weights of the trainer model and its optimizer's state (Keras ``.weights.h5``),
one file per epoch and, with ``train.checkpoint_minutes`` / ``train.checkpoint_steps``, others
inside an epoch, written to a temporary name and renamed, so an interrupted write never replaces
a good checkpoint; ``state.json`` names the newest one with its position (epoch, step) and what
``.weights.h5`` does not hold: the running means of the epoch's logged terms and the states of
the Keras seed generators (dropout). A checkpoint is only written when every weight is finite.
"""

import contextlib
import os
import time
from typing import NamedTuple

from absl import logging
import keras
import numpy as np

from divcolor_tf.io import atomic
from divcolor_tf import workdir as workdir_lib


CHECKPOINT_DIR = "checkpoints"  # in a stage's workdir
STATE_FILE = "state.json"


def _damaged(file, problem, ckpt_dir):
  """The one-line error of a damaged checkpoint file: which file, why, and what the user can do
  (nothing is removed for them)."""
  return atomic.UnreadableFileError(
      f"{file}: {problem}; move {ckpt_dir} away to start this stage over")


def releasing_space(write):
  """``write`` (path -> None, an HDF5 writer: Keras' ``save_weights`` or ``save``) for
  ``atomic.write_with``, giving back the disk space of a file it could not finish.

  When a disk fills up under HDF5, its file cannot be closed (the close must write too): the
  library keeps it open, so removing the temporary frees none of its blocks, and at the
  interpreter's exit HDF5 closes it again and crashes (issue 47, row 9: VAE training onto a full
  disk ended in a segfault, rc 139, after 21 h5py tracebacks). Truncating the file first frees its
  blocks, so that the library's last close succeeds and the error reaches the run's one line.
  """
  def guarded(temp):
    try:
      write(temp)
    except OSError as e:
      if workdir_lib.disk_full(e):
        with contextlib.suppress(OSError):
          os.truncate(temp, 0)
      raise

  return guarded


def all_finite(model):
  return all(np.all(np.isfinite(w)) for w in model.get_weights())


class Position(NamedTuple):
  """Where a run stands: ``epoch`` epochs done, ``step`` batches of the next one done."""
  epoch: int = 0
  step: int = 0


def _seed_generators(model):
  """Every Keras seed generator of ``model`` and its layers (dropout), in a fixed order."""
  found = []
  for layer in model._flatten_layers(include_self=True, recursive=True):  # pylint: disable=protected-access
    found.extend(getattr(layer, "_seed_generators", ()))
  return found


class Checkpointer(keras.callbacks.Callback):
  """Saves the trainer's weights and optimizer state after every epoch and, when asked, every
  ``every_steps`` steps or ``every_minutes`` minutes inside one; keeps the newest ``keep``.

  ``state.json`` records the position and what the weights file does not hold (the logged terms'
  running means, the seed generators' states); :func:`restore` reads them back and this callback
  puts the running means back at the start of the resumed epoch (Keras resets them there).
  """

  AGREE_EVERY = 10  # steps between a multi-worker job's checks of the clock

  def __init__(self, ckpt_dir, keep=2, every_steps=0, every_minutes=0.0, resume=None,
               agree=None):
    super().__init__()
    self.ckpt_dir = ckpt_dir
    self.keep = keep
    self.every_steps = int(every_steps or 0)
    self.every_seconds = 60.0 * float(every_minutes or 0.0)
    self.resume = resume  # the state restored, until the resumed epoch starts
    # In a resumed epoch, the trackers' running means as its training ends (before validation
    # resets them): fit logs none of them when no step of the epoch was left to run, or only
    # one it does not report (Keras' last step on data of unknown length), and history.csv's
    # columns would shift. None outside a resumed epoch.
    self.resumed_means = None
    self.step_offset = 0  # batches of the current epoch taken before this fit call
    self.epoch = 0
    self.last_save = time.time()
    # Multi-worker: flag -> whether any worker's flag is set, so that every worker takes a timed
    # checkpoint at the same step (a save reads all-reduced values); None: this process alone.
    self.agree = agree
    os.makedirs(ckpt_dir, exist_ok=True)

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch
    self.resumed_means = None
    if self.resume is not None and self.resume.get("step"):
      self.resumed_means = {}  # taken when the epoch's training ends
      for tracker in self.model.metrics:
        values = self.resume.get("trackers", {}).get(tracker.name)
        if values is not None:
          for variable, value in zip(tracker.variables, values):
            variable.assign(value)
    self.resume = None

  def _take_resumed_means(self):
    if self.resumed_means == {}:
      self.resumed_means = {t.name: float(t.result()) for t in self.model.metrics}

  def on_test_begin(self, logs=None):  # the epoch's validation, before it resets the trackers
    self._take_resumed_means()

  def on_train_batch_end(self, batch, logs=None):
    step = self.step_offset + batch + 1
    due_steps = self.every_steps and step % self.every_steps == 0
    due_time = self.every_seconds and time.time() - self.last_save >= self.every_seconds
    if self.agree is not None and self.every_seconds:
      due_time = step % self.AGREE_EVERY == 0 and self.agree(due_time)
    if due_steps or due_time:
      self._save(Position(self.epoch, step), logs)

  def on_epoch_end(self, epoch, logs=None):
    self.step_offset = 0
    self._take_resumed_means()  # no validation: the trackers still hold the training's
    for key, value in (self.resumed_means or {}).items():  # for the CSV logger after this one
      if logs is not None:
        logs.setdefault(key, value)
    self.resumed_means = None
    self._save(Position(epoch + 1, 0), logs)

  def _save(self, position, logs):
    if not all_finite(self.model):
      raise FloatingPointError(
          f"epoch {position.epoch + (1 if position.step else 0)}: non-finite weights; training "
          f"stopped, checkpoint not written (last good: epoch {latest_epoch(self.ckpt_dir)}). "
          "Lower the stage's learning_rate or set its clipnorm (e.g. vae.learning_rate, "
          "vae.clipnorm), then resume from the same workdir.")
    name = f"epoch-{position.epoch:04d}.weights.h5"
    if position.step:  # inside epoch position.epoch + 1
      name = f"epoch-{position.epoch + 1:04d}-step-{position.step:06d}.weights.h5"
    path = os.path.join(self.ckpt_dir, name)
    atomic.write_with(releasing_space(self.model.save_weights), path)
    state = {
        "epoch": position.epoch, "step": position.step, "weights": name,
        "logs": {k: float(v) for k, v in (logs or {}).items()},
        "trackers": {t.name: [np.asarray(v).tolist() for v in t.variables]
                     for t in self.model.metrics},
        "seed_generators": [np.asarray(g.state).tolist() for g in _seed_generators(self.model)],
    }
    atomic.write_json(os.path.join(self.ckpt_dir, STATE_FILE), state, indent=2)
    self.last_save = time.time()
    old = sorted(f for f in os.listdir(self.ckpt_dir) if f.startswith("epoch-"))[:-self.keep]
    for f in old:
      os.remove(os.path.join(self.ckpt_dir, f))


def read_state(ckpt_dir):
  """The newest checkpoint's state.json as a dict, or None when there is none."""
  path = os.path.join(ckpt_dir, STATE_FILE)
  if not os.path.exists(path):
    return None
  try:
    state = atomic.read_json(path)
  except atomic.UnreadableFileError as e:  # "<path>: not valid JSON (...)"
    raise _damaged(path, str(e).removeprefix(f"{path}: "), ckpt_dir) from None
  try:
    int(state["epoch"]), int(state.get("step", 0)), os.fspath(state["weights"])
  except (KeyError, TypeError, ValueError) as e:
    raise _damaged(path, f"not a checkpoint state ({type(e).__name__}: {atomic.brief(e)})",
                   ckpt_dir) from None
  return state


def check(ckpt_dir):
  """Reads the newest checkpoint's state and opens its weights file, so that a damaged checkpoint
  stops a resume before the run writes anything; returns the state (None without a checkpoint).

  Raises:
    atomic.UnreadableFileError: one line naming the damaged state.json or weights file.
  """
  import h5py  # pylint: disable=g-import-not-at-top  (Keras' own dependency)
  state = read_state(ckpt_dir)
  if state is None:
    return None
  weights = os.path.join(ckpt_dir, state["weights"])
  try:
    with h5py.File(weights, "r"):
      pass
  except (OSError, ValueError) as e:  # missing, empty, truncated, not HDF5
    raise _damaged(weights, f"cannot be restored ({type(e).__name__}: {atomic.brief(e)})",
                   ckpt_dir) from None
  return state


def latest_epoch(ckpt_dir):
  """The whole epochs of the newest checkpoint in ``ckpt_dir``, 0 when there is none."""
  state = read_state(ckpt_dir)
  return int(state["epoch"]) if state else 0


def restore(model, ckpt_dir):
  """Loads the newest checkpoint into a compiled model.

  Returns:
    (Position to resume from (0, 0 without a checkpoint), the checkpoint's state dict or None).
  """
  state = read_state(ckpt_dir)
  if state is None:
    return Position(), None
  weights = os.path.join(ckpt_dir, state["weights"])
  try:
    with model.distribute_strategy.scope():  # the optimizer's slots are the strategy's variables
      if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
      model.load_weights(weights)
  except (OSError, ValueError, KeyError) as e:  # h5py's truncated / foreign / empty files
    raise _damaged(weights, f"cannot be restored ({type(e).__name__}: {atomic.brief(e)})",
                   ckpt_dir) from None
  for generator, value in zip(_seed_generators(model), state.get("seed_generators", ())):
    generator.state.assign(np.asarray(value, generator.state.dtype))
  position = Position(int(state["epoch"]), int(state.get("step", 0)))
  logging.info("resumed from %s (epoch %d, step %d)", state["weights"], *position)
  return position, state


def trim_history(path, epoch):
  """Keeps history.csv's rows of the first ``epoch`` epochs (the checkpointed ones): a fresh
  start removes a stale file, a resume drops rows an interrupted run logged past its checkpoint.
  A line that is no epoch's row (a note a user added; its first field is not a number) is kept
  as it is, with a warning naming it: it was a traceback on resume (issue 47, row 14)."""
  if not os.path.exists(path):
    return
  if epoch == 0:
    os.remove(path)
    return
  with open(path) as f:
    lines = f.readlines()
  kept = lines[:1]
  for number, line in enumerate(lines[1:], 2):
    try:
      logged = int(float(line.split(",", 1)[0]))
    except ValueError:
      if line.strip():
        logging.warning("%s, line %d: not an epoch's row (its first field is no epoch number); "
                        "kept as it is: %s", path, number, atomic.brief(line, 80))
      kept.append(line)
      continue
    if logged < epoch:
      kept.append(line)
  if len(kept) != len(lines):
    atomic.write_text(path, "".join(kept))
