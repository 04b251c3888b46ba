"""One stage runner for every trainer: a stage declares what differs (a :class:`StageDefinition`:
its folder, method, epochs, datasets, trainer, callbacks, starting weights and outputs) and
:func:`run_stage` does the rest, the same for all: set-up (``start_stage``), the fit loop
(``loop.fit``: resume, checkpoints, one or many devices and workers) and wrap-up
(``finish_stage``). Also the earlier stages' networks a later stage reads frozen
(``load_frozen``, ``Frozen``).
"""

import abc
import contextlib
import copy
import os
from typing import NamedTuple

from absl import logging
import keras
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf import exported
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.io import atomic
from divcolor_tf.training import checkpoints
from divcolor_tf.training import loop
from divcolor_tf.training import strategy as strategy_lib
from divcolor_tf import workdir as workdir_lib


class Stage(NamedTuple):
  """What a trainer has once :func:`start_stage` has set it up."""
  strategy: tf.distribute.Strategy
  skip_log: object  # data.SkipLog: photos left out, reported by finish_stage
  train_paths: list
  val_paths: list
  locked: str = ""  # the folder this process locked for the stage (workdir.lock), or ""


def start_stage(config, out_dir, method, precision=None, stage=""):
  """The set-up every trainer shares: the device strategy (``train.strategy``; a multi-worker job
  forms its cluster here), its output folder with the resolved config (the chief's: another
  worker writes to a folder of its own, ``strategy.writable``) recording ``method`` (a
  ``methods.Method``: what the workdir holds), the precision policy (``precision``, default
  ``train.precision``), the seed, the skip log and the config's train/validation split. A
  resume of ``stage`` (its name: config.SHAPE_FIELDS) must keep its networks' shapes. The
  folder is locked for the stage (``workdir.lock``; released by :func:`finish_stage`) before
  anything is read of its checkpoints or written to it."""
  if config.get("smoke_test"):
    logging.warning("config variant 'tiny' is a smoke test (a few steps of a 1/16-width network; "
                    "its colorizations come out flat grey): not a usable model")
  config_lib.validate(config)  # ConfigError (one line) before anything is written
  if config.get("method", "") not in ("", method.name):
    raise config_lib.ConfigError(f"config field method={config.method!r}: this command trains "
                                 f"{method.label} ({method.name!r}); leave the field unset")
  check_paths(config, out_dir)
  train_paths, val_paths = data.config_paths(config.data)  # before anything is written
  locked = out_dir if _writes_folder(config.train) else ""
  existed = os.path.isdir(out_dir)
  if locked:  # a second run on the folder stops here, in one line, having written nothing
    workdir_lib.lock(out_dir)
  try:
    strategy = _checked_strategy(config, out_dir, stage)
  except BaseException:  # a refused start leaves the folder as it found it, and unlocked
    workdir_lib.unlock(locked)
    if locked and not existed:  # (the lock's file made it: a folder that did not exist)
      with contextlib.suppress(OSError):
        os.remove(workdir_lib.path(out_dir, workdir_lib.LOCK))
        os.rmdir(out_dir)
    raise
  written = strategy_lib.writable(out_dir)
  os.makedirs(written, exist_ok=True)
  recorded = copy.deepcopy(config)  # the caller's config is left as it was
  recorded.method = method.name
  config_lib.save_resolved(recorded, written)
  strategy_lib.set_precision(precision or strategy_lib.precision_of(config.train))
  keras.utils.set_random_seed(config.train.seed)
  return Stage(strategy, data.SkipLog(), train_paths, val_paths, locked)


def _checked_strategy(config, out_dir, stage):
  """The strategy (:func:`configure`), once a resume is known to keep the networks' shapes and,
  in a multi-worker job, every worker is known to run the same config."""
  if checkpoints.check(os.path.join(out_dir, checkpoints.CHECKPOINT_DIR)) is not None:
    config_lib.check_resume(config, out_dir, stage)  # before anything is written
  strategy = configure(config.train)
  if strategy_lib.is_multi_worker(strategy):
    _check_same_config(strategy, config, out_dir)
  return strategy


# Config fields that may differ between workers: where each machine finds a file (its mount of
# the photos, the statistics, a starting model) and how long it waits for the others.
_PER_MACHINE = ("data.train", "data.val", "stats.path", "init_from", "features.zhang_weights",
                "train.cluster_timeout")


def _check_same_config(strategy, config, out_dir):
  """Raises ClusterError (one line naming the fields) unless every worker runs the same config,
  the same cluster and the same stage folder. Workers started with different settings (another
  batch size, another number of epochs) would otherwise meet in collectives of different shapes
  or counts: a TensorFlow traceback, or a job that waits forever. (The folder must be the same
  too, one on shared storage; its path may differ by machine: _same_position checks it.)"""
  def leaves(node, prefix=""):
    for key, value in node.items():
      if hasattr(value, "items"):
        yield from leaves(value, f"{prefix}{key}.")
      else:
        yield f"{prefix}{key}", value

  values = {name: repr(value) for name, value in leaves(config.to_dict())
            if name not in _PER_MACHINE}
  cluster = strategy_lib.tf_config()
  values["TF_CONFIG's cluster"] = repr(sorted(cluster["cluster"].items()))
  with strategy_lib.PeerWatch():  # a peer gone meanwhile: its one line, not a wait forever
    names = strategy_lib.differing(strategy, values)
  if names:
    shown = ", ".join(n if n.startswith("TF_CONFIG") else f"{n}={values[n]}" for n in names[:4])
    raise strategy_lib.ClusterError(
        f"{out_dir}: the workers run different configs: {shown}{', ...' if len(names) > 4 else ''}"
        f" here ({strategy_lib.role_of(cluster)}) differ on another worker; start every worker "
        "with the same command (only TF_CONFIG's task differs)")


def _writes_folder(train_config):
  """Whether this process writes the stage's folder, and so locks it: a lone process, or the
  chief of a multi-worker job (TF_CONFIG says which before the cluster forms). Another worker
  writes to a folder of its own (``strategy.writable``) and must not take the chief's lock."""
  if train_config.get("strategy", "default") != "multi_worker":
    return True
  return strategy_lib.role_of(strategy_lib.tf_config()).chief


# The files exported.workdir_variables reads of a workdir that init_from names.
_MODEL_FILES = (workdir_lib.ENCODER, workdir_lib.DECODER, workdir_lib.TRUNK, workdir_lib.MDN,
                workdir_lib.FEATURE_NETWORK)


def check_paths(config, out_dir):
  """What start_stage checks of the files a config and a workdir name, before anything is written:
  ``out_dir`` is a folder or missing; ``init_from`` names a model (an export, or a workdir with
  .keras files); ``stats.path`` is a stats file.

  Raises:
    FileNotFoundError, ConfigError: one line naming the file and the problem.
  """
  if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
    raise config_lib.ConfigError(f"{out_dir}: a file, not a folder (--workdir names the folder "
                                 "where the stage's model, checkpoints and logs go)")
  source = config.get("init_from", "")
  if source and not os.path.isdir(source):
    raise FileNotFoundError(f"{source}: no such model to start from (config.init_from: an export "
                            "such as saved_models/divcolor_lfw, or a workdir)")
  if source and exported.saved_model_dir(source) is None and not any(
      os.path.isfile(workdir_lib.path(source, name)) for name in _MODEL_FILES):
    raise config_lib.ConfigError(
        f"config field init_from={source}: holds no trained model (neither an export nor a "
        "workdir with .keras files)")
  stats_path = config_lib.lookup(config, "stats.path", "")
  if stats_path:
    try:
      stats_lib.load(stats_path)
    except ValueError as e:  # its one line names the file and the problem
      raise config_lib.ConfigError(f"config field stats.path: {e}") from None


class StageDefinition(abc.ABC):
  """One training stage, declared. A trainer subclasses it, sets the attributes below in its
  ``__init__`` and defines the steps that differ; :func:`run_stage` calls them in this order:
  ``prepare`` (statistics, frozen networks), ``datasets``, ``build`` (inside the device
  strategy's scope), ``callbacks``, ``initialize``, then, after training, ``outputs``.

  Attributes:
    config: the run's config.
    name: the stage's name in logs and ``init_from``'s messages ("VAE", "MDN", ...).
    out_dir: where its config.json, checkpoints/, history.csv and tensorboard/ go.
    method: the ``methods.Method`` the workdir holds (recorded in config.json).
    epochs / steps_per_epoch: how long (``steps_per_epoch`` 0: one pass over the photos).
    precision: its precision policy (None: ``train.precision``).
  """
  precision = None

  def prepare(self, stage):
    """What the datasets and the trainer need first (colour statistics, frozen networks)."""
    del stage

  @abc.abstractmethod
  def datasets(self, stage):
    """(a function epoch -> that epoch's training dataset, the validation dataset or None)."""

  @abc.abstractmethod
  def build(self, stage):
    """The compiled trainer (called inside the strategy's scope)."""

  def callbacks(self, stage, trainer, val_ds):
    """Keras callbacks beside the loop's own (guard, checkpoints, history, TensorBoard)."""
    del stage, trainer, val_ds
    return []

  def initialize(self, trainer):
    """What runs before a fresh start's first step (never on a resume), or None:
    ``config.init_from`` by default (:func:`init_from`)."""
    del trainer
    return None

  @abc.abstractmethod
  def outputs(self, trainer):
    """[(Keras model, path)] written when training ends."""


class PhotoStage(StageDefinition):
  """A stage that reads the config's photos and the workdir's colour statistics (computed on
  first use and shared by every stage): the VAE, the feature network and the two baselines.

  ``section`` names the stage's config section, with its ``epochs``, ``steps_per_epoch`` and
  ``batch_size`` (``config.schema.SCHEDULE``); the photos are squashed to ``grey_size`` (default the
  colour field's size) and the trainer reads ``keys`` of each example (empty: all but "path").
  """
  keys = ()

  def __init__(self, config, workdir, *, name, method, section, out_dir=None, grey_size=None):
    settings = config[section]
    self.config, self.workdir, self.name, self.method = config, workdir, name, method
    self.out_dir = out_dir or workdir
    self.epochs, self.steps_per_epoch = settings.epochs, settings.steps_per_epoch
    self.batch_size = settings.batch_size
    self.grey_size = grey_size or config.data.field_size
    self.stats = None

  def prepare(self, stage):
    self.stats = workdir_lib.load_or_compute_stats(self.config, self.workdir, stage.train_paths,
                                                   strategy_lib.writable)

  def datasets(self, stage):
    train_data, val_ds = photo_datasets(self.config, stage, grey_size=self.grey_size,
                                        batch_size=self.batch_size,
                                        steps=self.steps_per_epoch or None)
    return (lambda epoch: self.inputs(train_data(epoch)),
            self.inputs(val_ds) if val_ds is not None else None)

  def inputs(self, ds):
    """What the trainer reads of each example of ``ds``."""
    keys = self.keys
    return ds.map(lambda b: {k: v for k, v in b.items() if (k in keys if keys else k != "path")})


def run_stage(definition, verbose=1):
  """Trains (or resumes) one stage (a :class:`StageDefinition`); returns the Keras History, or
  None when its folder already holds its epochs."""
  with started(definition.config, definition.out_dir, definition.method, definition.precision,
               definition.name) as stage:
    return _run_started(definition, stage, verbose)


@contextlib.contextmanager
def started(config, out_dir, method, precision=None, stage=""):
  """:func:`start_stage` (its arguments) for the block it yields the :class:`Stage` to: a full
  disk there ends the run in one line (:func:`disk_full_is_one_line`), and the folder's lock is
  released however the block ends (a notebook's next run may take it)."""
  with disk_full_is_one_line(out_dir):
    the_stage = start_stage(config, out_dir, method, precision, stage)
    try:
      yield the_stage
    finally:
      workdir_lib.unlock(the_stage.locked)


@contextlib.contextmanager
def disk_full_is_one_line(folder):
  """A write of the block that finds its disk full ends the run with one line naming ``folder``
  (``workdir.WorkdirFullError``) instead of an OSError's traceback. Every file a run writes is
  written whole or not at all (``io.atomic``), and a checkpoint before the state that names it,
  so the checkpoints written before stay good: the same command resumes from the newest once
  there is room."""
  try:
    yield
  except (OSError, tf.errors.OpError) as e:
    if not workdir_lib.disk_full(e):
      raise
    raise workdir_lib.WorkdirFullError(
        f"{folder}: no space left on its disk ({type(e).__name__}); training stopped, the "
        "checkpoints written before are intact: free some space and run the same command to "
        "resume") from None


def _run_started(definition, stage, verbose):
  """:func:`run_stage` once :func:`start_stage` has set the stage up."""
  config = definition.config
  definition.prepare(stage)
  train_data, val_ds = definition.datasets(stage)
  with stage.strategy.scope():
    trainer = definition.build(stage)
  history, _, _ = loop.fit(
      trainer, train_data, val_ds, definition.out_dir, epochs=definition.epochs,
      steps_per_epoch=definition.steps_per_epoch or None,
      callbacks=definition.callbacks(stage, trainer, val_ds), verbose=verbose,
      checkpoint_steps=config.train.checkpoint_steps,
      checkpoint_minutes=config.train.checkpoint_minutes,
      initialize=definition.initialize(trainer))
  finish_stage(stage, definition.outputs(trainer))
  return history


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

  def initialize():
    try:
      return exported.initialize(models, source, stage, whole)
    except ValueError as e:  # one line naming the source and the problem (another width, ...)
      message = str(e) if "init_from" in str(e) else f"{e} (config.init_from)"
      raise config_lib.ConfigError(message) from None  # the tools' one-line error

  return initialize


def finish_stage(stage, outputs):
  """The wrap-up every trainer shares: saves each (model, path) of ``outputs``, then reports the
  photos the run left out, once."""
  for model, path in outputs:
    atomic.write_with(checkpoints.releasing_space(model.save), strategy_lib.writable(path))
  strategy_lib.barrier(stage.strategy)  # another worker goes on once the chief has written
  report = stage.skip_log.report()
  if report and strategy_lib.is_chief():
    logging.warning("%s", report)
  strategy_lib.remove_temporary()  # another worker's copies of the chief's files
  if stage.locked:
    workdir_lib.unlock(stage.locked)


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
