"""What every trainer of the project shares: the gradient step (``ObjectiveTrainer``), the stage
set-up and wrap-up (``start_stage`` / ``finish_stage``), the device strategy, the optimizer and its
step decay, the fit loop with resumable checkpoints and a NaN guard.

One code path for 1..N devices: trainers build their models inside ``strategy.scope()`` and scale
per-example losses by the global batch (``tf.nn.compute_average_loss``); Keras then all-reduces the
gradients. On CPU, several devices are simulated with
``tf.config.set_logical_device_configuration`` (see ``split_cpu``).

Checkpoints hold the weights of the trainer model and its optimizer's state (Keras ``.weights.h5``),
one file per epoch and, with ``train.checkpoint_minutes`` / ``train.checkpoint_steps``, others
inside an epoch, written to a temporary name and renamed, so an interrupted write never replaces
a good checkpoint; ``state.json`` names the newest one with its position (epoch, step) and what
``.weights.h5`` does not hold: the running means of the epoch's logged terms and the states of
the Keras seed generators (dropout). A checkpoint is only written when every weight is finite.

Resume is the same run. The data order of epoch e is a function of (seed, e)
(``data.epoch_datasets``), a resumed epoch skips the batches its checkpoint had already taken,
and training noise is drawn statelessly from (seed, optimizer step, replica)
(:meth:`ObjectiveTrainer.noise_seed`), so a run killed at any step and resumed ends where the
uninterrupted run ends, to float tolerance (tests/test_faults.py).
"""

import json
import math
import os
import time
from typing import NamedTuple
import warnings

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from divcolor_tf import atomic

STATE_FILE = "state.json"


def split_cpu(n):
  """Splits the physical CPU into n logical devices (call before TensorFlow initialises)."""
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])


def get_strategy(num_devices=0):
  """MirroredStrategy over the first ``num_devices`` devices (0: all); the default strategy for one.

  GPUs are preferred when present; otherwise the (possibly split) CPU devices are used.
  """
  devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
  if num_devices:
    if num_devices > len(devices):
      raise ValueError(f"num_devices={num_devices} but only {len(devices)} devices are visible")
    devices = devices[:num_devices]
  if len(devices) > 1:
    # Reduction through one device works on CPU and GPU alike (NCCL needs GPUs).
    return tf.distribute.MirroredStrategy(
        [d.name for d in devices],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
  return tf.distribute.get_strategy()


class ObjectiveTrainer(keras.Model):
  """The gradient step every trainer of the project takes; subclasses define ``objective``.

  ``objective(batch, training)`` returns the per-example loss [B] and a dict of terms to log;
  each term that has a tracker (a Mean named in ``metric_names``, which starts with "loss") is
  logged. The loss is averaged over the GLOBAL batch, so the step is the same on 1..N devices.
  ``optimized_variables`` (default: every trainable variable) are what the step updates.
  """

  def __init__(self, metric_names, seed=0, **kwargs):
    super().__init__(**kwargs)
    self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}
    self.seed = int(seed)

  def noise_seed(self, inputs, training):
    """The stateless seed [2] of a step's noise, so that a resumed run draws the noise the
    uninterrupted run drew.

    Training: a function of the run's seed, the optimizer's step (restored with a checkpoint) and
    the replica (replicas draw different noise). Validation, which takes no optimizer step: a
    function of the run's seed and the batch's content (``inputs``, a fingerprint), so each
    validation batch gets its own noise, the same in every epoch and every process.
    """
    if training:
      context = tf.distribute.get_replica_context()
      replica = context.replica_id_in_sync_group if context else 0
      replicas = context.num_replicas_in_sync if context else 1
      key = tf.cast(self.optimizer.iterations, tf.int64) * replicas + tf.cast(replica, tf.int64)
    else:
      rows = tf.reshape(inputs, [tf.shape(inputs)[0], -1])
      key = tf.bitcast(tf.fingerprint(rows)[0], tf.int64) // 2 - (1 << 62)  # < 0: not a step
    return tf.stack([tf.constant(self.seed, tf.int64), key])

  @property
  def metrics(self):
    return list(self.trackers.values())

  @property
  def optimized_variables(self):
    return self.trainable_variables

  def objective(self, batch, training):
    raise NotImplementedError

  def _update_metrics(self, per_example, terms):
    self.trackers["loss"].update_state(per_example)
    for name, value in terms.items():
      if name in self.trackers:
        self.trackers[name].update_state(value)
    return {name: tracker.result() for name, tracker in self.trackers.items()}

  def train_step(self, batch):
    with tf.GradientTape() as tape:
      per_example, terms = self.objective(batch, training=True)
      loss = tf.nn.compute_average_loss(per_example)  # divides by the GLOBAL batch size
      scaled = self.optimizer.scale_loss(loss)
    variables = self.optimized_variables
    gradients = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    return self._update_metrics(per_example, terms)

  def test_step(self, batch):
    per_example, terms = self.objective(batch, training=False)
    return self._update_metrics(per_example, terms)

  def make_test_function(self, force=False):
    """Validation is compiled without XLA, even after ``compile(jit_compile=True)``: its noise
    seed (:meth:`noise_seed`) hashes the batch with tf.fingerprint, which has no XLA kernel."""
    jit_compile = self.jit_compile
    self.jit_compile = False
    try:
      return super().make_test_function(force)
    finally:
      self.jit_compile = jit_compile


def set_precision(mixed):
  """bf16 compute with fp32 variables (measured ~1.5x faster on this CPU), or plain fp32."""
  keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed else "float32")


def all_finite(model):
  return all(np.all(np.isfinite(w)) for w in model.get_weights())


class NanGuard(keras.callbacks.Callback):
  """Stops training at the first non-finite loss, before any checkpoint of that epoch is written."""

  def __init__(self, ckpt_dir):
    super().__init__()
    self.ckpt_dir = ckpt_dir
    self.epoch = 0

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    bad = {k: v for k, v in (logs or {}).items() if not math.isfinite(float(v))}
    if bad:
      last = latest_epoch(self.ckpt_dir)
      raise FloatingPointError(
          f"epoch {self.epoch + 1}, step {batch + 1}: non-finite loss {bad}; training stopped, no "
          f"checkpoint written for this epoch (last good checkpoint: "
          f"{'epoch %d' % last if last else 'none'}). Lower train.learning_rate or set "
          "train.clipnorm, then resume from the same workdir.")


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

  def __init__(self, ckpt_dir, keep=2, every_steps=0, every_minutes=0.0, resume=None):
    super().__init__()
    self.ckpt_dir = ckpt_dir
    self.keep = keep
    self.every_steps = int(every_steps or 0)
    self.every_seconds = 60.0 * float(every_minutes or 0.0)
    self.resume = resume  # the state restored, until the resumed epoch starts
    self.step_offset = 0  # batches of the current epoch taken before this fit call
    self.epoch = 0
    self.last_save = time.time()
    os.makedirs(ckpt_dir, exist_ok=True)

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch
    if self.resume is not None and self.resume.get("step"):
      for tracker in self.model.metrics:
        values = self.resume.get("trackers", {}).get(tracker.name)
        if values is not None:
          for variable, value in zip(tracker.variables, values):
            variable.assign(value)
    self.resume = None

  def on_train_batch_end(self, batch, logs=None):
    step = self.step_offset + batch + 1
    due_steps = self.every_steps and step % self.every_steps == 0
    due_time = self.every_seconds and time.time() - self.last_save >= self.every_seconds
    if due_steps or due_time:
      self._save(Position(self.epoch, step), logs)

  def on_epoch_end(self, epoch, logs=None):
    self.step_offset = 0
    self._save(Position(epoch + 1, 0), logs)

  def _save(self, position, logs):
    if not all_finite(self.model):
      raise FloatingPointError(
          f"epoch {position.epoch + (1 if position.step else 0)}: non-finite weights; training "
          f"stopped, checkpoint not written (last good: epoch {latest_epoch(self.ckpt_dir)}). "
          "Lower train.learning_rate or set train.clipnorm, then resume from the same workdir.")
    name = f"epoch-{position.epoch:04d}.weights.h5"
    if position.step:  # inside epoch position.epoch + 1
      name = f"epoch-{position.epoch + 1:04d}-step-{position.step:06d}.weights.h5"
    path = os.path.join(self.ckpt_dir, name)
    atomic.write_with(self.model.save_weights, path)
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
  with open(path) as f:
    return json.load(f)


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
  if not model.optimizer.built:
    model.optimizer.build(model.trainable_variables)
  model.load_weights(os.path.join(ckpt_dir, state["weights"]))
  for generator, value in zip(_seed_generators(model), state.get("seed_generators", ())):
    generator.state.assign(np.asarray(value, generator.state.dtype))
  position = Position(int(state["epoch"]), int(state.get("step", 0)))
  logging.info("resumed from %s (epoch %d, step %d)", state["weights"], *position)
  return position, state


def trim_history(path, epoch):
  """Keeps history.csv's rows of the first ``epoch`` epochs (the checkpointed ones): a fresh
  start removes a stale file, a resume drops rows an interrupted run logged past its checkpoint."""
  if not os.path.exists(path):
    return
  if epoch == 0:
    os.remove(path)
    return
  with open(path) as f:
    lines = f.readlines()
  kept = lines[:1] + [line for line in lines[1:] if int(float(line.split(",", 1)[0])) < epoch]
  if len(kept) != len(lines):
    atomic.write_text(path, "".join(kept))


def make_optimizer(train_config, learning_rate=None):
  kwargs = {"learning_rate": learning_rate or train_config.learning_rate}
  if train_config.clipnorm:
    kwargs["global_clipnorm"] = train_config.clipnorm
  if train_config.optimizer == "adam":
    return keras.optimizers.Adam(**kwargs)
  if train_config.optimizer == "sgd":
    return keras.optimizers.SGD(momentum=0.9, **kwargs)
  raise ValueError(f"train.optimizer={train_config.optimizer!r}: expected 'adam' or 'sgd'")


def step_decay_rate(epoch, learning_rate, decay_epochs=(), factor=0.1):
  """The learning rate of 0-based ``epoch``: ``learning_rate`` times ``factor`` per boundary passed.

  ``decay_epochs`` are 1-based epoch counts: (6,) trains epochs 1..6 at ``learning_rate`` and
  epoch 7 onward at ``learning_rate * factor``.
  """
  return learning_rate * factor ** sum(1 for boundary in decay_epochs if epoch >= boundary)


def step_decay(learning_rate, decay_epochs=(), factor=0.1):
  """Keras' LearningRateScheduler with :func:`step_decay_rate`.

  It sets the rate at each epoch's start from the absolute epoch index (``initial_epoch`` on a
  resume), so a resumed run gets the rate of the epoch it resumes at.
  """
  def rate(epoch):
    value = step_decay_rate(epoch, learning_rate, tuple(decay_epochs), factor)
    logging.info("epoch %d: learning rate %.3g", epoch + 1, value)
    return value

  return keras.callbacks.LearningRateScheduler(rate)


class Stage(NamedTuple):
  """What a trainer has once :func:`start_stage` has set it up."""
  strategy: tf.distribute.Strategy
  skip_log: object  # data.SkipLog: photos left out, reported by finish_stage
  train_paths: list
  val_paths: list


def start_stage(config, out_dir, mixed_precision=False):
  """The set-up every trainer shares: its output folder with the resolved config, the precision
  policy, the seed, the device strategy, the skip log and the config's train/validation split."""
  if config.get("smoke_test"):
    logging.warning("config variant 'tiny' is a smoke test (a few steps of a 1/16-width network; "
                    "its colorizations come out flat grey): not a usable model")
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  source = config.get("init_from", "")
  if source and not os.path.isdir(source):
    raise FileNotFoundError(f"{source}: no such model to start from (config.init_from: an export "
                            "such as saved_models/divcolor_lfw, or a workdir)")
  train_paths, val_paths = data.config_paths(config.data)  # before anything is written
  os.makedirs(out_dir, exist_ok=True)
  config_lib.save_resolved(config, out_dir)
  set_precision(bool(mixed_precision))
  keras.utils.set_random_seed(config.train.seed)
  return Stage(get_strategy(config.train.num_devices), data.SkipLog(), train_paths, val_paths)


def init_from(config, models, stage):
  """:func:`fit`'s ``initialize`` for ``config.init_from``: ``models`` take the source's weights
  by layer name (``exported.initialize``); None when the config names no source."""
  source = config.get("init_from", "")
  if not source:
    return None
  from divcolor_tf import exported  # pylint: disable=g-import-not-at-top
  return lambda: exported.initialize(models, source, stage)


def finish_stage(stage, outputs):
  """The wrap-up every trainer shares: saves each (model, path) of ``outputs``, then reports the
  photos the run left out, once."""
  for model, path in outputs:
    atomic.write_with(model.save, path)
  report = stage.skip_log.report()
  if report:
    logging.warning("%s", report)


def plot_history(csv_path, png_path):
  """history.csv -> a PNG of its curves: one panel per metric, training and validation together,
  the learning rate on a log scale. Returns False (and writes nothing) before the first row."""
  import csv  # pylint: disable=g-import-not-at-top
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  with open(csv_path, newline="") as f:
    rows = list(csv.DictReader(f))
  if not rows:
    return False
  columns = {}
  for row in rows:
    for key, value in row.items():
      if key is None or key == "epoch":  # None: values past the header (a longer row)
        continue
      try:
        columns.setdefault(key, []).append((int(float(row["epoch"])) + 1, float(value)))
      except (TypeError, ValueError):
        pass
  names = sorted(key for key in columns if not key.startswith("val_"))
  panels = len(names)
  ncols = min(3, panels)
  nrows = -(-panels // ncols)
  fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
  for ax, name in zip(axes.ravel(), names):
    for key, style in ((name, "-o"), (f"val_{name}", "--s")):
      if key in columns:
        epochs, values = zip(*columns[key])
        ax.plot(epochs, values, style, markersize=3,
                label="validation" if key.startswith("val_") else "training")
    if name == "learning_rate" and all(value > 0 for _, value in columns[name]):
      ax.set_yscale("log")
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if f"val_{name}" in columns:
      ax.legend(fontsize=7)
  for ax in axes.ravel()[panels:]:
    ax.axis("off")
  fig.tight_layout()
  with atomic.atomic_path(png_path) as temp:
    fig.savefig(temp, dpi=80, format="png")
  plt.close(fig)
  return True


class CurvesPNG(keras.callbacks.Callback):
  """Redraws history.png from history.csv after each epoch (after the CSV logger's row)."""

  def __init__(self, csv_path):
    super().__init__()
    self.csv_path = csv_path

  def on_epoch_end(self, epoch, logs=None):
    try:
      plot_history(self.csv_path, os.path.splitext(self.csv_path)[0] + ".png")
    except (OSError, ValueError) as e:  # a picture is never worth stopping a run for
      logging.warning("%s: could not draw its curves (%s)", self.csv_path, e)


class _Progress(keras.callbacks.ProgbarLogger):
  """Keras' progress bar, its "Epoch e/N" naming the run's N (fit runs once per epoch)."""

  def __init__(self, total):
    super().__init__()
    self.total = total

  def set_params(self, params):
    super().set_params(params)
    self.epochs = self.total


def fit(trainer, train_data, val_ds, workdir, *, epochs, steps_per_epoch=None, callbacks=(),
        verbose=1, checkpoint_steps=0, checkpoint_minutes=0.0, initialize=None):
  """The loop every trainer shares: resume, fit with guard/checkpoint/CSV/TensorBoard callbacks.

  ``trainer`` is compiled inside the strategy scope; its checkpoints go to WORKDIR/checkpoints,
  its per-epoch logs to WORKDIR/history.csv and WORKDIR/tensorboard. ``train_data`` is a function
  epoch -> that epoch's dataset (``data.epoch_datasets``; one dataset is also accepted and used
  for every epoch). Training resumes from the newest checkpoint, inside an epoch when the
  checkpoint was taken there (the epoch's first batches are skipped); when it already holds
  ``epochs`` epochs nothing is trained. Keras' fit runs once per epoch, so each epoch's
  iterator starts at that epoch's own order. ``initialize`` (:func:`init_from`) runs on a fresh
  start only: a resume continues from the checkpoint, whatever the run started from.

  Returns:
    (history or None, initial_epoch, seconds spent training).
  """
  ckpt_dir = os.path.join(workdir, "checkpoints")
  position, state = restore(trainer, ckpt_dir)
  if state is None and initialize is not None:
    initialize()
  if position.epoch >= epochs:
    logging.info("%s already holds epoch %d of %d: nothing to train", workdir, position.epoch,
                 epochs)
    return None, position.epoch, 0.0
  history_path = os.path.join(workdir, "history.csv")
  trim_history(history_path, position.epoch)
  checkpointer = Checkpointer(ckpt_dir, every_steps=checkpoint_steps,
                              every_minutes=checkpoint_minutes, resume=state)
  callbacks = list(callbacks) + [
      _Progress(epochs),
      NanGuard(ckpt_dir),
      checkpointer,
      keras.callbacks.CSVLogger(history_path, append=True),
      CurvesPNG(history_path),  # history.png beside it
      keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), write_graph=False),
  ]
  history = keras.callbacks.History()
  history.epoch = []
  start = time.time()
  for epoch in range(position.epoch, epochs):
    ds = train_data(epoch) if callable(train_data) else train_data
    skip = position.step if epoch == position.epoch else 0
    if skip:
      ds = ds.skip(skip)
      logging.info("epoch %d: resuming after its first %d batches", epoch + 1, skip)
    checkpointer.step_offset = skip
    with warnings.catch_warnings():
      # Keras warns at the end of every dataset of unknown length (filtered photos), though
      # running out is how an epoch of this loop ends.
      warnings.filterwarnings("ignore", message="Your input ran out of data")
      one = trainer.fit(ds, validation_data=val_ds, epochs=epoch + 1, initial_epoch=epoch,
                        steps_per_epoch=(steps_per_epoch - skip) if steps_per_epoch else None,
                        callbacks=callbacks, verbose=verbose, shuffle=False)  # ds is shuffled
    history.epoch.extend(one.epoch)
    for key, values in one.history.items():
      history.history.setdefault(key, []).extend(values)
  elapsed = time.time() - start
  logging.info("trained epochs %d..%d in %.0f s", position.epoch + 1, epochs, elapsed)
  return history, position.epoch, elapsed
