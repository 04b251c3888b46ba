"""Running the paper's evaluation protocols on a trained workdir (see ``metrics`` for definitions)."""

import os

import numpy as np
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf import data
from divcolor_tf import metrics
from divcolor_tf import train_vae

PAPER_TABLE12 = {  # paper, "all terms" column: (abs All, abs Grid, weighted All, weighted Grid)
    "lfw": (.029, .029, 2.65, 2.83),
    "church": (.023, .023, 1.74, 1.71),
    "imagenet_val": (.039, .039, 4.82, 4.66),
}

# Table 3, (error-of-best, variance) with 5 colorizations per image, ab/128 units, all pixels.
PAPER_TABLE3 = {
    "lfw": {"CVAE": (.031, 1.0e-4), "cGAN": (.047, 8.4e-6), "Ours": (.030, 1.1e-3),
            "Ours+skip": (.031, 4.4e-4)},
    "church": {"CVAE": (.029, 2.2e-4), "cGAN": (.048, 6.2e-6), "Ours": (.036, 3.1e-4),
               "Ours+skip": (.036, 2.9e-4)},
    "imagenet_val": {"CVAE": (.037, 2.5e-4), "cGAN": (.048, 8.88e-6), "Ours": (.043, 6.8e-4),
                     "Ours+skip": (.041, 6.0e-4)},
}


def pixel_weights(colour_field, bin_weights):
  """Colourfulness weight of each pixel's ground-truth bin: [B, H, W] (numpy)."""
  bins = color.nearest_bin(tf.constant(colour_field) * color.AB_SCALE)
  return np.asarray(bin_weights)[bins.numpy()]


def evaluate_vae(workdir, paths, *, batch_size=32, weights_kind=None, baselines=True):
  """Table 1 and Table 2 of a trained VAE on ``paths``.

  The decoder is fed the encoder's own mean embedding. Weighted errors use the colourfulness
  weights of the workdir's stats (the kind the model was trained with unless ``weights_kind``).
  With ``baselines``, also scores two trivial predictors: grey (ab = 0) and the training set's
  mean colour field (the PCA mean), which frame what the figures mean.

  Returns:
    (rows, count, skip_log): rows is a list of (name, {column: value}).
  """
  config, encoder, decoder, stats = train_vae.load_models(workdir)
  kind = weights_kind or ("stable" if config.loss.colourfulness == "uniform"
                          else config.loss.colourfulness)
  bin_weights = stats.weights(kind)
  skip_log = data.SkipLog()
  ds = data.make_dataset(
      paths, field_size=config.data.field_size, grey_size=config.data.field_size,
      batch_size=batch_size, drop_near_grey=config.data.drop_near_grey,
      near_grey_threshold=config.data.near_grey_threshold, skip_log=skip_log)
  mean_field = stats.unflatten_mean(config.data.field_size)
  tables = {"model": metrics.Table12()}
  if baselines:
    tables["grey (ab = 0)"] = metrics.Table12()
    tables["training mean field"] = metrics.Table12()
  for batch in ds:
    target = batch["colour_field"].numpy()
    mean, _ = encoder(batch["colour_field"], training=False)
    inputs = {"z": mean, "lightness": batch["lightness"]} if config.vae.skip else mean
    pred = tf.cast(decoder(inputs, training=False), tf.float32).numpy()
    w = pixel_weights(target, bin_weights)
    tables["model"].update(target, pred, w)
    if baselines:
      tables["grey (ab = 0)"].update(target, np.zeros_like(target), w)
      tables["training mean field"].update(target, np.broadcast_to(mean_field, target.shape), w)
  rows = [(name, table.result()) for name, table in tables.items()]
  paper = PAPER_TABLE12.get(config.dataset)
  if paper:
    rows.append((f"paper ({config.dataset}, all terms)", dict(zip(metrics.Table12.COLUMNS, paper))))
  return rows, tables["model"].count, skip_log


def evaluate_colorize(workdir_or_colorizer, paths, k=5, *, batch_size=32, stats=None,
                      baselines=True):
  """Table 3 (diverse colorization) of a trained model on ``paths``.

  Each photo is colorized from its grey level alone (the top-k means of the MDN's mixture, decoded;
  the VAE's reconstruction of the true colour field is not a colorization and is not used) and
  scored at the 64x64 colour-field resolution against the photo's own colour field, as made by
  ``data.make_dataset`` (the same squashed grey input and lightness the models were trained on).
  Near-grey photos are left out when the config says so (their ground truth has no colour).

  Args:
    workdir_or_colorizer: a model directory (``Colorizer.load``) or a ``colorize.Colorizer``.
    paths: the test photos (anything ``data.list_images`` accepts).
    k: colorizations per photo (paper 5).
    batch_size: photos per step.
    stats: a ``stats.ColourStats`` for the training-mean-field baseline; default: the workdir's
      stats.npz when there is one (no such row otherwise).
    baselines: also score grey (ab = 0) and the training set's mean colour field, each a single
      prediction (so variance 0): they frame what the error-of-best means.

  Returns:
    (rows, count, skip_log): rows a list of (name, {'eob', 'variance'}), the model's first, then
    the baselines, then the paper's rows for the config's dataset; count the photos scored.
  """
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf import stats as stats_lib  # pylint: disable=g-import-not-at-top
  if isinstance(workdir_or_colorizer, colorize.Colorizer):
    colorizer = workdir_or_colorizer
  else:
    workdir = os.fspath(workdir_or_colorizer)
    colorizer = colorize.Colorizer.load(workdir)
    stats_path = os.path.join(workdir, "stats.npz")
    if stats is None and os.path.isfile(stats_path):
      stats = stats_lib.load(stats_path)
  if isinstance(k, bool) or int(k) != k or not 1 <= k <= colorizer.num_components:
    raise ValueError(f"k must be in [1, {colorizer.num_components}], got {k!r}")
  config = colorizer.config
  data_config = config.get("data", {}) if hasattr(config, "get") else {}
  skip_log = data.SkipLog()
  ds = data.make_dataset(
      paths, field_size=colorizer.field_size, grey_size=colorizer.grey_size,
      batch_size=batch_size, drop_near_grey=bool(data_config.get("drop_near_grey", True)),
      near_grey_threshold=float(data_config.get("near_grey_threshold",
                                                data.NEAR_GREY_THRESHOLD)),
      skip_log=skip_log)
  predict = tf.function(lambda grey, lightness: colorizer.colour_fields(grey, lightness, int(k)))
  name = f"{'Ours+skip' if colorizer.skip else 'Ours'} (this model, top-{int(k)} means)"
  tables = {name: metrics.Table3()}
  mean_field = None
  if baselines:
    tables["grey (ab = 0)"] = metrics.Table3()
    if stats is not None:
      mean_field = stats.unflatten_mean(colorizer.field_size)
      tables["training mean field"] = metrics.Table3()
  for batch in ds:
    target = batch["colour_field"].numpy()
    fields = predict(batch["grey"], batch["lightness"])["ab"].numpy()
    tables[name].update(target, fields)
    if baselines:
      tables["grey (ab = 0)"].update(target, np.zeros_like(target)[:, None])
      if mean_field is not None:
        tables["training mean field"].update(
            target, np.broadcast_to(mean_field, target.shape)[:, None])
  rows = [(row, table.result()) for row, table in tables.items()]
  dataset = str(config.get("dataset", "") if hasattr(config, "get") else "")
  for method, (eob, variance) in PAPER_TABLE3.get(dataset, {}).items():
    rows.append((f"paper ({dataset}): {method}", {"eob": eob, "variance": variance}))
  return rows, tables[name].count, skip_log
