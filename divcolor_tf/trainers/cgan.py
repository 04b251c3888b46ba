"""Training the paper's cGAN baseline (Section 5): pix2pix's U-Net G and PatchGAN D on 64x64 fields.

Isola et al.'s objective, per example (D's logits averaged over its 8x8 patches; sigmoid
cross-entropy ``bce``):

    fake = G(L)                                       dropout masks from (seed, step): the noise
    L_D  = 1/2 [bce(D(L, C), 1) + bce(D(L, fake), 0)]                    D's step first, then
    L_G  = bce(D(L, fake), 1) + lambda ||C - fake||_1,   lambda = 100     G's, against the new D

Two optimizers (Adam 2e-4, beta_1 0.5, as pix2pix) take alternating steps inside one custom
``train_step``: D's on the detached fake, then G's through the updated D, as pix2pix's
``optimize_parameters`` does. Both optimizers' states are in the trainer's checkpoints, so a
resumed run is the same run. Logged per epoch: L_G ("loss"), its two parts ("g_adv", "l1"),
L_D ("d_loss") and D's accuracy ("d_accuracy": the share of patches it calls right, real and
fake counted alike; 0.5 is a D that cannot tell, 1.0 one that always can).

``train(config, workdir)`` is what ``divcolor-train-cgan`` calls.
"""

import tensorflow as tf

from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.methods import cgan as cgan_method
from divcolor_tf.models import patchgan
from divcolor_tf.models import unet

LOSS_TERMS = ("g_adv", "l1", "d_loss", "d_accuracy")


def bce(logits, label):
  """Sigmoid cross-entropy of patch logits [B, h, w, 1] against a constant label, per example."""
  logits = tf.cast(logits, tf.float32)
  labels = tf.fill(tf.shape(logits), float(label))
  return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits), axis=[1, 2, 3])


def patch_accuracy(real_logits, fake_logits):
  """[B]: the share of D's patches that are right (real > 0, fake < 0), per example."""
  right = lambda x: tf.reduce_mean(tf.cast(x, tf.float32), axis=[1, 2, 3])
  return 0.5 * (right(real_logits > 0) + right(fake_logits < 0))


def jitter(batch, seed, scale):
  """pix2pix's random jitter and mirroring (its ``resize_and_crop`` + flip: 256 -> 286, a random
  256 crop, a mirror half the time), done in the step so that it follows cached examples: each
  example's L and colour field together are shrunk to a random crop ``1 / scale`` of their side,
  resized back (bilinear), and mirrored left-right when a coin says so. ``seed`` (int32 [2], the
  step's) fixes the draws, so a resumed run jitters as the uninterrupted one did. ``scale`` 1 is
  no jitter (only the mirror)."""
  lightness = tf.cast(batch["lightness"], tf.float32)
  field = tf.cast(batch["colour_field"], tf.float32)
  count = tf.shape(field)[0]
  share = 1.0 / float(scale)
  draws = tf.random.stateless_uniform(tf.stack([count, 3]), tf.cast(seed, tf.int32))
  top, left = draws[:, 0] * (1.0 - share), draws[:, 1] * (1.0 - share)
  mirror = draws[:, 2] < 0.5  # a box whose x1 > x2 is read right to left
  x1 = tf.where(mirror, left + share, left)
  x2 = tf.where(mirror, left, left + share)
  boxes = tf.stack([top, x1, top + share, x2], axis=1)
  both = tf.image.crop_and_resize(tf.concat([lightness, field], -1), boxes, tf.range(count),
                                  tf.shape(field)[1:3], method="bilinear")
  return dict(batch, lightness=both[..., :1], colour_field=both[..., 1:])


def l1_loss(target, pred):
  """[B] mean absolute error per pixel and channel (pix2pix's L1, in ab/128)."""
  return tf.reduce_mean(tf.abs(tf.cast(target, tf.float32) - tf.cast(pred, tf.float32)),
                        axis=[1, 2, 3])


class CGANTrainer(training.ObjectiveTrainer):
  """G and D with an optimizer each; ``optimizer`` is G's (the learning-rate callbacks' one)."""

  def __init__(self, generator, discriminator, *, l1_factor, jitter_scale=0.0, **kwargs):
    super().__init__(("loss",) + LOSS_TERMS, **kwargs)
    self.generator, self.discriminator = generator, discriminator
    self.l1_factor = float(l1_factor)
    self.jitter_scale = float(jitter_scale)  # 0: none; else :func:`jitter`'s scale
    self.d_optimizer = None
    self.built = True

  def compile(self, optimizer, d_optimizer, **kwargs):  # pylint: disable=arguments-differ
    super().compile(optimizer=optimizer, **kwargs)
    self.d_optimizer = d_optimizer

  def build_optimizers(self):
    """Both optimizers' slots, before a checkpoint is restored into them."""
    if not self.optimizer.built:
      self.optimizer.build(self.generator.trainable_variables)
    if not self.d_optimizer.built:
      self.d_optimizer.build(self.discriminator.trainable_variables)

  def call(self, batch, training=False):
    return unet.generate(self.generator, batch["lightness"], tf.constant([0, 0]), training)

  def _terms(self, batch, fake, training):
    """D's and G's per-example losses for a generated ``fake``."""
    pair = lambda field: {"lightness": batch["lightness"], "colour_field": field}
    real_logits = self.discriminator(pair(batch["colour_field"]), training=training)
    fake_logits = self.discriminator(pair(fake), training=training)
    return {"d_loss": 0.5 * (bce(real_logits, 1.0) + bce(fake_logits, 0.0)),
            "d_accuracy": patch_accuracy(real_logits, fake_logits),
            "g_adv": bce(fake_logits, 1.0), "l1": l1_loss(batch["colour_field"], fake)}

  def objective(self, batch, training):
    """Both losses without a step (validation): L_G as the loss, the terms as logged."""
    seed = self.noise_seed(batch["colour_field"], training)
    fake = unet.generate(self.generator, batch["lightness"], seed, training=training)
    terms = self._terms(batch, fake, training)
    return terms["g_adv"] + self.l1_factor * terms["l1"], terms

  def train_step(self, batch):
    seed = self.noise_seed(batch["colour_field"], True)
    if self.jitter_scale:
      batch = jitter(batch, tf.reverse(seed, [0]), self.jitter_scale)  # not the dropout's seed
    g_vars = self.generator.trainable_variables
    d_vars = self.discriminator.trainable_variables
    with tf.GradientTape() as g_tape:
      fake = unet.generate(self.generator, batch["lightness"], seed, training=True)
      with g_tape.stop_recording(), tf.GradientTape() as d_tape:  # D's step, on the detached fake
        d_terms = self._terms(batch, tf.stop_gradient(fake), True)
        d_loss = self.d_optimizer.scale_loss(tf.nn.compute_average_loss(d_terms["d_loss"]))
      self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))
      logits = self.discriminator({"lightness": batch["lightness"], "colour_field": fake},
                                  training=True)  # G's step, through the updated D
      g_adv = bce(logits, 1.0)
      l1 = l1_loss(batch["colour_field"], fake)
      per_example = g_adv + self.l1_factor * l1
      g_loss = self.optimizer.scale_loss(tf.nn.compute_average_loss(per_example))
    self.optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
    terms = {"g_adv": g_adv, "l1": l1, "d_loss": d_terms["d_loss"],
             "d_accuracy": d_terms["d_accuracy"]}
    return self._update_metrics(per_example, terms)


def _test_time_draws(model, batch):
  """Two dropout draws of G per photo (the test-time noise), beside the truth."""
  return [unet.generate(model.generator, batch["lightness"], tf.constant([0, i])) for i in (1, 2)]


def build_trainer(config):
  """G, D and the trainer around them, compiled with both optimizers (call in a strategy scope)."""
  c = config.cgan
  generator = unet.build_generator(c, field_size=config.data.field_size)
  discriminator = patchgan.build_discriminator(c, field_size=config.data.field_size)
  trainer = CGANTrainer(generator, discriminator, l1_factor=c.l1_factor,
                        jitter_scale=c.get("jitter_scale", 0.0), seed=config.train.seed)
  # One optimizer each, of the cgan section (pix2pix's Adam). Under mixed_float16 compile wraps
  # G's in dynamic loss scaling; D's is wrapped here.
  trainer.compile(optimizer=training.make_optimizer(c),
                  d_optimizer=training.loss_scaled(training.make_optimizer(c)),
                  jit_compile=config.train.jit_compile)
  trainer.build_optimizers()
  return trainer


class CGANStage(training.PhotoStage):
  """divcolor-train-cgan: the cGAN in a workdir of its own (``run_stage`` runs it); its colour
  statistics serve the photo-blind rows."""

  keys = ("colour_field", "lightness")

  def __init__(self, config, workdir):
    super().__init__(config, workdir, name="cGAN", method=cgan_method.METHOD, section="cgan")

  def build(self, stage):
    return build_trainer(self.config)

  def callbacks(self, stage, trainer, val_ds):
    callbacks = [training.EpochSeconds()]
    if val_ds is not None and self.config.train.image_summaries:
      sample = next(iter(val_ds.unbatch().batch(self.config.train.image_summaries)))
      callbacks.append(training.FieldImages(sample, f"{self.workdir}/tensorboard",
                                            _test_time_draws, "photo | two dropout draws of G"))
    return callbacks

  def initialize(self, trainer):
    return training.init_from(self.config, [trainer.generator, trainer.discriminator], self.name)

  def outputs(self, trainer):
    return [(trainer.generator, workdir_lib.path(self.workdir, workdir_lib.GENERATOR)),
            (trainer.discriminator, workdir_lib.path(self.workdir, workdir_lib.DISCRIMINATOR))]


def train(config, workdir, verbose=1):
  """Trains (or resumes) the cGAN of ``config`` in ``workdir``; returns the Keras History.

  Writes into workdir: config.json, stats.npz (for the photo-blind rows), checkpoints/,
  tensorboard/, history.csv(.png), and at the end generator.keras and discriminator.keras.
  """
  return training.run_stage(CGANStage(config, workdir), verbose)
