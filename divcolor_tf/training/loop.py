"""The fit loop every trainer shares: resume, then fit one epoch at a time with the guard,
checkpoint, CSV, curves and TensorBoard callbacks.

Resume is the same run. The data order of epoch e is a function of (seed, e)
(``data.epoch_datasets``), a resumed epoch skips the batches its checkpoint had already taken,
and training noise is drawn statelessly from (seed, optimizer step) for the global batch
(:meth:`ObjectiveTrainer.noise_seed`, ``models.vae.replica_rows``), so a run killed at any step
and resumed ends where the uninterrupted run ends, to float tolerance
(tests/training/test_faults.py).

Two loops drive the same ``train_step`` / ``test_step`` and the same callbacks: Keras' own
``fit`` on one replica, and :func:`fit_epoch_distributed` (a loop of ``strategy.run``) on several,
where Keras 3's fit fails: under ``multi_worker`` at its first step (keras-team/keras#20585),
under ``mirrored`` on a validation batch that does not split evenly over the replicas (its
symbolic build averages the first batch's per-replica parts: "Inputs to operation AddN ... must
have the same size and shape"). There every worker builds the same epoch of global batches and
keeps its replicas' rows of each (:func:`distribute`), so two devices or two workers take the
steps one device takes for the same global batch; validation batches are split the same way.
"""

import os
import time
import warnings

from absl import logging
import keras
import tensorflow as tf

from divcolor_tf.training import callbacks as callbacks_lib
from divcolor_tf.training import checkpoints as checkpoints_lib
from divcolor_tf.training import strategy as strategy_lib


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
  strategy = trainer.distribute_strategy
  multi_worker = strategy_lib.is_multi_worker(strategy)
  own_loop = strategy.num_replicas_in_sync > 1  # module docstring: where Keras' fit fails
  ckpt_dir = os.path.join(workdir, checkpoints_lib.CHECKPOINT_DIR)  # every worker reads the chief's
  position, state = checkpoints_lib.restore(trainer, ckpt_dir)
  if multi_worker:
    _same_position(strategy, position, ckpt_dir)
  if state is None and initialize is not None:
    initialize()
  _build_optimizers(trainer)
  if position.epoch >= epochs:
    logging.info("%s already holds epoch %d of %d: nothing to train", workdir, position.epoch,
                 epochs)
    return None, position.epoch, 0.0
  # Only the chief writes the workdir; another worker writes the same files to a folder of its own.
  history_path = strategy_lib.writable(os.path.join(workdir, "history.csv"))
  checkpoints_lib.trim_history(history_path, position.epoch)
  checkpointer = checkpoints_lib.Checkpointer(
      strategy_lib.writable(ckpt_dir), every_steps=checkpoint_steps,
      every_minutes=checkpoint_minutes, resume=state,
      agree=_any_worker(strategy) if multi_worker else None)
  callbacks = list(callbacks) + [
      callbacks_lib.EpochProgress(epochs),
      callbacks_lib.NanGuard(ckpt_dir),
      checkpointer,
      callbacks_lib.HistoryCSV(history_path),  # every row under its header
      callbacks_lib.CurvesPNG(history_path),  # history.png beside it
      keras.callbacks.TensorBoard(strategy_lib.writable(os.path.join(workdir, "tensorboard")),
                                  write_graph=False),
  ]
  if not strategy_lib.is_chief():
    verbose = 0
  history = keras.callbacks.History()
  history.epoch = []
  start = time.time()
  watch = strategy_lib.PeerWatch(describe=lambda: _newest(ckpt_dir))
  with watch:
    _fit_epochs(trainer, train_data, val_ds, position, epochs, steps_per_epoch, checkpointer,
                callbacks, verbose, history, own_loop)
  elapsed = time.time() - start
  logging.info("trained epochs %d..%d in %.0f s", position.epoch + 1, epochs, elapsed)
  return history, position.epoch, elapsed


def _newest(ckpt_dir):
  try:
    state = checkpoints_lib.read_state(ckpt_dir)
  except Exception:  # pylint: disable=broad-except  (a message, never a second failure)
    state = None
  return f" ({ckpt_dir}/{state['weights']})" if state else " (none yet: it starts over)"


def _fit_epochs(trainer, train_data, val_ds, position, epochs, steps_per_epoch, checkpointer,
                callbacks, verbose, history, own_loop):
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
      steps = max(steps_per_epoch - skip, 0) if steps_per_epoch else None
      # steps == 0: the run was killed after the step checkpoint at this epoch's last step, before
      # the epoch's end; only that end is left (validation, logs, checkpoint). Keras' fit takes 0
      # steps for "until the data ends", which never comes on repeated data: the own loop runs
      # no step instead. (The epoch's training terms: Checkpointer.resumed_means.)
      if own_loop or steps == 0:
        one = fit_epoch_distributed(trainer, ds, val_ds, epoch, steps=steps, callbacks=callbacks,
                                    verbose=verbose, epochs=epochs)
      else:
        one = trainer.fit(ds, validation_data=val_ds, epochs=epoch + 1, initial_epoch=epoch,
                          steps_per_epoch=steps, callbacks=callbacks, verbose=verbose,
                          shuffle=False)  # ds is shuffled
    history.epoch.extend(one.epoch)
    for key, values in one.history.items():
      history.history.setdefault(key, []).extend(values)
    if trainer.stop_training:
      break


def distribute(strategy, ds):
  """A dataset of GLOBAL batches as the strategy's distributed dataset: every worker builds the
  same batches and its replicas keep their rows of each, replica k of K the rows
  [k*n/K, (k+1)*n/K) of a batch of n (the split ``models.vae.replica_rows`` assumes); a last
  partial batch is split as evenly as it goes, a replica may get no row of it."""
  replicas = strategy.num_replicas_in_sync

  def per_worker(context):
    workers = context.num_input_pipelines
    local = replicas // workers

    def rows(batch):
      n = tf.shape(tf.nest.flatten(batch)[0])[0]

      def part(j):
        k = tf.cast(context.input_pipeline_id * local, tf.int32) + tf.cast(j, tf.int32)
        start, end = k * n // replicas, (k + 1) * n // replicas
        return tf.nest.map_structure(lambda t: t[start:end], batch)

      return tf.data.Dataset.range(local).map(part)

    return ds.flat_map(rows)

  options = tf.distribute.InputOptions(experimental_replication_mode=(
      tf.distribute.InputReplicationMode.PER_WORKER))
  return strategy.distribute_datasets_from_function(per_worker, options)


def _build_optimizers(trainer):
  """The optimizers' slots made before the first step: made inside it, they would make
  TensorFlow trace the step twice (once creating variables, once without), seconds a stage."""
  with trainer.distribute_strategy.scope():
    if hasattr(trainer, "build_optimizers"):  # more than one optimizer (the cGAN)
      trainer.build_optimizers()
    elif not trainer.optimizer.built:
      trainer.optimizer.build(trainer.optimized_variables)


def _step_functions(trainer):
  """The trainer's train and test steps as tf.functions over its strategy, their per-replica logs
  averaged (cached on the trainer)."""
  functions = getattr(trainer, "_distributed_steps", None)
  if functions is None:
    strategy = trainer.distribute_strategy
    _build_optimizers(trainer)
    mean = lambda logs: {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}
    train = tf.function(lambda batch: mean(strategy.run(trainer.train_step, args=(batch,))))
    test = tf.function(lambda batch: mean(strategy.run(trainer.test_step, args=(batch,))))
    functions = trainer._distributed_steps = (train, test)  # pylint: disable=protected-access
  return functions


def _results(trainer):
  """The trainer's metrics (every replica's, all-reduced), as floats."""
  return {m.name: float(m.result()) for m in trainer.metrics}


def fit_epoch_distributed(trainer, ds, val_ds, epoch, *, steps, callbacks, verbose, epochs):
  """One epoch of Keras' fit, as a loop of ``strategy.run``: the same ``train_step`` /
  ``test_step``, the same callbacks in the same order (train begin, epoch begin, each batch,
  validation, epoch end, train end), ``val_`` logs, ``stop_training``. Returns a History."""
  strategy = trainer.distribute_strategy
  train, test = _step_functions(trainer)
  history = keras.callbacks.History()
  callbacks = keras.callbacks.CallbackList(
      list(callbacks) + [history], add_history=False, add_progbar=False, verbose=verbose,
      epochs=epochs, steps=steps, model=trainer)
  trainer.stop_training = False
  callbacks.on_train_begin()
  trainer.reset_metrics()
  callbacks.on_epoch_begin(epoch)
  logs = {}
  if steps is None or steps > 0:
    for step, batch in enumerate(distribute(strategy, ds)):
      callbacks.on_train_batch_begin(step)
      logs = {k: float(v) for k, v in train(batch).items()}
      callbacks.on_train_batch_end(step, logs)
      if trainer.stop_training or (steps is not None and step + 1 >= steps):
        break
  epoch_logs = _results(trainer) if logs else {}
  if val_ds is not None:
    callbacks.on_test_begin()  # as Keras' evaluate: before the trackers are reset
    trainer.reset_metrics()
    for step, batch in enumerate(distribute(strategy, val_ds)):
      callbacks.on_test_batch_begin(step)
      callbacks.on_test_batch_end(step, {k: float(v) for k, v in test(batch).items()})
    val_logs = _results(trainer)
    callbacks.on_test_end(val_logs)
    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
  callbacks.on_epoch_end(epoch, epoch_logs)
  callbacks.on_train_end(epoch_logs)
  return history


def _any_worker(strategy):
  """flag -> True when it is True on any worker (the checkpointer's timed saves: every worker
  must save at the same step, since a save reads all-reduced values)."""
  return lambda flag: strategy_lib.all_sum(strategy, 1.0 if flag else 0.0) > 0


def _same_position(strategy, position, ckpt_dir):
  """Every worker resumes where the chief does, or the job stops with one line. (The replicas'
  values x are all equal exactly when n * sum(x^2) == sum(x)^2.)"""
  n = strategy.num_replicas_in_sync
  for value in position:
    if n * strategy_lib.all_sum(strategy, float(value) ** 2) != strategy_lib.all_sum(strategy, float(value)) ** 2:
      raise strategy_lib.ClusterError(
          f"{ckpt_dir}: the workers do not see the same newest checkpoint (this one: epoch "
          f"{position.epoch}, step {position.step}); every worker must read the chief's workdir "
          "(one folder on shared storage, the same --workdir)")
