r"""divcolor-evaluate: the paper's Table 3 (diverse colorization) for a trained model directory.

  divcolor-evaluate --model workdirs/lfw --images ../shared/data/lfw/ci --k 5

Colorizes each photo from its grey level alone (the top-k means of the MDN's mixture, decoded by
the VAE) and prints a markdown table: the error-of-best per pixel (the colorization closest to
the photo's own colours) and the variance across the k colorizations (the paper's diversity
proxy), both in ab/128 units over all pixels of the 64x64 colour field; with the grey and
training-mean-field baselines and the paper's rows for the config's dataset.
"""

import os
import sys

from absl import app
from absl import flags

flags.DEFINE_string("model", None, "A model directory (divcolor-train-vae, -features, -mdn).")
flags.DEFINE_string("images", None, "Test photos: a directory, a list file or a glob. Default: "
                    "the validation split the model directory's config holds out.")
flags.DEFINE_integer("k", 5, "Colorizations per photo (paper: 5).")
flags.DEFINE_integer("max_images", 0, "Evaluate at most this many photos (0: all).")
flags.DEFINE_integer("batch_size", 32, "Photos per step.")
flags.mark_flags_as_required(["model"])
FLAGS = flags.FLAGS

PROG = "divcolor-evaluate"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import evaluate  # pylint: disable=g-import-not-at-top
  from divcolor_tf import metrics  # pylint: disable=g-import-not-at-top
  from divcolor_tf import stats as stats_lib  # pylint: disable=g-import-not-at-top
  try:
    colorizer = colorize.Colorizer.load(FLAGS.model)
    if FLAGS.images:
      paths = data.list_images(FLAGS.images)
    else:
      _, paths = data.config_paths(colorizer.config.data)
    if FLAGS.max_images:
      paths = paths[:FLAGS.max_images]
    stats_path = os.path.join(FLAGS.model, "stats.npz")
    stats = stats_lib.load(stats_path) if os.path.isfile(stats_path) else None
    rows, count, skip_log = evaluate.evaluate_colorize(
        colorizer, paths, k=FLAGS.k, batch_size=FLAGS.batch_size, stats=stats)
  except (ValueError, FileNotFoundError) as e:
    print(f"{PROG}: {' '.join(str(e).split())}", file=sys.stderr)
    sys.exit(1)
  print(f"Table 3 on {count} photos ({FLAGS.images or 'validation split'}), {FLAGS.k} "
        "colorizations each; ab/128 units, 64x64 colour fields, all pixels")
  print(metrics.markdown_table(rows, metrics.Table3.COLUMNS, ["error-of-best", "variance"]))
  report = skip_log.report()
  if report:
    print(report)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
