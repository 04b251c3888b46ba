"""The callbacks of every run: the NaN guard, history.csv (every row under its header),
history.png, the progress bar, epoch timing; the TensorBoard colour-field grid the baselines'
trainers share.
"""

import csv
import io
import math
import os
import time

from absl import logging
import keras
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf.io import atomic
from divcolor_tf.training import checkpoints as checkpoints_lib
from divcolor_tf.training import strategy as strategy_lib


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
      last = checkpoints_lib.latest_epoch(self.ckpt_dir)
      raise FloatingPointError(
          f"epoch {self.epoch + 1}, step {batch + 1}: non-finite loss {bad}; training stopped, no "
          f"checkpoint written for this epoch (last good checkpoint: "
          f"{'epoch %d' % last if last else 'none'}). Lower the stage's "
          "learning_rate or set its clipnorm (e.g. vae.learning_rate, vae.clipnorm), then resume "
          "from the same workdir.")


def plot_history(csv_path, png_path):
  """history.csv -> a PNG of its curves: one panel per metric, training and validation together,
  the learning rate on a log scale. Returns False (and writes nothing) before the first row."""
  import matplotlib  # pylint: disable=g-import-not-at-top  (matplotlib on first use: a light import)
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top  (matplotlib on first use: a light import)
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
  try:  # closed however it ends: CurvesPNG goes on after a failed write, every epoch
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
    # Fixed margins in inches (tight_layout measured every tick label: 0.3-0.7 s an epoch).
    width, height = fig.get_size_inches()
    left, right, bottom, top, wgap, hgap = 0.65, 0.15, 0.5, 0.3, 0.6, 0.8
    axis_w = (width - left - right - (ncols - 1) * wgap) / ncols
    axis_h = (height - bottom - top - (nrows - 1) * hgap) / nrows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=wgap / axis_w, hspace=hgap / axis_h)
    with atomic.atomic_path(png_path) as temp:
      fig.savefig(temp, dpi=80, format="png")
  finally:
    plt.close(fig)
  return True


def _csv_value(value):
  """A log value as history.csv writes it: a number as Python prints a float, else its text."""
  try:
    return repr(float(value))
  except (TypeError, ValueError):
    return str(value)


def append_history(path, epoch, logs):
  """Adds epoch ``epoch``'s ``logs`` to history.csv at ``path`` as one row under its header.

  The columns are the union of every epoch's keys: the header's, in order, then a new key's,
  sorted. Keras' CSVLogger took its columns from the first epoch a process logged and kept an
  existing file's header as it was, so a resumed run whose epochs log other keys (a multi-worker
  restart, a resumed epoch with no step left: issue 47, row 7) appended 13-field rows under an
  8-column header. Here the file is rewritten whole, atomically, each epoch: under a wider header
  when a key is new (earlier rows padded with empty fields), and never left with half a row by a
  full disk or a kill. (A few hundred short rows: rewriting costs nothing next to an epoch.)
  A key an epoch did not log is an empty field.
  """
  row = {"epoch": str(epoch), **{str(k): _csv_value(v) for k, v in logs.items()}}
  header, rows = ["epoch"], []
  if os.path.exists(path):
    with open(path, newline="") as f:
      lines = list(csv.reader(f))
    if lines:
      header, rows = lines[0], lines[1:]
  header = header + sorted(k for k in row if k not in header)
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\n")
  writer.writerow(header)
  for old in rows:  # aligned with the old header, which is the new one's start
    writer.writerow(old + [""] * (len(header) - len(old)))
  writer.writerow([row.get(k, "") for k in header])
  atomic.write_text(path, out.getvalue())


class HistoryCSV(keras.callbacks.Callback):
  """Writes each epoch's logs to history.csv, every row under the file's header
  (:func:`append_history`): the run's CSV log, in place of Keras' CSVLogger."""

  def __init__(self, path):
    super().__init__()
    self.path = path

  def on_epoch_end(self, epoch, logs=None):
    append_history(self.path, epoch, logs or {})


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


class EpochProgress(keras.callbacks.ProgbarLogger):
  """Keras' progress bar, its "Epoch e/N" naming the run's N (fit runs once per epoch)."""

  def __init__(self, total):
    super().__init__()
    self.total = total

  def set_params(self, params):
    super().set_params(params)
    self.epochs = self.total


class EpochSeconds(keras.callbacks.Callback):
  """Adds the epoch's wall time ('seconds') to the logs (and so to history.csv)."""

  def on_epoch_begin(self, epoch, logs=None):
    self.start = time.time()

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      logs["seconds"] = time.time() - self.start


class FieldImages(keras.callbacks.Callback):
  """A TensorBoard image grid per epoch: each photo of ``batch`` beside the colour fields
  ``render(model, batch)`` gives for it (a list of [B, F, F, 2] ab/128), joined with its L."""

  def __init__(self, batch, log_dir, render, title):
    super().__init__()
    self.batch, self.render, self.title = batch, render, title
    self.writer = tf.summary.create_file_writer(  # another worker's go to its own folder
        strategy_lib.writable(os.path.join(log_dir, "images")))

  def on_epoch_end(self, epoch, logs=None):
    lightness = self.batch["lightness"]
    fields = [self.batch["colour_field"]] + list(self.render(self.model, self.batch))
    grid = tf.concat([color.l_ab_to_rgb(lightness, f) for f in fields], axis=2)  # side by side
    with self.writer.as_default():
      tf.summary.image(self.title, grid, step=epoch + 1, max_outputs=int(grid.shape[0]))
    self.writer.flush()
