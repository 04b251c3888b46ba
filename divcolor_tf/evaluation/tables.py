"""Running the paper's evaluation protocols on a trained workdir or an export (``metrics`` defines
them): Tables 1-2 with the loss budget (``evaluate_vae``), Table 3 as an error budget
(``evaluate_colorize``)."""

import os

import numpy as np
import tensorflow as tf

from divcolor_tf import data
from divcolor_tf import losses
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.evaluation import blind as baselines_lib
from divcolor_tf.evaluation import metrics
from divcolor_tf.inference import colorizer as colorizer_lib
from divcolor_tf.inference import contract
from divcolor_tf.models import vae


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


ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: a dimension is active if Var_C(E[z_j | C]) > 0.01


class LossBudget:
  """What each term of the VAE's loss weighs, and how much of z is used, accumulated over batches.

  Every term is computed whatever the config's factors (so a run without L_mah still shows what
  L_mah would say), per example, with the decoder fed z ~ Q(z | C) and L_hist weighted as in
  training (``stats.bin_weights_for``); the weighted value is the term times the config's
  factor (the KL's: ``kl_factor``). Also: the KL per example (nats), the number of active latent
  dimensions (variance over photos of the encoder's mean above :data:`ACTIVE_UNIT_THRESHOLD`), and
  the mean posterior standard deviation.
  """

  def __init__(self, config, stats, decoder):
    n = config.stats.n_components
    self.config, self.decoder = config, decoder
    self.components = tf.constant(stats.pca_components[:n], tf.float32)
    self.variances = tf.constant(stats.pca_variance[:n], tf.float32)
    self.bin_weights = tf.constant(stats_lib.bin_weights_for(stats, config.loss), tf.float32)
    self.sums, self.count, self.means, self.stds = {}, 0, [], []

  def update(self, batch, mean, log_var):
    """One batch of the dataset, with the encoder's (mean, log_var) of its colour fields."""
    target = batch["colour_field"]
    z = vae.sample_z(mean, log_var, seed=self.count + 1)
    pred = vae.decode(self.decoder, z, batch["lightness"])
    along, outside = losses.mahalanobis_parts(target, pred, self.components, self.variances)
    values = {
        "hist": losses.hist_loss(target, pred, losses.pixel_weights(target, self.bin_weights),
                                 norm=self.config.loss.hist_norm),
        "mah (along the top components)": along,
        "mah (residual outside them)": outside,
        "grad": losses.grad_loss(target, pred),
        "kl": losses.kl_loss(mean, log_var),
    }
    for name, value in values.items():
      self.sums[name] = self.sums.get(name, 0.0) + float(tf.reduce_sum(value))
    self.count += int(target.shape[0])
    self.means.append(np.asarray(mean))
    self.stds.append(np.exp(0.5 * np.asarray(log_var)).mean())

  def result(self):
    """{"terms": {name: {"value", "weighted", "share"}}, "kl_per_example", "active_dims",
    "latent_dim", "posterior_std", "count"}; "share" is the part of the weighted total."""
    loss = self.config.loss
    factors = {"hist": loss.hist_factor, "mah (along the top components)": loss.mah_factor,
               "mah (residual outside them)": loss.mah_factor, "grad": loss.grad_factor,
               "kl": loss.kl_factor}
    terms = {name: {"value": total / self.count, "weighted": factors[name] * total / self.count}
             for name, total in self.sums.items()}
    weighted_total = sum(t["weighted"] for t in terms.values()) or 1.0
    for t in terms.values():
      t["share"] = t["weighted"] / weighted_total
    means = np.concatenate(self.means)
    return {"terms": terms, "kl_per_example": terms["kl"]["value"],
            "active_dims": int((means.var(0) > ACTIVE_UNIT_THRESHOLD).sum()),
            "latent_dim": int(means.shape[1]), "posterior_std": float(np.mean(self.stds)),
            "count": self.count}


def evaluate_vae(workdir, paths, *, batch_size=32, weights_kind=None, baselines=True,
                 budget=False):
  """Table 1 and Table 2 of a trained VAE on ``paths``.

  The decoder is fed the encoder's own mean embedding. Weighted errors use the colourfulness
  weights of the workdir's stats (the kind the model was trained with unless ``weights_kind``).
  With ``baselines``, also scores two trivial predictors: grey (ab = 0) and the training set's
  mean colour field (the PCA mean), which frame what the figures mean.

  Returns:
    (rows, count, skip_log): rows is a list of (name, {column: value}); with ``budget``,
    (rows, count, skip_log, :meth:`LossBudget.result`), measured in the same pass.
  """
  config, encoder, decoder, stats = workdir_lib.load_vae(workdir)
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
  loss_budget = LossBudget(config, stats, decoder) if budget else None
  for batch in ds:
    target = batch["colour_field"].numpy()
    mean, log_var = encoder(batch["colour_field"], training=False)
    if loss_budget:
      loss_budget.update(batch, mean, log_var)
    pred = vae.decode(decoder, mean, batch["lightness"]).numpy()
    w = losses.pixel_weights(target, np.asarray(bin_weights, np.float32)).numpy()
    tables["model"].update(target, pred, w)
    if baselines:
      tables["grey (ab = 0)"].update(target, np.zeros_like(target), w)
      tables["training mean field"].update(target, np.broadcast_to(mean_field, target.shape), w)
  rows = [(name, table.result()) for name, table in tables.items()]
  paper = PAPER_TABLE12.get(config.dataset)
  if paper:
    rows.append((f"paper ({config.dataset}, all terms)", dict(zip(metrics.Table12.COLUMNS, paper))))
  if loss_budget:
    return rows, tables["model"].count, skip_log, loss_budget.result()
  return rows, tables["model"].count, skip_log


def retinted(colorizations, target):
  """[B, K, F, F, 2] colorizations, each shifted by a constant ab so that its mean over pixels is
  that of its photo's truth [B, F, F, 2]: what is left of the error is where colour goes."""
  colorizations = np.asarray(colorizations, np.float32)
  return (colorizations - colorizations.mean(axis=(2, 3), keepdims=True)
          + np.asarray(target, np.float32).mean(axis=(1, 2), keepdims=True)[:, None])


def evaluate_colorize(workdir_or_colorizer, paths, k=5, *, batch_size=32, stats=None,
                      baselines=True, progress=None):
  """Table 3 (diverse colorization) of a trained model on ``paths``, with its error budget.

  Each photo is colorized from its grey level alone (the top-k means of the MDN's mixture, decoded)
  and scored at the 64x64 colour-field resolution against the photo's own colour field, as made by
  ``data.make_dataset`` (the same squashed grey input and lightness the models were trained on).
  Near-grey photos are left out when the config says so (their ground truth has no colour).

  Rows, in the order of the error budget (each a dict of ``metrics.Table3.COLUMNS``):
    * the model: top-k means by mixture weight (the paper's test time);
    * oracle: the best of ALL M means, picked with the truth (what a perfect ranking would give);
    * re-tinted: the top-k means, each shifted so that its mean colour is the truth's (a perfect
      global tint; what is left is the error of where colour goes: the layout);
    * VAE reconstruction: the decoder fed the encoder's mean of the TRUE colour field (Table 1's
      protocol; the best the decoder can do with a code chosen from the answer); when the model
      directory has the encoder;
    * palette-k and the training mean field (``divcolor_tf.evaluation.blind``; photo-blind, fitted on the
      training split) and grey (ab = 0);
    * the paper's rows for the config's dataset.

  Args:
    workdir_or_colorizer: a model directory or an export (``colorizer_lib.load``), or a colorizer.
    paths: the test photos (anything ``data.list_images`` accepts).
    k: colorizations per photo (paper 5).
    batch_size: photos per step.
    stats: a ``stats.ColourStats``, for fitting the baselines when the model directory has no
      ``baselines.npz``; default: the workdir's stats.npz.
    baselines: include the photo-blind rows.
    progress: a ``progress.Progress`` over ``paths``, advanced after each batch, or None.

  Returns:
    (rows, count, skip_log): rows a list of (name, {column: value}); count the photos scored.
  """
  if isinstance(workdir_or_colorizer, contract.Sampling):
    colorizer = workdir_or_colorizer
  else:
    colorizer = colorizer_lib.load(os.fspath(workdir_or_colorizer))
  model_dir = colorizer.model_dir
  if isinstance(k, bool) or int(k) != k or not 1 <= k <= colorizer.num_components:
    raise ValueError(f"k must be in [1, {colorizer.num_components}], got {k!r}")
  k = int(k)
  config = colorizer.config
  if stats is None and model_dir and os.path.isfile(workdir_lib.path(model_dir, workdir_lib.STATS)):
    stats = workdir_lib.load_stats(model_dir)
  data_config = config.get("data", {}) if hasattr(config, "get") else {}
  skip_log = data.SkipLog()
  ds = data.make_dataset(
      paths, field_size=colorizer.field_size, grey_size=colorizer.grey_size,
      batch_size=batch_size, drop_near_grey=bool(data_config.get("drop_near_grey", True)),
      near_grey_threshold=float(data_config.get("near_grey_threshold",
                                                data.NEAR_GREY_THRESHOLD)),
      skip_log=skip_log)
  fitted = None
  if baselines and model_dir:
    fitted = baselines_lib.for_model(model_dir, config, stats, max_k=colorizer.num_components)

  names = colorizer.table3_names(k)
  name, oracle, recon, top = (names[key] for key in ("model", "oracle", "reconstruction", "top"))
  tinted = f"re-tinted: {top}, each given the true mean colour (the layout's error)"
  tables = {name: metrics.Table3(), oracle: metrics.Table3(), tinted: metrics.Table3()}
  if colorizer.can_encode:
    tables[recon] = metrics.Table3()
  fixed = {}
  if fitted is not None:
    fixed[f"palette-{k} (photo-blind)"] = fitted[f"palette_{k}"]
    fixed["training mean field"] = fitted["mean"][None]
  if baselines:
    fixed["grey (ab = 0)"] = np.zeros((1, colorizer.field_size, colorizer.field_size, 2),
                                      np.float32)
  for row in fixed:
    tables[row] = metrics.Table3()
  for batch in ds:
    target = batch["colour_field"].numpy()
    out = colorizer.evaluation_fields(batch["grey"], batch["lightness"], batch["colour_field"], k)
    top_k = out["top_k"].numpy()
    tables[name].update(target, top_k)
    tables[oracle].update(target, out["all"].numpy())
    tables[tinted].update(target, retinted(top_k, target))
    if recon in tables:
      tables[recon].update(target, out["reconstruction"].numpy())
    for row, fields in fixed.items():
      tables[row].update(target, np.broadcast_to(fields[None], (len(target),) + fields.shape))
    if progress is not None:  # photos scored and photos left out (near-grey, unreadable)
      progress.update_to(tables[name].count + skip_log.count)
  rows = [(row, table.result()) for row, table in tables.items()]
  dataset = str(config.get("dataset", "") if hasattr(config, "get") else "")
  for method, (eob, variance) in PAPER_TABLE3.get(dataset, {}).items():
    rows.append((f"paper ({dataset}): {method}", {"eob": eob, "variance": variance}))
  return rows, tables[name].count, skip_log


def is_blind_row(name):
  """True for the photo-blind rows of :func:`evaluate_colorize` (palette-k, mean field, grey)."""
  return name.startswith(("palette-", "training mean field", "grey (ab = 0)"))


def comparison_rows(results):
  """Table 3 for several models: each model's own row (named by its label), then the photo-blind
  rows (each the first model's that has it) and the paper's rows for the first model's dataset.

  Args:
    results: [(label, rows)], rows as :func:`evaluate_colorize` returns them (its first row is
      the model's).
  """
  rows = [(f"{label}: {rows[0][0]}", rows[0][1]) for label, rows in results]
  seen = set()
  for _, model_rows in results:  # a model without the training colour fields has only "grey"
    for name, values in model_rows:
      if is_blind_row(name) and name not in seen:
        seen.add(name)
        rows.append((name, values))
  rows += [(name, values) for name, values in results[0][1] if name.startswith("paper (")]
  return rows
