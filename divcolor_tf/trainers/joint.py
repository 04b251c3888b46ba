"""The joint stage: the MDN and the decoder fine-tuned together on colour error (this project's
addition; NOT in the paper).

The paper trains its two halves apart: the VAE on colour fields (Eq. 1-4), then the MDN on the
VAE's codes (Eq. 6), where a code's error is measured in z. Nothing then asks that the decoded
means be good colorizations: on LFW the best of the MDN's decoded means was no better than five
photo-blind colour fields (docs/quality.md, sections 5-7). This stage, run after the three
others, trains both on what Table 3 measures, in the style of multiple-choice learning: of the M
decoded means only the one nearest the truth is penalised, so the components can specialise:

    G = trunk(grey)                                       frozen (features/trunk.keras)
    mu_1..M, pi_1..M = MDN(G)
    C_m = f(mu_m, L)                                      the decoder ("+skip": with L)
    e_m = sum_p w_p |C_m,p - C_p| / sum_p w_p             w_p the colourfulness weight of the true
                                                          pixel (L_hist's) to the power
                                                          ``weight_power`` (1 when unweighted),
                                                          |.| the mean over a and b
    m* = argmin_m e_m
    L = e_m* + ce_factor (-log pi_m*) + recon_factor e(f(mean_Q(C), L), C)
          + chroma_factor |chroma(C_m*) - chroma(C)| + spatial_factor |spread(C_m*) - spread(C)|

The second term teaches the weights pi which component will be best (test time ranks the means by
pi). The third keeps the decoder a decoder of the VAE's codes: the encoder (frozen) embeds the
true field, and the decoder is held to reconstruct it, so Table 1 still measures this decoder.
The decoder's batch norm stays in inference mode (its statistics are the VAE's); the MDN keeps
its dropout. With ``joint.train_trunk`` the trunk is fine-tuned too (its batch norm also in
inference mode), so the features the MDN reads can learn what the colour error asks of them.

The last two terms (off by default) hold the best mean as colourful as the truth: chroma is the
mean over pixels of sqrt(a^2 + b^2), spread sqrt(var_p(a) + var_p(b)) (Table 3's chroma and
spatial-variation columns, metrics.mean_chroma and metrics.spatial_variation, per photo). Every
error term alone lowers the error by greying the best output (docs/quality.md, sections 8-9): the
error-optimal answer for a photo the model is unsure of is a desaturated one.

``train(config, workdir)`` is what ``divcolor-train-joint`` calls. It starts from the workdir's
decoder.keras, mdn/mdn.keras and features/trunk.keras (which it never rewrites) and writes
WORKDIR/joint/: decoder.keras, mdn.keras, trunk.keras (``train_trunk`` only), config.json,
checkpoints/, history.csv (+ history.png) and tensorboard/. Once joint/ holds the decoder and the
MDN, they (and its trunk, if any) are what the workdir colorizes, evaluates and exports with
(``workdir.served``).
"""

import os

from absl import logging
import numpy as np
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf import losses
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.methods import ours as ours_method
from divcolor_tf.models import vae


TERMS = ("loss", "colour", "neg_log_pi", "recon", "chroma_gap", "spatial_gap", "best_abs",
         "top_k_abs")
_EPS = 1e-8  # inside the square roots of chroma and spread: a finite gradient at grey
SUBDIR = workdir_lib.JOINT_DIR
MissingStageError = workdir_lib.MissingStageError


def pixel_errors(target, fields):
  """|C_p - C'_p| of the module docstring, the mean over a and b: [B, F, F, 2] true colour fields
  and [B, K, F, F, 2] K fields per image -> [B, K, F, F]."""
  return tf.reduce_mean(tf.abs(fields - target[:, None]), axis=-1)


def weighted_mean(errors, weights):
  """e of the module docstring: sum_p w_p errors_p / sum_p w_p, per image and field.
  errors [B, K, F, F] (:func:`pixel_errors`), weights [B, F, F] -> [B, K]."""
  weights = weights[:, None]
  return (tf.reduce_sum(errors * weights, axis=[2, 3])
          / tf.maximum(tf.reduce_sum(weights, axis=[2, 3]), 1e-8))


def chroma(fields):
  """Mean chroma over pixels (metrics.mean_chroma in TF): [..., F, F, 2] -> [...]."""
  return tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(fields), -1) + _EPS), axis=[-2, -1])


def spread(fields):
  """Spatial variation of colour (metrics.spatial_variation in TF): [..., F, F, 2] -> [...]."""
  _, variance = tf.nn.moments(fields, axes=[-3, -2])
  return tf.sqrt(tf.reduce_sum(variance, -1) + _EPS)


class JointTrainer(training.ObjectiveTrainer):
  """The MDN and the decoder trained on the error of the best decoded mean (module docstring).

  A batch is photos {"grey", "colour_field", "lightness"}. Logged besides the loss and its terms:
  "best_abs", the plain mean absolute error of the best of all M decoded means, and "top_k_abs",
  that of the best of the top-k by weight: Table 3's error-of-best on the batch.
  """

  def __init__(self, trunk, mdn, decoder, encoder, *, bin_weights, weighted=True,
               weight_power=1.0, train_trunk=False, ce_factor=0.1, recon_factor=1.0,
               chroma_factor=0.0, spatial_factor=0.0, k=config_lib.DEFAULT_K, **kwargs):
    super().__init__(TERMS, **kwargs)
    self.mdn, self.decoder = mdn, decoder
    self.train_trunk = bool(train_trunk)
    if self.train_trunk:
      trunk.trainable = True
      self.trunk = trunk  # tracked: optimised and checkpointed with the MDN and decoder
    self.frozen = training.Frozen(trunk, encoder)
    self.bin_weights = tf.constant(bin_weights, tf.float32)
    self.weighted = bool(weighted)
    self.weight_power = float(weight_power)
    self.ce_factor, self.recon_factor = float(ce_factor), float(recon_factor)
    self.chroma_factor, self.spatial_factor = float(chroma_factor), float(spatial_factor)
    self.num_components = int(mdn.output["logits"].shape[-1])
    self.k = min(int(k), self.num_components)
    self.skip = vae.is_skip(decoder)
    self.built = True

  @property
  def optimized_variables(self):
    trunk = self.frozen.trunk.trainable_variables if self.train_trunk else []
    return self.mdn.trainable_variables + self.decoder.trainable_variables + trunk

  def decode_all(self, means, lightness, maps=None):
    """[B, M, d] means -> [B, M, F, F, 2] decoded fields (batch norm in inference mode; a "+skip"
    decoder's grey path once per photo, or its ``maps`` given: ``vae.grey_maps``)."""
    return vae.decode_each(self.decoder, means, lightness, training=False, maps=maps)

  def mixture(self, batch, training=False):
    """(means [B, M, d], logits [B, M]) of the MDN on a batch of photos, as float32."""
    out = self.mdn(self.frozen.trunk(batch["grey"], training=False), training=training)
    return tf.cast(out["means"], tf.float32), tf.cast(out["logits"], tf.float32)

  def call(self, batch, training=False):
    """{'means', 'logits', 'fields' [B, M, F, F, 2]} for a batch of photos."""
    means, logits = self.mixture(batch, training=training)
    return {"means": means, "logits": logits,
            "fields": self.decode_all(means, batch.get("lightness"))}

  def objective(self, batch, training):
    """Per-example loss and terms (module docstring).

    Only the best mean's decode carries a gradient (m* is an argmin; the decoder's batch norm is
    in inference mode, so the other M - 1 decodes do not touch the loss). So all M means are
    decoded as values, with the gradient stopped (no backward pass through M decodes), m* is
    chosen on them, and m*'s mean alone is decoded again with its gradient: the same loss and
    gradient as differentiating through all M decodes, for about half the step's work
    (tests/trainers/test_train_joint.py compares the two gradients)."""
    target = tf.cast(batch["colour_field"], tf.float32)
    lightness = batch.get("lightness")
    means, logits = self.mixture(batch, training=training)
    maps = vae.grey_maps(self.decoder, lightness)  # once for both decodes (None: no skip)
    fields = tf.stop_gradient(self.decode_all(
        tf.stop_gradient(means), lightness,
        maps=None if maps is None else [tf.stop_gradient(m) for m in maps]))
    if self.weighted:
      weights = losses.pixel_weights(target, self.bin_weights) ** self.weight_power
    else:
      weights = tf.ones(tf.shape(target)[:-1], tf.float32)
    per_pixel = pixel_errors(target, fields)  # [B, M, F, F]
    best = tf.argmin(weighted_mean(per_pixel, weights), axis=1, output_type=tf.int32)
    codes = [tf.gather(means, best, batch_dims=1)]  # the best mean, decoded with its gradient
    if self.recon_factor:  # and the encoder's code of the truth, in the same decoder call
      codes.append(tf.cast(self.frozen.encoder(target, training=False)[0], tf.float32))
    decoded = vae.decode_each(self.decoder, tf.stack(codes, axis=1), training=False, maps=maps)
    chosen = decoded[:, 0]  # [B, F, F, 2]
    colour = weighted_mean(pixel_errors(target, chosen[:, None]), weights)[:, 0]
    neg_log_pi = tf.nn.sparse_softmax_cross_entropy_with_logits(best, logits)
    per_example = colour + self.ce_factor * neg_log_pi
    terms = {"colour": colour, "neg_log_pi": neg_log_pi,
             "chroma_gap": tf.abs(chroma(chosen) - chroma(target)),
             "spatial_gap": tf.abs(spread(chosen) - spread(target))}
    per_example += (self.chroma_factor * terms["chroma_gap"]
                    + self.spatial_factor * terms["spatial_gap"])
    if self.recon_factor:
      terms["recon"] = weighted_mean(pixel_errors(target, decoded[:, 1:2]), weights)[:, 0]
      per_example += self.recon_factor * terms["recon"]
    plain = tf.reduce_mean(per_pixel, axis=[2, 3])  # [B, M], Table 3's error of each mean
    top = tf.math.top_k(logits, self.k).indices
    terms["best_abs"] = tf.reduce_min(plain, axis=1)
    terms["top_k_abs"] = tf.reduce_min(tf.gather(plain, top, batch_dims=1), axis=1)
    return per_example, terms


class JointStage(training.StageDefinition):
  """divcolor-train-joint: the decoder and MDN fine-tuned together in WORKDIR/joint
  (``run_stage`` runs it)."""

  def __init__(self, config, workdir, hint):
    self.config, self.workdir, self.hint = config, workdir, hint
    self.name, self.out_dir, self.method = ("joint", workdir_lib.path(workdir, SUBDIR),
                                            ours_method.METHOD)
    self.epochs, self.steps_per_epoch = config.joint.epochs, config.joint.steps_per_epoch
    self.trunk = self.encoder = self.stats = None

  def prepare(self, stage):
    self.trunk, self.encoder = training.load_frozen(self.workdir, self.hint)
    self.stats = workdir_lib.load_stats(self.workdir)

  def datasets(self, stage):
    config, joint = self.config, self.config.joint
    steps = self.steps_per_epoch or None

    def epochs(paths, training_split):
      return data.epoch_datasets(
          paths, field_size=int(self.encoder.input.shape[1]),
          grey_size=int(self.trunk.input.shape[1]), batch_size=joint.batch_size,
          shuffle=training_split, seed=config.train.seed if training_split else 0,
          repeat=bool(steps) and training_split, drop_remainder=training_split,
          cache=config.data.cache if training_split else True,
          shuffle_buffer=config.data.shuffle_buffer, drop_near_grey=config.data.drop_near_grey,
          near_grey_threshold=config.data.near_grey_threshold, skip_log=stage.skip_log)
    return (epochs(stage.train_paths, True),
            epochs(stage.val_paths, False)(0) if stage.val_paths else None)

  def build(self, stage):
    config, joint = self.config, self.config.joint
    decoder = workdir_lib.load_keras(self.workdir, workdir_lib.DECODER)
    mdn = workdir_lib.load_keras(self.workdir, workdir_lib.MDN)
    if joint.train_trunk:  # trainable: its variables belong in the strategy's scope
      self.trunk = workdir_lib.load_keras(self.workdir, workdir_lib.TRUNK)
    trainer = JointTrainer(self.trunk, mdn, decoder, self.encoder,
                           bin_weights=stats_lib.bin_weights_for(self.stats, config.loss),
                           weighted=joint.weighted, weight_power=joint.weight_power,
                           train_trunk=joint.train_trunk, ce_factor=joint.ce_factor,
                           recon_factor=joint.recon_factor,
                           chroma_factor=joint.chroma_factor,
                           spatial_factor=joint.spatial_factor,
                           k=int(config.colorize.k), seed=config.train.seed)
    trainer.compile(optimizer=training.make_optimizer(joint),
                    jit_compile=config.train.jit_compile)
    logging.info("joint stage: MDN (%d components) and %sdecoder on the error of the best of the "
                 "decoded means; %d trainable parameters", trainer.num_components,
                 '"+skip" ' if trainer.skip else "",
                 int(sum(np.prod(v.shape) for v in trainer.optimized_variables)))
    return trainer

  def callbacks(self, stage, trainer, val_ds):
    return [training.EpochSeconds(), training.step_decay(self.config.joint.learning_rate)]

  def outputs(self, trainer):
    outputs = [(trainer.mdn, workdir_lib.path(self.workdir, workdir_lib.JOINT_MDN)),
               (trainer.decoder, workdir_lib.path(self.workdir, workdir_lib.JOINT_DECODER))]
    stale_trunk = workdir_lib.path(self.workdir, workdir_lib.JOINT_TRUNK)
    if self.config.joint.train_trunk:
      outputs.append((trainer.trunk, stale_trunk))
    elif os.path.exists(stale_trunk):  # an earlier run's: this decoder and MDN read the stage's
      logging.warning("%s: removed (an earlier joint run's; joint.train_trunk is off)",
                      stale_trunk)
      os.remove(stale_trunk)
    return outputs


def train(config, workdir, verbose=1, config_hint=None):
  """Trains (or resumes) the joint stage of ``config`` over the three stages of ``workdir``.

  Reads WORKDIR/encoder.keras, decoder.keras, stats.npz (divcolor-train-vae),
  features/trunk.keras (divcolor-train-features) and mdn/mdn.keras (divcolor-train-mdn), and
  writes WORKDIR/joint/ (module docstring). ``joint.epochs`` 0 trains nothing.

  Returns:
    The Keras History, or None when there was nothing to train.

  Raises:
    MissingStageError: an earlier stage's file is missing (one line: the file and its command).
  """
  hint = config_hint or "CONFIG"
  if not config.joint.epochs:
    logging.info("joint.epochs is 0: no joint stage")
    return None
  workdir_lib.require(workdir, workdir_lib.ENCODER, workdir_lib.DECODER, workdir_lib.STATS,
                      workdir_lib.TRUNK, workdir_lib.MDN, config_hint=hint)  # before writing
  return training.run_stage(JointStage(config, workdir, hint), verbose)
