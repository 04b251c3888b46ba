r"""What a direct grey -> k colour fields network reaches at this machine's budget (quality.md).

  python research/mcl_ceiling.py --config configs/lfw.py:cpu_joint_gap --minutes 30
  python research/mcl_ceiling.py --config configs/lfw.py:cpu_joint_gap --minutes 30 --width 24 --k 5
  python research/mcl_ceiling.py --epochs 10 --width 32 --save unet.keras   # then, on lfw/ci:
  python research/mcl_ceiling.py --load unet.keras --images ../shared/data/lfw/ci

A diagnostic for issue 14, not the paper and not part of the pipeline. The paper's networks put
the layout of a colorization (where the face, hair, clothes and background colours go) in the
code z, which the MDN has to predict from the grey photo's features. This script asks how far
below the bundled model's error-of-best a network gets when the grey photo's 64x64 lightness
drives the layout directly: a small U-Net (3x3 convolutions, 64 -> 4 pixels and back, skip
connections, a global-average branch at 4x4) with k output fields, trained in the style of
multiple-choice learning (per photo only the nearest of the k fields is penalised, by its mean
absolute error in ab/128, optionally with the joint stage's chroma and spread gaps), on the
config's training split, for a wall-clock budget. It prints Table 3 on the validation split, or
on ``--images`` (error-of-best, variance, chroma and spatial ratios of the best field), beside the
same figures for the photo-blind palette baseline, so the two read in one table. ``--load``
scores a network saved by ``--save`` without training it.

Training examples (64x64 lightness and colour field only) are decoded once and held in memory.
Each batch is flipped left-right at random.

Printed here (2 cores, alone, 2026-11-27; configs/lfw.py:cpu_joint_gap's data, validation split,
~45 images/s; docs/quality.md, section 12):

  --minutes 30                                          0.0448  chroma 0.74  spatial 0.65
  --minutes 30 --chroma_factor 0.5 --spatial_factor 0.3  0.0502  chroma 0.94  spatial 0.86
  palette-5                                             0.0546  chroma 0.67  spatial 0.50

Session 13 (alone, 74 min, ~41 images/s):

  --epochs 20 --chroma_factor 0.2 --spatial_factor 0.1   0.0468  chroma 0.88  spatial 0.78

Session 14 (alone, 72 min, ~21 images/s; with --load and --images ../shared/data/lfw/ci, the
second figure):

  --epochs 10 --width 32 --chroma_factor 0.2 --spatial_factor 0.1   0.0465 / 0.0460  chroma 0.89
  the session-13 network above, on lfw/ci                              0.0465
  --epochs 8 --width 32 (plain error, 59 min)                       0.0448 / 0.0440  chroma 0.76
  palette-5                                                       0.0546 / 0.0532
"""

import os
import time

from absl import app
from absl import flags
import numpy as np

flags.DEFINE_string("config", "configs/lfw.py:cpu_joint_gap", "Config (its data block is used).")
flags.DEFINE_float("minutes", 30.0, "Wall-clock training budget (unless --epochs is given).")
flags.DEFINE_integer("epochs", None, "A budget in epochs instead of minutes: the same run whatever "
                     "else shares the CPU.")
flags.DEFINE_integer("k", 5, "Output fields per photo (a --load network keeps its own).")
flags.DEFINE_integer("width", 16, "Channels at 64x64 (doubling per level up to 8x).")
flags.DEFINE_integer("batch_size", 32, "Photos per step.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam's rate (cosine-decayed over the budget).")
flags.DEFINE_float("chroma_factor", 0.0, "|chroma(best) - chroma(truth)| factor (joint stage's).")
flags.DEFINE_float("spatial_factor", 0.0, "|spread(best) - spread(truth)| factor.")
flags.DEFINE_integer("threads", 2, "TF intra-op threads.")
flags.DEFINE_list("override", [], "key=value config overrides, e.g. data.max_images=200.")
flags.DEFINE_string("save", None, "Optional .keras path for the trained network.")
flags.DEFINE_string("load", None, "A network saved by --save: score it, without training.")
flags.DEFINE_string("images", None, "Photos to score on (a directory, list file or glob) instead "
                    "of the config's validation split, e.g. ../shared/data/lfw/ci.")
FLAGS = flags.FLAGS


def build(k, width):
  """64x64x1 L in [0, 100] -> [64, 64, k, 2] ab/128 fields in [-1, 1]."""
  import keras  # pylint: disable=g-import-not-at-top
  layers = keras.layers

  def conv(x, n, stride=1):
    x = layers.Conv2D(n, 3, stride, padding="same", use_bias=False)(x)
    return layers.ReLU()(layers.BatchNormalization()(x))

  lightness = keras.Input((64, 64, 1), name="lightness")
  x = layers.Rescaling(1 / 50, offset=-1.0)(lightness)
  skips = []
  for level, n in enumerate([width, 2 * width, 4 * width, 8 * width]):
    x = conv(x, n, stride=1 if level == 0 else 2)
    x = conv(x, n)
    skips.append(x)  # 64, 32, 16, 8
  x = conv(x, 8 * width, stride=2)  # 4x4
  context = layers.Dense(8 * width, activation="relu")(layers.GlobalAveragePooling2D()(x))
  x = layers.Add()([x, layers.Reshape((1, 1, 8 * width))(context)])
  x = conv(x, 8 * width)
  for skip, n in zip(reversed(skips), [8 * width, 4 * width, 2 * width, width]):
    x = layers.UpSampling2D(interpolation="bilinear")(x)
    x = conv(layers.Concatenate()([x, skip]), n)
  x = layers.Conv2D(2 * k, 3, padding="same", activation="tanh")(x)
  return keras.Model(lightness, layers.Reshape((64, 64, k, 2))(x), name="mcl_unet")


def load(paths, field_size):
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  ds = data.make_dataset(paths, field_size=field_size, grey_size=32, batch_size=64,
                         drop_near_grey=True)
  lightness, fields = [], []
  for batch in ds:
    lightness.append(batch["lightness"].numpy())
    fields.append(batch["colour_field"].numpy())
  return np.concatenate(lightness), np.concatenate(fields)


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data
  from divcolor_tf.evaluation import blind as baselines
  from divcolor_tf.evaluation import metrics
  from divcolor_tf.trainers import joint as train_joint
  from divcolor_tf import config as config_lib
  # pylint: enable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  config = config_lib.load(FLAGS.config, FLAGS.override)
  train_paths, val_paths = data.config_paths(config.data)
  start = time.time()
  if FLAGS.images:
    val_paths = data.list_images(FLAGS.images)
  train_l, train_c = load(train_paths, config.data.field_size)
  val_l, val_c = load(val_paths, config.data.field_size)
  split = FLAGS.images or "validation split"
  print(f"decoded {len(train_l)} training and {len(val_l)} test photos ({split}) in "
        f"{time.time() - start:.0f} s", flush=True)

  if FLAGS.load:
    import keras  # pylint: disable=g-import-not-at-top
    model = keras.models.load_model(os.path.expanduser(FLAGS.load))
    k = model.output_shape[3]  # the saved network's, whatever --k says
  else:
    k = FLAGS.k
    model = build(k, FLAGS.width)
  name = (f"U-Net {os.path.basename(FLAGS.load)}" if FLAGS.load else
          f"U-Net, {k} fields, width {FLAGS.width}, "
          + (f"{FLAGS.epochs} epochs" if FLAGS.epochs else f"{FLAGS.minutes:g} min"))
  print(f"network: {model.count_params():,} parameters, k {k}", flush=True)
  steps_per_epoch = len(train_l) // FLAGS.batch_size
  if FLAGS.epochs:  # the schedule's progress: steps done of all, or seconds spent of the budget
    total = FLAGS.epochs * steps_per_epoch
    progress = lambda steps, elapsed: steps / total
  else:
    progress = lambda steps, elapsed: elapsed / (FLAGS.minutes * 60.0)
  optimizer = tf.keras.optimizers.Adam(FLAGS.learning_rate)

  def gaps(best, truth):  # the joint stage's chroma and spread gaps
    return (tf.abs(train_joint.chroma(best) - train_joint.chroma(truth)),
            tf.abs(train_joint.spread(best) - train_joint.spread(truth)))

  @tf.function
  def step(lightness, truth, rate):
    flip = tf.random.uniform([tf.shape(lightness)[0], 1, 1, 1]) < 0.5
    lightness = tf.where(flip, lightness[:, :, ::-1], lightness)
    truth = tf.where(flip, truth[:, :, ::-1], truth)
    optimizer.learning_rate.assign(rate)
    with tf.GradientTape() as tape:
      fields = model(lightness, training=True)  # [B, F, F, K, 2]
      errors = tf.reduce_mean(tf.abs(fields - truth[:, :, :, None]), [1, 2, 4])  # [B, K]
      best = tf.argmin(errors, 1, output_type=tf.int32)
      error = tf.gather(errors, best, batch_dims=1)
      chosen = tf.gather(tf.transpose(fields, [0, 3, 1, 2, 4]), best, batch_dims=1)
      chroma_gap, spread_gap = gaps(chosen, truth)
      loss = tf.reduce_mean(error + FLAGS.chroma_factor * chroma_gap
                            + FLAGS.spatial_factor * spread_gap)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))
    return tf.reduce_mean(error)

  def evaluate():
    table = metrics.Table3()
    for i in range(0, len(val_l), 128):
      fields = model.predict_on_batch(val_l[i:i + 128])
      table.update(val_c[i:i + 128], np.transpose(fields, [0, 3, 1, 2, 4]))
    return table.result()

  rng = np.random.default_rng(0)
  start, steps, epoch = time.time(), 0, 0
  while not FLAGS.load and progress(steps, time.time() - start) < 1:
    order = rng.permutation(len(train_l))
    running = []
    for i in range(0, steps_per_epoch * FLAGS.batch_size, FLAGS.batch_size):
      done = progress(steps, time.time() - start)
      if done >= 1:
        break
      rate = 0.5 * FLAGS.learning_rate * (1 + np.cos(np.pi * done))
      idx = order[i:i + FLAGS.batch_size]
      running.append(float(step(train_l[idx], train_c[idx], tf.constant(rate, tf.float32))))
      steps += 1
    epoch += 1
    result = evaluate()
    print(f"epoch {epoch} ({time.time() - start:.0f} s, {steps} steps, "
          f"{steps * FLAGS.batch_size / (time.time() - start):.1f} img/s): train best "
          f"{np.mean(running):.4f}, {split} error-of-best {result['eob']:.4f}, variance "
          f"{result['variance']:.1e}, chroma {result['chroma_ratio']:.2f}, spatial "
          f"{result['spatial_ratio']:.2f}", flush=True)

  sample = np.random.default_rng(0).permutation(len(train_c))[:baselines.FIELDS]
  palette = baselines.kmeans(train_c[sample].reshape(len(sample), -1), k)[0].reshape(
      (k,) + train_c.shape[1:])
  result = evaluate()
  print(f"\n| {split} | error-of-best | variance | chroma | spatial |")
  print("|---|---|---|---|---|")
  print(f"| {name} | "
        f"{result['eob']:.4f} | {result['variance']:.1e} | {result['chroma_ratio']:.2f} | "
        f"{result['spatial_ratio']:.2f} |")
  table = metrics.Table3()
  table.update(val_c, np.broadcast_to(palette[None], (len(val_c),) + palette.shape))
  p = table.result()
  print(f"| palette-{k} (k-means of {len(sample)} training fields) | {p['eob']:.4f} | "
        f"{p['variance']:.1e} | {p['chroma_ratio']:.2f} | {p['spatial_ratio']:.2f} |")
  if FLAGS.save and not FLAGS.load:
    model.save(os.path.expanduser(FLAGS.save))


if __name__ == "__main__":
  app.run(main)
