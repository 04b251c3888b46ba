"""Training the paper's CVAE baseline (Sections 5 and 6.3; models/cvae.py).

``CVAETrainer.objective`` is Sohn et al.'s bound as the paper states it, per example:

    mean, log_var = Q(z | C, G)                       encoder (colour field and lightness)
    z = mean + exp(log_var / 2) * eps                  reparameterisation
    L = l2_factor ||C - f(z, G)||^2 + kl_factor KL(Q(z | C, G) || N(0, I))
        [+ hist_factor L_hist + mah_factor L_mah + grad_factor L_grad]   (switches, off: paper)

The KL weight defaults to Ours' (1e-2 against its decoder loss), so the two methods weigh the
code's cost alike. Logged per epoch: the loss, L2, KL per example, the extra terms when on, and
``active_dims``, the latent dimensions the encoder uses: those whose posterior mean varies across
the validation photos by more than 0.01 (Burda et al.'s activity criterion; a CVAE whose decoder
can colour from G alone lets its code collapse, which the count shows).

``train(config, workdir)`` is what ``divcolor-train-cvae`` calls: the project's training path
(resume is the same run, the NaN guard, history.png, TensorBoard colorizations: photo | the
reconstruction from the posterior mean | a decode of a prior draw z ~ N(0, I)).
"""

import keras
import numpy as np
import tensorflow as tf

from divcolor_tf import losses
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.methods import cvae as cvae_method
from divcolor_tf.models import cvae
from divcolor_tf.models import vae

LOSS_TERMS = ("l2", "hist", "mah", "grad", "kl")


def extra_terms_config(cvae_config):
  """The CVAE's switches as the loss config ``losses.decoder_loss`` reads."""
  return {"hist_factor": float(cvae_config.hist_factor), "mah_factor": float(cvae_config.mah_factor),
          "grad_factor": float(cvae_config.grad_factor), "hist_norm": "squared"}


class CVAETrainer(training.ObjectiveTrainer):
  """Q(z | C, G) and f(z, G) trained jointly on KL + L2; one Mean per logged term."""

  def __init__(self, encoder, decoder, *, cvae_config, bin_weights=None, components=None,
               variances=None, **kwargs):
    extra = extra_terms_config(cvae_config)
    logged = [name for name in LOSS_TERMS if name in ("l2", "kl") or extra.get(f"{name}_factor")]
    super().__init__(["loss"] + logged, **kwargs)  # the terms that are on
    self.encoder, self.decoder = encoder, decoder
    self.l2_factor = float(cvae_config.l2_factor)
    self.kl_factor = float(cvae_config.kl_factor)
    self.extra = extra
    self.bin_weights = None if bin_weights is None else tf.constant(bin_weights, tf.float32)
    self.components = None if components is None else tf.constant(components, tf.float32)
    self.variances = None if variances is None else tf.constant(variances, tf.float32)
    self.built = True

  def embed(self, batch, training=False):
    mean, log_var = self.encoder({"colour_field": batch["colour_field"],
                                  "lightness": batch["lightness"]}, training=training)
    return tf.cast(mean, tf.float32), tf.cast(log_var, tf.float32)

  def call(self, batch, training=False):
    """Reconstruction from the posterior mean."""
    mean, _ = self.embed(batch, training=training)
    return vae.decode(self.decoder, mean, batch["lightness"], training=training)

  def objective(self, batch, training):
    colour_field = batch["colour_field"]
    mean, log_var = self.embed(batch, training=training)
    z = vae.sample_z(mean, log_var, seed=self.noise_seed(colour_field, training))
    reconstruction = vae.decode(self.decoder, z, batch["lightness"], training=training)
    terms = {"l2": losses.l2_loss(colour_field, reconstruction),
             "kl": losses.kl_loss(mean, log_var)}
    per_example = self.l2_factor * terms["l2"] + self.kl_factor * terms["kl"]
    if any(self.extra[f"{name}_factor"] for name in ("hist", "mah", "grad")):
      extra = losses.decoder_loss(colour_field, reconstruction, weights=self.bin_weights,
                                  components=self.components, variances=self.variances,
                                  loss_config=self.extra)
      per_example += extra.pop("decoder")
      terms.update(extra)
    return per_example, terms


def active_dimensions(encoder, dataset, threshold=losses.ACTIVE_THRESHOLD):
  """(number of active latent dimensions, per-dimension variance of the posterior mean) over
  ``dataset``'s photos (batches with 'colour_field' and 'lightness')."""
  means = [encoder({"colour_field": b["colour_field"], "lightness": b["lightness"]},
                   training=False)[0].numpy() for b in dataset]
  variance = np.concatenate(means).astype(np.float64).var(axis=0)
  return int((variance > threshold).sum()), variance


class ActiveDimensions(keras.callbacks.Callback):
  """Adds ``active_dims`` (:func:`active_dimensions` on ``dataset``) to each epoch's logs."""

  def __init__(self, dataset):
    super().__init__()
    self.dataset = dataset

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      logs["active_dims"] = float(active_dimensions(self.model.encoder, self.dataset)[0])


def _prior_draw(model, batch):
  """f(z, G) of one z ~ N(0, I) per photo (the test-time path), beside the reconstruction."""
  n = tf.shape(batch["lightness"])[0]
  z = tf.random.stateless_normal(tf.stack([n, vae.latent_size(model.encoder)]), seed=[0, 0])
  return [model(batch), vae.decode(model.decoder, z, batch["lightness"])]


def build_trainer(config, stats):
  """Encoder, decoder and the trainer around them (call inside a strategy scope)."""
  c = config.cvae
  encoder = cvae.build_encoder(c, field_size=config.data.field_size)
  decoder = cvae.build_decoder(c, field_size=config.data.field_size)
  n = config.stats.n_components
  return CVAETrainer(
      encoder, decoder, cvae_config=c,
      bin_weights=stats_lib.bin_weights_for(stats, config.loss) if c.hist_factor else None,
      components=stats.pca_components[:n] if c.mah_factor else None,
      variances=stats.pca_variance[:n] if c.mah_factor else None, seed=config.train.seed)


class CVAEStage(training.PhotoStage):
  """divcolor-train-cvae: the CVAE in a workdir of its own (``run_stage`` runs it)."""

  keys = ("colour_field", "lightness")

  def __init__(self, config, workdir):
    super().__init__(config, workdir, name="CVAE", method=cvae_method.METHOD, section="cvae")

  def build(self, stage):
    trainer = build_trainer(self.config, self.stats)
    trainer.compile(optimizer=training.make_optimizer(self.config.cvae),
                    jit_compile=self.config.train.jit_compile)
    return trainer

  def callbacks(self, stage, trainer, val_ds):
    callbacks = [training.EpochSeconds()]
    if val_ds is not None:
      callbacks.append(ActiveDimensions(val_ds))
      if self.config.train.image_summaries:
        sample = next(iter(val_ds.unbatch().batch(self.config.train.image_summaries)))
        callbacks.append(training.FieldImages(
            sample, f"{self.workdir}/tensorboard", _prior_draw,
            "photo | reconstruction | prior draw z ~ N(0, I)"))
    return callbacks

  def initialize(self, trainer):
    return training.init_from(self.config, [trainer.encoder, trainer.decoder], self.name)

  def outputs(self, trainer):
    return [(trainer.encoder, workdir_lib.path(self.workdir, workdir_lib.CVAE_ENCODER)),
            (trainer.decoder, workdir_lib.path(self.workdir, workdir_lib.CVAE_DECODER))]


def train(config, workdir, verbose=1):
  """Trains (or resumes) the CVAE of ``config`` in ``workdir``; returns the Keras History.

  Writes into workdir: config.json, stats.npz, checkpoints/, tensorboard/, history.csv(.png), and
  at the end cvae_encoder.keras and cvae_decoder.keras.
  """
  return training.run_stage(CVAEStage(config, workdir), verbose)
