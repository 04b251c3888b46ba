"""Training the colour-field VAE (paper Section 3, Eq. 1-4).

``VAETrainer`` is a Keras model whose ``objective`` reads like the paper (the gradient step is
``training.ObjectiveTrainer``'s, shared by every trainer):

    mean, log_var = Q(z | C)                        encoder
    z = mean + exp(log_var / 2) * eps                reparameterisation
    L_dec = L_hist + 0.1 L_mah + 1e-3 L_grad         (Eq. 2-4, losses.decoder_loss)
    L = L_dec(C, f(z)) + beta * KL(Q(z|C) || N(0, I)),   beta = 1e-2 (or the authors' ramp)

Per-example losses are averaged over the global batch, so the same step runs on one device or
under a MirroredStrategy. ``train(config, workdir)`` is what ``divcolor-train-vae`` calls.
"""

import os

import keras
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf import losses
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.methods import ours as ours_method
from divcolor_tf.models import vae


LOSS_TERMS = ("hist", "mah", "grad", "kl")


class VAETrainer(training.ObjectiveTrainer):
  """Encoder + decoder trained jointly with the paper's losses; one Mean metric per term."""

  def __init__(self, encoder, decoder, *, vae_config, loss_config, bin_weights, components,
               variances, **kwargs):
    super().__init__(("loss",) + LOSS_TERMS, **kwargs)
    self.encoder = encoder
    self.decoder = decoder
    self.skip = bool(vae_config.skip)
    self.truncated_noise = bool(vae_config.truncated_noise)
    self.loss_config = loss_config
    self.bin_weights = tf.constant(bin_weights, tf.float32)
    self.components = None if components is None else tf.constant(components, tf.float32)
    self.variances = None if variances is None else tf.constant(variances, tf.float32)
    self.kl_weight = keras.Variable(float(losses.kl_weight(0, loss_config)), trainable=False,
                                    name="kl_weight", dtype="float32")
    self.built = True  # its variables are the (functional, already built) encoder's and decoder's

  def decode(self, z, lightness=None, training=False):
    """f(z), or f(z, grey) for the "+skip" variant; colour field in ab/128, float32."""
    return vae.decode(self.decoder, z, lightness, training=training)

  def embed(self, colour_field, training=False):
    mean, log_var = self.encoder(colour_field, training=training)
    return tf.cast(mean, tf.float32), tf.cast(log_var, tf.float32)

  def call(self, batch, training=False):
    """Reconstruction from the encoder's mean embedding (the Table 1 protocol)."""
    mean, _ = self.embed(batch["colour_field"], training=training)
    return self.decode(mean, batch.get("lightness"), training=training)

  def objective(self, batch, training):
    colour_field = batch["colour_field"]
    mean, log_var = self.embed(colour_field, training=training)
    z = vae.sample_z(mean, log_var, seed=self.noise_seed(colour_field, training),
                     truncated=self.truncated_noise)
    reconstruction = self.decode(z, batch.get("lightness"), training=training)
    terms = losses.decoder_loss(
        colour_field, reconstruction, weights=self.bin_weights, components=self.components,
        variances=self.variances, loss_config=self.loss_config)
    terms["kl"] = losses.kl_loss(mean, log_var)
    per_example = terms["decoder"] + self.kl_weight * terms["kl"]
    return per_example, terms



class KLSchedule(keras.callbacks.Callback):
  """Sets the KL weight at the start of every epoch (constant, or the authors' linear ramp)."""

  def __init__(self, loss_config):
    super().__init__()
    self.loss_config = loss_config

  def on_epoch_begin(self, epoch, logs=None):
    self.model.kl_weight.assign(float(losses.kl_weight(epoch, self.loss_config)))

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      logs["kl_weight"] = float(self.model.kl_weight.numpy())


class ReconstructionImages(keras.callbacks.Callback):
  """Writes a TensorBoard image grid per epoch: photo | reconstruction from the mean embedding."""

  def __init__(self, batch, log_dir):
    super().__init__()
    self.batch = batch
    self.writer = tf.summary.create_file_writer(  # another worker's go to its own folder
        training.writable(os.path.join(log_dir, "images")))

  def on_epoch_end(self, epoch, logs=None):
    reconstruction = self.model(self.batch, training=False)
    lightness = self.batch["lightness"]
    truth = color.l_ab_to_rgb(lightness, self.batch["colour_field"])
    recon = color.l_ab_to_rgb(lightness, reconstruction)
    grid = tf.concat([truth, recon], axis=2)  # side by side
    with self.writer.as_default():
      tf.summary.image("photo | reconstruction", grid, step=epoch + 1,
                       max_outputs=int(grid.shape[0]))
    self.writer.flush()


def build_trainer(config, stats):
  """Encoder, decoder and the trainer around them (call inside a strategy scope)."""
  encoder = vae.build_encoder(config.vae, field_size=config.data.field_size)
  decoder = vae.build_decoder(config.vae, field_size=config.data.field_size)
  use_mah = config.loss.mah_factor > 0
  trainer = VAETrainer(
      encoder, decoder, vae_config=config.vae, loss_config=config.loss,
      bin_weights=stats_lib.bin_weights_for(stats, config.loss),
      components=stats.pca_components[:config.stats.n_components] if use_mah else None,
      variances=stats.pca_variance[:config.stats.n_components] if use_mah else None,
      seed=config.train.seed)
  return trainer


class VAEStage(training.PhotoStage):
  """divcolor-train-vae: the VAE in the workdir itself (``run_stage`` runs it); it reads the
  colour field and its lightness only (no large grey input to resize)."""

  def __init__(self, config, workdir):
    super().__init__(config, workdir, name="VAE", method=ours_method.METHOD, section="vae")

  def build(self, stage):
    trainer = build_trainer(self.config, self.stats)
    trainer.compile(optimizer=training.make_optimizer(self.config.vae),
                    jit_compile=self.config.train.jit_compile)
    return trainer

  def callbacks(self, stage, trainer, val_ds):
    # The config's rate is set at every epoch's start, so a resumed run uses the rate it is given
    # now, not the one restored with the optimizer's state.
    vae, summaries = self.config.vae, self.config.train.image_summaries
    callbacks = [KLSchedule(self.config.loss),
                 training.step_decay(vae.learning_rate, vae.lr_decay_epochs, vae.lr_decay_factor)]
    if val_ds is not None and summaries:
      sample = next(iter(val_ds.unbatch().batch(summaries)))
      callbacks.append(ReconstructionImages(sample, os.path.join(self.workdir, "tensorboard")))
    return callbacks

  def initialize(self, trainer):
    return training.init_from(self.config, [trainer.encoder, trainer.decoder], self.name,
                              whole=[trainer.encoder])  # not from a --noencoder export

  def outputs(self, trainer):
    return [(trainer.encoder, workdir_lib.path(self.workdir, workdir_lib.ENCODER)),
            (trainer.decoder, workdir_lib.path(self.workdir, workdir_lib.DECODER))]


def train(config, workdir, verbose=1):
  """Trains (or resumes) the VAE of ``config`` in ``workdir``; returns the Keras History.

  Writes into workdir: config.json (resolved), stats.npz, checkpoints/, tensorboard/,
  history.csv, and at the end encoder.keras and decoder.keras.
  """
  return training.run_stage(VAEStage(config, workdir), verbose)
