r"""Where the joint stage's step goes: the grey trunk, the MDN, and the decodes (quality.md).

  python bench/joint_parts.py --model saved_models/divcolor_lfw
  python bench/joint_parts.py --model workdirs/lfw --batch_size 16 --repeat 7

The joint stage (divcolor_tf/train_joint.py) runs, per batch, the frozen grey trunk, the MDN, all
M means through the decoder without a gradient (to pick the best), and then the best mean and
the encoder's code of the truth through the decoder again, with the gradient. This times each
part alone on a batch of real photos (the first ``--batch_size`` of ``--images``, decoded as
``data.make_dataset`` makes them), each compiled with tf.function and run ``--repeat`` times
after one untimed call, and prints the median of each and its share of their sum. It asks which
part a faster joint stage would have to cut: caching the trunk's features (as the MDN stage
does) only pays if the trunk is a large share. Not a test: figures go in docs/quality.md.
"""

import os

from absl import app
from absl import flags
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

flags.DEFINE_string("model", "saved_models/divcolor_lfw", "A workdir or an export.")
flags.DEFINE_string("images", "../shared/data/lfw/ci", "Photos for the batch.")
flags.DEFINE_integer("batch_size", 16, "Photos per batch (the joint stage's: 16).")
flags.DEFINE_integer("repeat", 5, "Timed calls of each part.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  import time  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data, exported
  from divcolor_tf import workdir as workdir_lib
  from divcolor_tf.models import vae
  # pylint: enable=g-import-not-at-top
  workdir = exported.workdir_for(FLAGS.model)
  load = lambda name: workdir_lib.load_keras(workdir, workdir_lib.served(workdir, name))
  trunk, mdn, decoder = load(workdir_lib.TRUNK), load(workdir_lib.MDN), load(workdir_lib.DECODER)
  encoder = workdir_lib.load_keras(workdir, workdir_lib.ENCODER)
  field_size, grey_size = int(encoder.input.shape[1]), int(trunk.input.shape[1])
  batch = next(iter(data.make_dataset(data.list_images(FLAGS.images), field_size=field_size,
                                      grey_size=grey_size, batch_size=FLAGS.batch_size)))
  grey, lightness, target = batch["grey"], batch["lightness"], batch["colour_field"]
  features = trunk(grey, training=False)
  means = tf.cast(mdn(features, training=False)["means"], tf.float32)  # [B, M, d]
  count, latent_dim = means.shape[1], means.shape[2]
  skip = vae.is_skip(decoder)
  repeated = tf.repeat(lightness, count, axis=0) if skip else None
  twice = tf.tile(lightness, [2, 1, 1, 1]) if skip else None

  @tf.function
  def trunk_forward():
    return trunk(grey, training=False)

  @tf.function
  def mdn_forward():
    return mdn(features, training=False)["means"]

  @tf.function
  def decode_all():
    return vae.decode(decoder, tf.reshape(means, [-1, latent_dim]), repeated, training=False)

  @tf.function
  def decode_two_with_gradient():
    codes = tf.concat([means[:, 0], tf.cast(encoder(target, training=False)[0], tf.float32)], 0)
    with tf.GradientTape() as tape:
      fields = vae.decode(decoder, codes, twice, training=False)
      loss = tf.reduce_mean(tf.abs(fields - tf.tile(target, [2, 1, 1, 1])))
    return tape.gradient(loss, decoder.trainable_variables)

  parts = {"grey trunk, forward": trunk_forward, "MDN, forward": mdn_forward,
           f"decoder, all {count} means, forward": decode_all,
           "decoder, best mean + encoder's code, forward and backward": decode_two_with_gradient}
  medians = {}
  for name, fn in parts.items():
    tf.nest.map_structure(np.asarray, fn())  # traces
    times = []
    for _ in range(FLAGS.repeat):
      start = time.perf_counter()
      tf.nest.map_structure(np.asarray, fn())
      times.append(time.perf_counter() - start)
    medians[name] = float(np.median(times))
  total = sum(medians.values())
  print(f"\n{FLAGS.model}: a batch of {len(grey)} photos, median of {FLAGS.repeat} calls\n")
  print("| part | ms | share |")
  print("|---|---|---|")
  for name, seconds in medians.items():
    print(f"| {name} | {seconds * 1e3:.0f} | {seconds / total:.0%} |")


if __name__ == "__main__":
  app.run(main)
