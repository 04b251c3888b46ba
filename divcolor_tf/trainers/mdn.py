"""Training the mixture density network (paper Section 4, Eq. 5-6).

The MDN learns P(z | G): a Gaussian mixture over the VAE's latent code z of a photo's colour
field, given the grey-level features G of its lightness. Both ends are frozen networks of earlier
stages, run in inference mode:

    G = trunk(grey)                               conv7 of Zhang et al. (WORKDIR/features/trunk.keras)
    mean, log_var = Q(z | C)                      the VAE encoder (WORKDIR/encoder.keras)
    z = mean + exp(log_var / 2) * eps             a fresh sample of the posterior at every step
    mu_1..M, pi_1..M = MDN(G)
    m = argmin_i ||z - mu_i||
    L = -log pi_m + ||z - mu_m||^2 / (2 sigma^2),  sigma^2 = 0.1          (Eq. 6)

Only the MDN's weights are trained. Per-example losses are averaged over the global batch
(``tf.nn.compute_average_loss``), so the step is the same on one device or several.

Besides the loss, the trainer logs its two terms ("neg_log_pi" and "distance") and two figures
that show a collapsing mixture: "pi_entropy", the mean entropy of the mixture weights in nats
(log M when uniform, 0 when one component takes all the weight), and "components_used", how many
different components were the nearest one within a (per-device) batch.

Feature cache (``mdn.cache_features``). The frozen trunk and encoder cost as much as the MDN's
own step; they see the same photo identically in every epoch, so with the cache on, G and
(mean, log_var) are computed once per photo during the first epoch and kept in memory (a
``tf.data`` cache, G in the MDN's compute dtype); z is still sampled afresh at every step. The
cache holds H*W*c values of G per photo (24x24x128 floats: 295 kB, 2.6 GB for 9,000 photos).

``train(config, workdir)`` is what ``divcolor-train-mdn`` calls; it writes WORKDIR/mdn/.
"""

import os

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from divcolor_tf import data
from divcolor_tf import losses
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.inference import colorizer as colorizer_lib
from divcolor_tf.methods import ours as ours_method
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf.models import vae


TERMS = ("loss", "neg_log_pi", "distance", "pi_entropy", "components_used")
SUBDIR = workdir_lib.MDN_DIR
MissingStageError = workdir_lib.MissingStageError  # one line naming the file and its command


def frozen_features(batch, trunk, encoder):
  """G and the posterior (mean, log_var) of a batch of photos, float32, inference mode."""
  grey_features = trunk(batch["grey"], training=False)
  mean, log_var = encoder(batch["colour_field"], training=False)
  return {"grey_features": grey_features, "mean": tf.cast(mean, tf.float32),
          "log_var": tf.cast(log_var, tf.float32)}


class MDNTrainer(training.ObjectiveTrainer):
  """The MDN trained with Eq. 6 on z sampled from the frozen VAE encoder's posterior.

  A batch is either photos {"grey", "colour_field"} (G and the posterior are computed by the
  frozen ``trunk`` and ``encoder`` in the step) or cached features {"grey_features", "mean",
  "log_var"} (see :func:`frozen_features`).
  """

  def __init__(self, mdn, *, variance, trunk=None, encoder=None, truncated_noise=False,
               **kwargs):
    super().__init__(TERMS, **kwargs)
    self.mdn = mdn
    self.variance = float(variance)
    self.truncated_noise = bool(truncated_noise)
    self.frozen = training.Frozen(trunk, encoder)
    self.num_components = int(mdn.output["logits"].shape[-1])
    self.built = True  # its variables are the (functional, already built) MDN's

  @property
  def optimized_variables(self):
    return self.mdn.trainable_variables

  def features(self, batch):
    if "grey_features" in batch:
      return batch
    if self.frozen.trunk is None or self.frozen.encoder is None:
      raise ValueError("MDNTrainer: a batch of photos needs the trunk and the encoder; got "
                       f"features {sorted(batch)}")
    return frozen_features(batch, self.frozen.trunk, self.frozen.encoder)

  def call(self, batch, training=False):
    """The mixture for a batch: {'means' [B, M, d], 'logits' [B, M]}, float32."""
    outputs = self.mdn(self.features(batch)["grey_features"], training=training)
    return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}

  def objective(self, batch, training):
    features = self.features(batch)
    z = vae.sample_z(features["mean"], features["log_var"],
                     seed=self.noise_seed(features["mean"], training),
                     truncated=self.truncated_noise)
    outputs = self.mdn(features["grey_features"], training=training)
    means = tf.cast(outputs["means"], tf.float32)
    logits = tf.cast(outputs["logits"], tf.float32)
    per_example, component = losses.mdn_loss(z, means, logits, variance=self.variance,
                                              return_component=True)
    log_pi = tf.nn.log_softmax(logits, axis=-1)
    neg_log_pi = -tf.gather(log_pi, component, axis=1, batch_dims=1)
    chosen = tf.reduce_max(tf.one_hot(component, self.num_components), axis=0)
    terms = {
        "neg_log_pi": neg_log_pi,
        "distance": per_example - neg_log_pi,  # ||z - mu_m||^2 / (2 sigma^2)
        "pi_entropy": -tf.reduce_sum(tf.exp(log_pi) * log_pi, axis=-1),
        "components_used": tf.reduce_sum(chosen),
    }
    return per_example, terms



class TopKImages(keras.callbacks.Callback):
  """TensorBoard, each epoch: a few validation photos' top-k colorizations by mixture weight
  (grey input | #1 .. #k), made by the pipeline users run (a ``colorizer_lib.Colorizer`` over the MDN
  being trained, the frozen trunk and the VAE decoder)."""

  TAG = "grey | top-k colorizations by weight"

  def __init__(self, colorizer, photos, log_dir, k):
    super().__init__()
    self.colorizer, self.photos, self.k = colorizer, photos, int(k)
    self.writer = tf.summary.create_file_writer(  # another worker's go to its own folder
        training.writable(os.path.join(log_dir, "images")))

  def on_epoch_end(self, epoch, logs=None):
    rows = []
    for photo in self.photos:
      result = self.colorizer.colorize(photo, k=self.k)
      grey = np.round(self.colorizer.lightness(photo[None]).numpy()[0] * 2.55)
      grey = np.repeat(np.clip(grey, 0, 255).astype(np.uint8), 3, axis=-1)
      rows.append(np.concatenate([grey] + list(result.colorizations), axis=1))
    with self.writer.as_default():
      tf.summary.image(self.TAG, np.stack(rows), step=epoch + 1, max_outputs=len(rows))
    self.writer.flush()


def summary_photos(paths, count, size=128):
  """Up to ``count`` readable photos of ``paths``, each resized to ``size`` x ``size``."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  photos = []
  for path in paths:
    if len(photos) == count:
      break
    try:
      image = Image.fromarray(data.load_rgb(path)).resize((size, size), Image.Resampling.LANCZOS)
    except (data.ImageError, OSError, ValueError):
      continue
    photos.append(np.asarray(image))
  return photos


def stage_paths(workdir):
  """{name: path} of the files the MDN stage reads and writes."""
  return {
      "encoder": workdir_lib.path(workdir, workdir_lib.ENCODER),
      "trunk": workdir_lib.path(workdir, workdir_lib.TRUNK),
      "dir": workdir_lib.path(workdir, SUBDIR),
      "mdn": workdir_lib.path(workdir, workdir_lib.MDN),
  }


def cached_feature_dataset(paths, trunk, encoder, *, field_size, grey_size, batch_size, shuffle,
                           seed, repeat, drop_remainder, shuffle_buffer, drop_near_grey,
                           near_grey_threshold, skip_log, dtype="float32"):
  """A function epoch -> batches of {"grey_features", "mean", "log_var"}, computed once per
  photo, then read from memory.

  The photos are put in one seeded random order, run through the frozen networks in the first
  pass and cached unbatched (one cache, shared by every epoch's dataset); each epoch shuffles a
  buffer of the cached examples with a seed of (seed, epoch) (``data.epoch_seed``).
  """
  paths = list(paths)
  if shuffle:
    paths = [paths[i] for i in np.random.default_rng(seed).permutation(len(paths))]
  photos = data.make_dataset(
      paths, field_size=field_size, grey_size=grey_size, batch_size=max(batch_size, 32),
      drop_near_grey=drop_near_grey, near_grey_threshold=near_grey_threshold, skip_log=skip_log)

  def compute(batch):
    features = frozen_features(batch, trunk, encoder)
    features["grey_features"] = tf.cast(features["grey_features"], dtype)
    return features

  cached = photos.map(compute).unbatch().cache()

  return lambda epoch=0: data.epoch_batches(
      cached, epoch, shuffle=shuffle, seed=seed, shuffle_buffer=shuffle_buffer, repeat=repeat,
      batch_size=batch_size, drop_remainder=drop_remainder)


def photo_dataset(paths, *, field_size, grey_size, batch_size, shuffle, seed, repeat,
                  drop_remainder, cache, shuffle_buffer, drop_near_grey, near_grey_threshold,
                  skip_log):
  """A function epoch -> batches of {"grey", "colour_field"}: what the trainer needs without the
  feature cache (``data.epoch_datasets``)."""
  epochs = data.epoch_datasets(
      paths, field_size=field_size, grey_size=grey_size, batch_size=batch_size, shuffle=shuffle,
      seed=seed, repeat=repeat, cache=cache, drop_near_grey=drop_near_grey,
      near_grey_threshold=near_grey_threshold, drop_remainder=drop_remainder,
      shuffle_buffer=shuffle_buffer, skip_log=skip_log)
  return lambda epoch=0: epochs(epoch).map(
      lambda b: {"grey": b["grey"], "colour_field": b["colour_field"]})


def build_trainer(config, trunk, encoder):
  """The MDN (sized from the frozen networks' outputs) and its trainer; call in a strategy scope."""
  latent_dim = vae.latent_size(encoder)
  grey_features_shape = tuple(int(v) for v in trunk.output.shape[1:])
  mdn = mdn_lib.build_mdn(config.mdn, latent_dim=latent_dim,
                          grey_features_shape=grey_features_shape)
  cache = bool(config.mdn.cache_features)
  return MDNTrainer(mdn, variance=config.mdn.variance, trunk=None if cache else trunk,
                    encoder=None if cache else encoder,
                    truncated_noise=bool(config.vae.truncated_noise), seed=config.train.seed)


class MDNStage(training.StageDefinition):
  """divcolor-train-mdn: the MDN in WORKDIR/mdn on the frozen trunk and encoder (``run_stage``)."""

  def __init__(self, config, workdir, hint):
    self.config, self.workdir, self.hint = config, workdir, hint
    self.paths = stage_paths(workdir)
    self.name, self.out_dir, self.method = "MDN", self.paths["dir"], ours_method.METHOD
    self.epochs, self.steps_per_epoch = config.mdn.epochs, config.mdn.steps_per_epoch
    self.precision = training.precision_of(config.mdn, training.precision_of(config.train))
    self.trunk = self.encoder = None

  def prepare(self, stage):
    self.trunk, self.encoder = training.load_frozen(self.workdir, self.hint)
    grey_size = int(self.trunk.input.shape[1])
    if grey_size != self.config.data.grey_size:
      logging.warning("the trunk in %s reads %dx%d grey images (config.data.grey_size is %d): "
                      "using the trunk's size", self.paths["trunk"], grey_size, grey_size,
                      self.config.data.grey_size)

  def _epochs(self, stage, paths, training_split):
    """A function epoch -> batches of ``paths``: cached features or photos (module docstring)."""
    config, c = self.config, self.config.mdn
    shuffle, steps = training_split, self.steps_per_epoch if training_split else 0
    sizes = dict(field_size=int(self.encoder.input.shape[1]),
                 grey_size=int(self.trunk.input.shape[1]), batch_size=c.batch_size)
    if c.cache_features:
      return cached_feature_dataset(
          paths, self.trunk, self.encoder, **sizes, shuffle=shuffle,
          seed=config.train.seed if shuffle else 0, repeat=bool(steps),
          drop_remainder=training_split, shuffle_buffer=config.data.shuffle_buffer,
          drop_near_grey=config.data.drop_near_grey,
          near_grey_threshold=config.data.near_grey_threshold, skip_log=stage.skip_log,
          dtype=keras.config.dtype_policy().compute_dtype)
    return photo_dataset(
        paths, **sizes, shuffle=shuffle, seed=config.train.seed if shuffle else 0,
        repeat=bool(steps), drop_remainder=training_split,
        cache=config.data.cache if training_split else True,
        shuffle_buffer=config.data.shuffle_buffer, drop_near_grey=config.data.drop_near_grey,
        near_grey_threshold=config.data.near_grey_threshold, skip_log=stage.skip_log)

  def datasets(self, stage):
    if self.config.mdn.cache_features:
      logging.info("feature cache on: G %s (%s) and the posterior of each photo are computed in "
                   "the first epoch, then read from memory", self.trunk.output.shape[1:],
                   keras.config.dtype_policy().compute_dtype)
    val_ds = self._epochs(stage, stage.val_paths, False)(0) if stage.val_paths else None
    return self._epochs(stage, stage.train_paths, True), val_ds

  def build(self, stage):
    trainer = build_trainer(self.config, self.trunk, self.encoder)
    trainer.compile(optimizer=training.make_optimizer(self.config.mdn),
                    jit_compile=self.config.train.jit_compile)
    logging.info("MDN: %d components over z of d=%d, G %s, %d trainable parameters",
                 trainer.num_components, vae.latent_size(self.encoder),
                 tuple(self.trunk.output.shape[1:]), trainer.mdn.count_params())
    return trainer

  def callbacks(self, stage, trainer, val_ds):
    callbacks = [training.EpochSeconds(),
                 training.step_decay(self.config.mdn.learning_rate)]  # kept on resume
    photos = summary_photos(stage.val_paths, int(self.config.train.image_summaries))
    if photos and os.path.isfile(workdir_lib.path(self.workdir, workdir_lib.DECODER)):
      decoder = workdir_lib.load_keras(self.workdir, workdir_lib.DECODER, trainable=False)
      live = colorizer_lib.Colorizer(self.trunk, trainer.mdn, decoder, self.config)
      callbacks.append(TopKImages(live, photos, os.path.join(self.out_dir, "tensorboard"),
                                  k=min(live.k, trainer.num_components)))
    return callbacks

  def initialize(self, trainer):
    return training.init_from(self.config, [trainer.mdn], self.name)

  def outputs(self, trainer):
    return [(trainer.mdn, self.paths["mdn"])]


def train(config, workdir, verbose=1, config_hint=None):
  """Trains (or resumes) the MDN of ``config`` on the frozen networks of ``workdir``.

  Reads WORKDIR/encoder.keras (divcolor-train-vae) and WORKDIR/features/trunk.keras
  (divcolor-train-features); the sizes of z and G come from those files. Writes WORKDIR/mdn/:
  config.json (resolved), checkpoints/, history.csv (and its curves, history.png), tensorboard/
  (with, when WORKDIR/decoder.keras is there, a few validation photos' top-k colorizations each
  epoch: :class:`TopKImages`) and, at the end, mdn.keras.

  Args:
    config: the run's ConfigDict (reads data, train.seed/num_devices, vae.truncated_noise, mdn).
    workdir: the model directory of every stage.
    verbose: Keras progress (0, 1 or 2).
    config_hint: how the config is named in the missing-stage message (default "CONFIG").

  Returns:
    The Keras History, or None when WORKDIR/mdn already holds ``mdn.epochs`` epochs.

  Raises:
    MissingStageError: the encoder or the trunk is missing.
  """
  hint = config_hint or "CONFIG"
  training.check_stages(workdir, hint)  # before anything is written
  return training.run_stage(MDNStage(config, workdir, hint), verbose)


def load_mdn(workdir):
  """The trained MDN of a workdir (WORKDIR/mdn/mdn.keras)."""
  return workdir_lib.load_keras(workdir, workdir_lib.MDN)
