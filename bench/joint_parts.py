r"""Where the joint stage's step goes: the grey trunk, the MDN, and the decodes (quality.md).

  python bench/joint_parts.py --model saved_models/divcolor_lfw
  python bench/joint_parts.py --model workdirs/lfw --batch_size 16 --repeat 7

The joint stage (divcolor_tf/trainers/joint.py) runs, per batch, the frozen grey trunk, the MDN, all
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
  from divcolor_tf import colorize, data  # pylint: disable=g-import-not-at-top
  c = colorize.Colorizer.load(FLAGS.model)  # the served trunk, MDN and decoder, and the encoder
  batch = next(iter(data.make_dataset(data.list_images(FLAGS.images), field_size=c.field_size,
                                      grey_size=c.grey_size, batch_size=FLAGS.batch_size)))
  grey, lightness, target = batch["grey"], batch["lightness"], batch["colour_field"]
  features = c.trunk(grey, training=False)
  means, _ = c.mixture(grey)  # [B, M, d]

  @tf.function
  def trunk_forward():
    return c.trunk(grey, training=False)

  @tf.function
  def mdn_forward():
    return c.mdn(features, training=False)["means"]

  @tf.function
  def decode_all():
    return c.decode(means, lightness)

  @tf.function
  def decode_two_with_gradient():  # a mean and the encoder's code of the truth, per photo
    codes = tf.stack([means[:, 0], c.encode(target)], axis=1)  # [B, 2, d]
    with tf.GradientTape() as tape:
      fields = c.decode(codes, lightness)
      loss = tf.reduce_mean(tf.abs(fields - target[:, None]))
    return tape.gradient(loss, c.decoder.trainable_variables)

  parts = {"grey trunk, forward": trunk_forward, "MDN, forward": mdn_forward,
           f"decoder, all {c.num_components} means, forward": decode_all,
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
