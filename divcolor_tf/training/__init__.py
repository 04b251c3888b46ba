"""What every trainer of the project shares (``from divcolor_tf import training``):

  strategy     the device strategy (default, mirrored, multi_worker), the chief, the precision
  step         the gradient step (``ObjectiveTrainer``), the optimizer and its step decay
  checkpoints  resumable checkpoints: weights, optimizer state, the run's position
  callbacks    the NaN guard, history.png, the progress bar, epoch timing, colour-field images
  loop         the fit loop (resume, then fit one epoch at a time)
  stage        the stage runner (a StageDefinition, run_stage); the earlier stages' networks, frozen

Resume is the same run: a run killed at any step and resumed ends where the uninterrupted run
ends, to float tolerance (tests/training/test_faults.py; the loop module says how).
"""

from divcolor_tf.training.strategy import (
    ClusterError, split_cpu, get_strategy, set_precision, precision_of, loss_scaled, is_chief, writable)
from divcolor_tf.training.step import (
    ObjectiveTrainer, make_optimizer, step_decay_rate, step_decay)
from divcolor_tf.training.checkpoints import (
    STATE_FILE, all_finite, Position, Checkpointer, read_state, latest_epoch, restore,
    trim_history)
from divcolor_tf.training.callbacks import (
    NanGuard, plot_history, append_history, HistoryCSV, CurvesPNG, EpochProgress, EpochSeconds,
    FieldImages)
from divcolor_tf.training.loop import (
    fit)
from divcolor_tf.training.stage import (
    Stage, StageDefinition, PhotoStage, run_stage, start_stage, started, photo_datasets, init_from, finish_stage, Frozen,
    check_stages, load_frozen)

__all__ = [
    "ClusterError", "split_cpu", "get_strategy", "set_precision", "precision_of", "loss_scaled", "is_chief",
    "writable", "ObjectiveTrainer", "make_optimizer",
    "step_decay_rate", "step_decay", "STATE_FILE", "all_finite", "Position", "Checkpointer",
    "read_state", "latest_epoch", "restore", "trim_history", "NanGuard", "plot_history",
    "append_history", "HistoryCSV",
    "CurvesPNG", "EpochProgress", "EpochSeconds", "FieldImages", "fit", "Stage", "StageDefinition", "PhotoStage", "run_stage", "start_stage", "started", "photo_datasets", "init_from",
    "finish_stage", "Frozen", "check_stages", "load_frozen",
]
