"""The fit loop every trainer shares: resume, then fit one epoch at a time with the guard,
checkpoint, CSV, curves and TensorBoard callbacks.

Resume is the same run. The data order of epoch e is a function of (seed, e)
(``data.epoch_datasets``), a resumed epoch skips the batches its checkpoint had already taken,
and training noise is drawn statelessly from (seed, optimizer step, replica)
(:meth:`ObjectiveTrainer.noise_seed`), so a run killed at any step and resumed ends where the
uninterrupted run ends, to float tolerance (tests/test_faults.py).
"""

import os
import time
import warnings

from absl import logging
import keras

from divcolor_tf.training import callbacks as callbacks_lib
from divcolor_tf.training import checkpoints as checkpoints_lib


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
  ckpt_dir = os.path.join(workdir, checkpoints_lib.CHECKPOINT_DIR)
  position, state = checkpoints_lib.restore(trainer, ckpt_dir)
  if state is None and initialize is not None:
    initialize()
  if position.epoch >= epochs:
    logging.info("%s already holds epoch %d of %d: nothing to train", workdir, position.epoch,
                 epochs)
    return None, position.epoch, 0.0
  history_path = os.path.join(workdir, "history.csv")
  checkpoints_lib.trim_history(history_path, position.epoch)
  checkpointer = checkpoints_lib.Checkpointer(ckpt_dir, every_steps=checkpoint_steps,
                              every_minutes=checkpoint_minutes, resume=state)
  callbacks = list(callbacks) + [
      callbacks_lib.Progress(epochs),
      callbacks_lib.NanGuard(ckpt_dir),
      checkpointer,
      keras.callbacks.CSVLogger(history_path, append=True),
      callbacks_lib.CurvesPNG(history_path),  # history.png beside it
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
