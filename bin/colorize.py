r"""divcolor-colorize: diverse colorizations of photos, at their own size (paper Section 4).

  divcolor-colorize --input photos/ --output colorized/ --k 5 --grid
  divcolor-colorize --model lfw --input faces/ --output colorized/   # the faces model

Without --model, the bundled general model (saved_models/divcolor_imagenet, everyday photos)
colorizes; --model lfw names the bundled faces model, and a training workdir or an export works
by its path.

For each photo, writes OUTPUT/<stem>_<i>.png, i = 1..K: the top-K means of the MDN's mixture in
descending order of mixture weight, each decoded by the VAE and joined with the photo's own
full-resolution lightness (a colour photo is reduced to its lightness first). --samples N draws N
embeddings from the mixture instead (reproducible with --seed; not with --k). --grid adds
<stem>_grid.png: the grey input beside its K colorizations, titled with their mixture weights.
Photos in subfolders of --input keep their subfolder under --output.

Photos of one run whose names differ only by extension (face.jpg, face.png) each get theirs
added: face_jpg_<i>.png, face_png_<i>.png; only such colliding names change. Photos the extension
does not separate (one name in two folders of a list file) stop the run before anything is
written.

Every file appears under its name only complete (written under a hidden temporary name, then
renamed), and a photo's set is installed by one run at a time: a killed or concurrent run never
leaves a truncated file or a set mixing two runs. Existing outputs are never replaced without
--overwrite: a photo whose files are all there is skipped as already done (not checked), one with
only some of them is named in a one-line error. --skip_existing resumes a folder run instead: a
photo whose set is complete (every file a PNG that decodes, at the right size) is skipped; an
incomplete or corrupt set is colorized again and replaced. A photo that cannot be read or written
is named in a one-line error and the others go on. A folder run shows its progress (count, rate,
ETA) on stderr and ends with the counts colorized / skipped / failed; the exit status is 1 only
if a photo failed. Flags are checked before TensorFlow starts: a --k out of the model's range, a
--model that names nothing, a missing --input are each one line at once.
"""

import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli

flags.DEFINE_string("model", "imagenet", "A bundled model's name: imagenet (everyday photos, "
                    "the default) or lfw (faces); a model directory (divcolor-train-vae, "
                    "-features, -mdn) or an exported SavedModel (divcolor-export).")
flags.DEFINE_string("input", None, "A photo, a directory (searched recursively), a list file "
                    "or a glob.")
flags.DEFINE_string("output", None, "Where the colorizations go (created if missing).")
flags.DEFINE_integer("k", 5, "Colorizations per photo: the top-k means by mixture weight.")
flags.DEFINE_integer("samples", 0, "Instead of the top-k means, draw this many embeddings from "
                     "the mixture (0: top-k); not with --k.")
flags.DEFINE_integer("seed", None, "Seed of --samples (default: a fresh one, printed).")
flags.DEFINE_bool("grid", False, "Also write <stem>_grid.png: grey input and its colorizations.")
flags.DEFINE_bool("overwrite", False, "Replace existing output files.")
flags.DEFINE_bool("skip_existing", False, "Resume a folder run: skip photos whose outputs are "
                  "all there and decode; colorize the others again (replacing incomplete or "
                  "corrupt sets).")
flags.DEFINE_float("max_megapixels", None, "The largest photo colorized, in megapixels "
                   "(default: the library's, divcolor_tf.inference.fullres.MAX_MEGAPIXELS = 64); a "
                   "larger one is a one-line error naming it. 0: no limit.")
flags.mark_flags_as_required(["input", "output"])
FLAGS = flags.FLAGS

PROG = "divcolor-colorize"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.samples < 0:
    raise app.UsageError("--samples must be >= 0")
  # The flags first, without TensorFlow: a mistyped flag is answered at once.
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.inference import bundled  # pylint: disable=g-import-not-at-top
  problem = (_samples_and_k_problem() or bundled.model_problem(FLAGS.model)
             or _k_problem(bundled.export_components(FLAGS.model)))
  if problem:
    cli.error(PROG, problem)
    sys.exit(1)
  try:
    paths = data.list_images(FLAGS.input)
  except (ValueError, FileNotFoundError) as e:
    cli.error(PROG, e)
    sys.exit(1)
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top
  from divcolor_tf.io import progress  # pylint: disable=g-import-not-at-top

  try:
    colorizer = colorize.load(FLAGS.model, max_megapixels=FLAGS.max_megapixels)
  except (ValueError, FileNotFoundError) as e:
    cli.error(PROG, e)
    sys.exit(1)
  problem = _k_problem(colorizer.num_components)  # a workdir's, known once it is loaded
  if problem:
    cli.error(PROG, problem)
    sys.exit(1)
  bar = progress.Progress(len(paths))
  try:
    with bar:
      summary = outputs.colorize_photos(
          colorizer, paths, FLAGS.output, input_root=FLAGS.input, k=FLAGS.k,
          samples=FLAGS.samples, seed=FLAGS.seed, grid=FLAGS.grid, overwrite=FLAGS.overwrite,
          skip_existing=FLAGS.skip_existing,
          on_error=lambda message: bar.write(cli.one_line(PROG, message)),
          progress=bar)
  except ValueError as e:  # two photos would write the same files: nothing written
    cli.error(PROG, e)
    sys.exit(1)
  skipped = ""
  if summary.skipped:
    why = ("outputs exist; --overwrite replaces them, --skip_existing checks them"
           if summary.existing == summary.skipped else "already complete")
    skipped = f"; {summary.skipped} skipped ({why})"
  print(f"{PROG}: colorized {summary.done} of {summary.total} photo(s) ({summary.mode}) with "
        f"{FLAGS.model} into {FLAGS.output}{skipped}; {len(summary.failed)} failed")
  sys.exit(0 if not summary.failed else 1)


def _samples_and_k_problem():
  """--samples replaces the top-k means: both given, one would be ignored."""
  if FLAGS.samples and FLAGS["k"].present:
    return (f"--k {FLAGS.k} and --samples {FLAGS.samples}: give one of them (--k: the top-k means "
            "by mixture weight; --samples: that many draws from the mixture)")
  return None


def _k_problem(components):
  """--k against a mixture of ``components`` (None: not known yet, only k >= 1 is checked)."""
  if FLAGS.samples or 1 <= FLAGS.k <= (components or FLAGS.k):
    return None
  if components is None:
    return f"--k must be >= 1, got {FLAGS.k}"
  return f"--k must be in [1, {components}] (the mixture's components), got {FLAGS.k}"


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
