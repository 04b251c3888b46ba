r"""divcolor-stats: colour statistics of a training set (PCA of colour fields, prior, weights).

  divcolor-stats --images ../shared/data/lfw/train --out stats/lfw.npz --drop_near_grey

--images is a directory tree, a text file with one image path per line, or a glob. The .npz holds
the top principal components of the 64x64x2 colour fields (for L_mah), the empirical prior over
Zhang et al.'s 313 ab bins and both forms of the colourfulness weights (for L_hist); give it to
training with --config.stats.path. See divcolor_tf/stats.py.
"""

import os
import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli

flags.DEFINE_string("images", None, "Photos: a directory tree, a list file or a glob.")
flags.DEFINE_string("out", None, "Where the stats .npz goes.")
flags.DEFINE_integer("max_images", 0, "Use only the first N photos; 0: all.")
flags.DEFINE_integer("n_components", 20, "Principal components kept (paper: 20).")
flags.DEFINE_float("prior_sigma", 5.0, "Gaussian smoothing of the bin prior, ab units; 0: none.")
flags.DEFINE_float("uniform_mix", 0.5, "lambda of the stable weights (Zhang et al.: 0.5).")
flags.DEFINE_integer("batch_size", 64, "Photos decoded per step.")
flags.DEFINE_bool("drop_near_grey", False, "Leave out black-and-white photos.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --out.")
flags.mark_flags_as_required(["images", "out"])
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if os.path.exists(FLAGS.out) and not FLAGS.overwrite:
    print(f"divcolor-stats: {FLAGS.out} exists; pass --overwrite to replace it", file=sys.stderr)
    sys.exit(1)
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.io import progress  # pylint: disable=g-import-not-at-top
  from divcolor_tf.data import stats  # pylint: disable=g-import-not-at-top
  skip_log = data.SkipLog()
  try:
    total = len(data.list_images(FLAGS.images))  # compute() lists them again, naming the source
    if FLAGS.max_images:
      total = min(total, FLAGS.max_images)
    with progress.Progress(total) as bar:
      result = stats.compute(
          FLAGS.images, n_components=FLAGS.n_components, prior_sigma=FLAGS.prior_sigma,
          uniform_mix=FLAGS.uniform_mix, max_images=FLAGS.max_images,
          batch_size=FLAGS.batch_size, drop_near_grey=FLAGS.drop_near_grey, skip_log=skip_log,
          progress=bar)
  except (ValueError, FileNotFoundError) as e:
    print(f"divcolor-stats: {e}", file=sys.stderr)
    sys.exit(1)
  result.save(FLAGS.out)
  for line in stats.describe(result):
    print(line)
  print(f"skipped: {skip_log.report() or 'none'}")
  print(f"wrote {FLAGS.out}")


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
