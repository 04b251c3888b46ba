"""What every trainer of the project shares: the gradient step (``ObjectiveTrainer``), the stage
set-up and wrap-up (``start_stage`` / ``finish_stage``), the device strategy, the optimizer and its
step decay, the fit loop with resumable checkpoints and a NaN guard.

One code path for 1..N devices: trainers build their models inside ``strategy.scope()`` and scale
per-example losses by the global batch (``tf.nn.compute_average_loss``); Keras then all-reduces the
gradients. On CPU, several devices are simulated with
``tf.config.set_logical_device_configuration`` (see ``split_cpu``).

Checkpoints hold the weights of the trainer model and its optimizer's state (Keras ``.weights.h5``),
one file per epoch, written to a temporary name and renamed, so an interrupted write never
replaces a good checkpoint; ``state.json`` names the newest one. A checkpoint is only written when
every weight is finite.
"""

import json
import math
import os
import time
from typing import NamedTuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf

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

  def __init__(self, metric_names, **kwargs):
    super().__init__(**kwargs)
    self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}

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


class Checkpointer(keras.callbacks.Callback):
  """Saves the trainer's weights and optimizer state after every epoch; keeps the newest ``keep``."""

  def __init__(self, ckpt_dir, keep=2):
    super().__init__()
    self.ckpt_dir = ckpt_dir
    self.keep = keep
    os.makedirs(ckpt_dir, exist_ok=True)

  def on_epoch_end(self, epoch, logs=None):
    if not all_finite(self.model):
      raise FloatingPointError(
          f"epoch {epoch + 1}: weights are not finite; checkpoint not written "
          f"(last good: epoch {latest_epoch(self.ckpt_dir)})")
    name = f"epoch-{epoch + 1:04d}.weights.h5"
    path = os.path.join(self.ckpt_dir, name)
    tmp = os.path.join(self.ckpt_dir, "tmp-" + name)
    self.model.save_weights(tmp)
    os.replace(tmp, path)
    state = {"epoch": epoch + 1, "weights": name, "logs": {k: float(v) for k, v in (logs or {}).items()}}
    tmp_state = os.path.join(self.ckpt_dir, STATE_FILE + ".tmp")
    with open(tmp_state, "w") as f:
      json.dump(state, f, indent=2)
    os.replace(tmp_state, os.path.join(self.ckpt_dir, STATE_FILE))
    old = sorted(f for f in os.listdir(self.ckpt_dir) if f.startswith("epoch-"))[:-self.keep]
    for f in old:
      os.remove(os.path.join(self.ckpt_dir, f))


def latest_epoch(ckpt_dir):
  """The epoch of the newest checkpoint in ``ckpt_dir``, 0 when there is none."""
  path = os.path.join(ckpt_dir, STATE_FILE)
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    return int(json.load(f)["epoch"])


def restore(model, ckpt_dir):
  """Loads the newest checkpoint into a compiled model; returns the epoch to resume from (0: none)."""
  path = os.path.join(ckpt_dir, STATE_FILE)
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    state = json.load(f)
  if not model.optimizer.built:
    model.optimizer.build(model.trainable_variables)
  model.load_weights(os.path.join(ckpt_dir, state["weights"]))
  logging.info("resumed from %s (epoch %d)", state["weights"], state["epoch"])
  return int(state["epoch"])


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
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  config_lib.save_resolved(config, out_dir)
  set_precision(bool(mixed_precision))
  keras.utils.set_random_seed(config.train.seed)
  train_paths, val_paths = data.config_paths(config.data)
  return Stage(get_strategy(config.train.num_devices), data.SkipLog(), train_paths, val_paths)


def finish_stage(stage, outputs):
  """The wrap-up every trainer shares: saves each (model, path) of ``outputs``, then reports the
  photos the run left out, once."""
  for model, path in outputs:
    model.save(path)
  report = stage.skip_log.report()
  if report:
    logging.warning("%s", report)


def fit(trainer, train_ds, val_ds, workdir, *, epochs, steps_per_epoch=None, callbacks=(),
        verbose=1):
  """The loop every trainer shares: resume, fit with guard/checkpoint/CSV/TensorBoard callbacks.

  ``trainer`` is compiled inside the strategy scope; its checkpoints go to WORKDIR/checkpoints,
  its per-epoch logs to WORKDIR/history.csv and WORKDIR/tensorboard. Training resumes from the
  newest checkpoint; when it already holds ``epochs`` epochs nothing is trained.

  Returns:
    (history or None, initial_epoch, seconds spent training).
  """
  ckpt_dir = os.path.join(workdir, "checkpoints")
  initial_epoch = restore(trainer, ckpt_dir)
  if initial_epoch >= epochs:
    logging.info("%s already holds epoch %d of %d: nothing to train", workdir, initial_epoch,
                 epochs)
    return None, initial_epoch, 0.0
  callbacks = list(callbacks) + [
      NanGuard(ckpt_dir),
      Checkpointer(ckpt_dir),
      keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=initial_epoch > 0),
      keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), write_graph=False),
  ]
  start = time.time()
  history = trainer.fit(train_ds, validation_data=val_ds, epochs=epochs,
                        initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                        callbacks=callbacks, verbose=verbose)
  elapsed = time.time() - start
  logging.info("trained epochs %d..%d in %.0f s", initial_epoch + 1, epochs, elapsed)
  return history, initial_epoch, elapsed
