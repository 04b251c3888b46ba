"""A stage's set-up and wrap-up (``start_stage`` / ``finish_stage``), shared by every trainer, and
the earlier stages' networks a later stage reads frozen (``load_frozen``, ``Frozen``).
"""

import os
from typing import NamedTuple

from absl import logging
import keras
import tensorflow as tf

from divcolor_tf.io import atomic
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.training import checkpoints
from divcolor_tf.training import strategy as strategy_lib


class Stage(NamedTuple):
  """What a trainer has once :func:`start_stage` has set it up."""
  strategy: tf.distribute.Strategy
  skip_log: object  # data.SkipLog: photos left out, reported by finish_stage
  train_paths: list
  val_paths: list


def start_stage(config, out_dir, method, precision=None):
  """The set-up every trainer shares: the device strategy (``train.strategy``; a multi-worker job
  forms its cluster here), its output folder with the resolved config (the chief's: another
  worker writes to a folder of its own, ``strategy.writable``) recording ``method`` (a
  ``methods.Method``: what the workdir holds), the precision policy (``precision``, default
  ``train.precision``), the seed, the skip log and the config's train/validation split."""
  if config.get("smoke_test"):
    logging.warning("config variant 'tiny' is a smoke test (a few steps of a 1/16-width network; "
                    "its colorizations come out flat grey): not a usable model")
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  config_lib.validate(config)  # ConfigError (one line) before anything is written
  if config.get("method", "") not in ("", method.name):
    raise config_lib.ConfigError(f"config field method={config.method!r}: this command trains "
                                 f"{method.label} ({method.name!r}); leave the field unset")
  config.method = method.name
  source = config.get("init_from", "")
  if source and not os.path.isdir(source):
    raise FileNotFoundError(f"{source}: no such model to start from (config.init_from: an export "
                            "such as saved_models/divcolor_lfw, or a workdir)")
  train_paths, val_paths = data.config_paths(config.data)  # before anything is written
  checkpoints.check(os.path.join(out_dir, checkpoints.CHECKPOINT_DIR))  # likewise
  strategy = configure(config.train)
  written = strategy_lib.writable(out_dir)
  os.makedirs(written, exist_ok=True)
  config_lib.save_resolved(config, written)
  strategy_lib.set_precision(precision or strategy_lib.precision_of(config.train))
  keras.utils.set_random_seed(config.train.seed)
  return Stage(strategy, data.SkipLog(), train_paths, val_paths)


def configure(train_config):
  """The strategy of ``train_config`` (module ``strategy``), the CPU split first when
  ``train.cpu_devices`` asks for it.

  Raises:
    strategy.ClusterError: one line (a mis-set cluster or device count).
  """
  if train_config.get("cpu_devices", 0):
    strategy_lib.split_cpu(int(train_config.cpu_devices))
  return strategy_lib.get_strategy(
      train_config.get("strategy", "default"), int(train_config.get("num_devices", 0)),
      float(train_config.get("cluster_timeout", 300.0)))


def photo_datasets(config, stage, *, grey_size, batch_size, steps):
  """The training epochs (a function epoch -> dataset, ``data.epoch_datasets``) and the validation
  dataset (None without validation photos) of a stage that reads the config's photos: shuffled
  by (train.seed, epoch), repeated when ``steps`` is set, the last partial batch dropped; the
  validation set cached after its first pass. Photos left out are counted in ``stage.skip_log``."""
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  common = dict(field_size=config.data.field_size, grey_size=grey_size, batch_size=batch_size,
                drop_near_grey=config.data.drop_near_grey,
                near_grey_threshold=config.data.near_grey_threshold, skip_log=stage.skip_log)
  train_data = data.epoch_datasets(
      stage.train_paths, shuffle=True, seed=config.train.seed, repeat=bool(steps),
      cache=config.data.cache, drop_remainder=True, shuffle_buffer=config.data.shuffle_buffer,
      **common)
  if stage.val_paths and not any(os.path.isfile(p) for p in stage.val_paths):
    field = "val" if config.data.get("val") else "train"
    raise data.DataPathError(
        f"config data.{field}={config.data[field]}: none of the {len(stage.val_paths)} validation "
        f"photos exists (e.g. {data.display_path(stage.val_paths[0])})")
  val_ds = data.make_dataset(stage.val_paths, cache=True, **common) if stage.val_paths else None
  return train_data, val_ds


def init_from(config, models, stage, whole=()):
  """:func:`fit`'s ``initialize`` for ``config.init_from``: ``models`` take the source's weights
  by layer name (``exported.initialize``; ``whole``: those that may not start fresh even in
  part); None when the config names no source."""
  source = config.get("init_from", "")
  if not source:
    return None
  from divcolor_tf import exported  # pylint: disable=g-import-not-at-top
  return lambda: exported.initialize(models, source, stage, whole)


def finish_stage(stage, outputs):
  """The wrap-up every trainer shares: saves each (model, path) of ``outputs``, then reports the
  photos the run left out, once."""
  for model, path in outputs:
    atomic.write_with(model.save, strategy_lib.writable(path))
  strategy_lib.barrier(stage.strategy)  # another worker goes on once the chief has written
  report = stage.skip_log.report()
  if report and strategy_lib.is_chief():
    logging.warning("%s", report)
  strategy_lib.remove_temporary()  # another worker's copies of the chief's files


class Frozen:
  """Holds the frozen trunk and encoder out of Keras's tracking: the trainer's weights (and so its
  checkpoints) are the MDN's alone."""

  def __init__(self, trunk, encoder):
    self.trunk = trunk
    self.encoder = encoder


def check_stages(workdir, config_hint="CONFIG"):
  """Raises MissingStageError (one line: the file and the command that makes it) unless the
  earlier stages' encoder.keras and features/trunk.keras exist."""
  workdir_lib.require(workdir, workdir_lib.ENCODER, workdir_lib.TRUNK, config_hint=config_hint)


def load_frozen(workdir, config_hint="CONFIG"):
  """The trained trunk and VAE encoder of a workdir, frozen (not trainable).

  Raises:
    MissingStageError: one of the files is missing (the message names it and its command).
  """
  check_stages(workdir, config_hint)
  encoder = workdir_lib.load_keras(workdir, workdir_lib.ENCODER, trainable=False)
  trunk = workdir_lib.load_keras(workdir, workdir_lib.TRUNK, trainable=False)
  return trunk, encoder
