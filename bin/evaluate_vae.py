r"""divcolor-evaluate-vae: the paper's Table 1 and Table 2 for a trained VAE.

  divcolor-evaluate-vae --workdir workdirs/lfw --images ../shared/data/lfw/ci

Prints a markdown table: mean absolute error per pixel (ab/128) and the colourfulness-weighted
error, over all pixels and over the centred 8x8 grid, with the decoder fed the encoder's own
mean embedding; grey and mean-field baselines and the paper's row for reference.
"""

from absl import app
from absl import flags

flags.DEFINE_string("workdir", None, "A workdir written by divcolor-train-vae.")
flags.DEFINE_string("images", None, "Test photos: a directory, a list file or a glob. Default: "
                    "the validation split the workdir's config holds out.")
flags.DEFINE_integer("max_images", 0, "Evaluate at most this many photos (0: all).")
flags.DEFINE_enum("weights", None, ["stable", "raw"], "Colourfulness weights for Table 2 "
                  "(default: the kind the model was trained with).")
flags.mark_flags_as_required(["workdir"])
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import evaluate  # pylint: disable=g-import-not-at-top
  from divcolor_tf import metrics  # pylint: disable=g-import-not-at-top
  if FLAGS.images:
    paths = data.list_images(FLAGS.images)
  else:
    _, paths = data.config_paths(config_lib.load_resolved(FLAGS.workdir).data)
  if FLAGS.max_images:
    paths = paths[:FLAGS.max_images]
  rows, count, skip_log = evaluate.evaluate_vae(FLAGS.workdir, paths, weights_kind=FLAGS.weights)
  print(f"Tables 1 and 2 on {count} photos ({FLAGS.images or 'validation split'}), ab/128 units")
  print(metrics.markdown_table(
      rows, metrics.Table12.COLUMNS,
      ["abs. error All", "abs. error Grid", "weighted All", "weighted Grid"]))
  report = skip_log.report()
  if report:
    print(report)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
