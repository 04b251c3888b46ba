"""Running the paper's evaluation protocols on a trained workdir (see ``metrics`` for definitions)."""

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
