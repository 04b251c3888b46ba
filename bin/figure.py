r"""divcolor-figure: a figure in the paper's style for a folder of photos.

  divcolor-figure --model saved_models/divcolor_lfw --input ../shared/data/lfw/ci --output fig.png

One row per photo (in listed order, at most --max_photos): its grey input, its top-k
colorizations in descending order of mixture weight (each captioned with its weight) and, unless
--no_truth, the photo's own colours. --samples N draws N from the mixture instead (the same draws
as divcolor-colorize --samples N --seed S gives). Photos that cannot be read are named in
one-line errors and left out; the exit status is 1 if any was, or if none could be drawn.

Give --model once per method for the paper's comparison layout (Figures 7 and 8): per photo the
grey input, each model's k colorizations side by side under its name, the truth:

  divcolor-figure --model saved_models/cvae_lfw --model saved_models/cgan_lfw \
      --model saved_models/divcolor_lfw --input ../shared/data/lfw/ci --output compare.png
"""

import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli

flags.DEFINE_multi_string("model", None, "A model directory, an export, e.g. "
                          "saved_models/divcolor_lfw, a bundled model's name (lfw, imagenet) or "
                          "prior:MODEL; repeat it for the comparison layout.")
flags.DEFINE_list("names", [], "The methods' names over their columns (default: the --model "
                  "arguments).")
flags.DEFINE_string("input", None, "Photos: a directory (searched recursively), a list file or a "
                    "glob.")
flags.DEFINE_string("output", None, "The figure's PNG file.")
flags.DEFINE_integer("k", 5, "Colorizations per photo: the top-k means by mixture weight.")
flags.DEFINE_bool("trust_model", False, "Run an export's ops even if not ours (docs/deploy.md).")
flags.DEFINE_integer("samples", 0, "Instead, draw this many from the mixture (0: top-k).")
flags.DEFINE_integer("seed", 0, "Seed of --samples.")
flags.DEFINE_integer("max_photos", 8, "Rows: the first this many photos (0: all).")
flags.DEFINE_integer("cell", 160, "Side of each image in the figure, in pixels.")
flags.DEFINE_bool("truth", True, "Add the photo's own colours as the last column (--no_truth: "
                  "leave it out, e.g. for grey photos).")
flags.DEFINE_bool("overwrite", False, "Replace an existing --output.")
flags.mark_flags_as_required(["model", "input", "output"])
FLAGS = flags.FLAGS

PROG = "divcolor-figure"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.samples < 0 or FLAGS.max_photos < 0 or FLAGS.cell < 16:
    raise app.UsageError("--samples and --max_photos must be >= 0, --cell >= 16")
  # The flags and the output first, without TensorFlow: a mistake is answered at once, and a
  # figure that could not be written is never drawn (--output naming a folder: issue 47, row 14).
  problem = (cli.output_file_problem(FLAGS.output, FLAGS.overwrite, "--output")
             or cli.models_and_k_problem(FLAGS.model, None if FLAGS.samples else FLAGS.k))
  if problem:
    cli.error(PROG, problem)
    sys.exit(1)
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top  (no TensorFlow)
  try:
    paths = data.list_images(FLAGS.input)
  except (ValueError, FileNotFoundError) as e:
    cli.error(PROG, e)
    sys.exit(1)
  if FLAGS.max_photos:
    paths = paths[:FLAGS.max_photos]
  from divcolor_tf.io import atomic  # pylint: disable=g-import-not-at-top
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import figures  # pylint: disable=g-import-not-at-top
  from divcolor_tf.io import progress  # pylint: disable=g-import-not-at-top
  try:
    colorizers = [colorize.load(model, trust=FLAGS.trust_model) for model in FLAGS.model]
  except (ValueError, FileNotFoundError) as e:
    cli.error(PROG, e)
    sys.exit(1)
  names = FLAGS.names or FLAGS.model
  if len(names) != len(colorizers):
    cli.error(PROG, f"--names gives {len(names)} names for {len(colorizers)} models")
    sys.exit(1)
  count = FLAGS.samples or FLAGS.k
  most = min(c.num_components for c in colorizers)
  problem = None if FLAGS.samples else cli.k_problem(FLAGS.k, most)
  if problem:  # a workdir's, known once it is loaded
    cli.error(PROG, problem)
    sys.exit(1)
  failed = []
  per_model = []
  with progress.Progress(len(paths) * len(colorizers)) as bar:
    def on_error(message):
      if message not in failed:
        failed.append(message)
        bar.write(cli.one_line(PROG, message))
    for colorizer in colorizers:  # per model, each path's (photo, colorization) or None
      per_model.append(_rows_by_path(figures, colorizer, paths, count, on_error, bar))
  if len(colorizers) == 1:
    rows = [row for row in per_model[0] if row is not None]
  else:  # a photo is drawn when every model colorized it
    rows = [(found[0][0], [row[1] for row in found]) for found in zip(*per_model)
            if all(row is not None for row in found)]
  if not rows:
    cli.error(PROG, f"{FLAGS.input}: no photo could be drawn")
    sys.exit(1)
  image = figures.figure(rows, count, truth=FLAGS.truth, cell=FLAGS.cell,
                         sampled=bool(FLAGS.samples),
                         methods=names if len(colorizers) > 1 else None)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with atomic.atomic_path(FLAGS.output) as temp:
    Image.fromarray(image).save(temp, format="PNG")
  print(f"{PROG}: wrote {FLAGS.output} ({len(rows)} photos x {count} colorizations"
        f"{f' x {len(colorizers)} models' if len(colorizers) > 1 else ''}); {len(failed)} failed")
  sys.exit(1 if failed else 0)


def _rows_by_path(figures, colorizer, paths, count, on_error, bar):
  """Each path's (photo, colorization), or None where it could not be read."""
  out = []
  for index, path in enumerate(paths):
    rows = figures.colorized_rows(colorizer, [path], count, samples=FLAGS.samples,
                                  seed=FLAGS.seed, on_error=on_error, progress=bar,
                                  first_index=index)
    out.append(rows[0] if rows else None)
  return out


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
