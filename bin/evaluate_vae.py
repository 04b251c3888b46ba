r"""divcolor-evaluate-vae: the paper's Table 1 and Table 2 for a trained VAE.

  divcolor-evaluate-vae --workdir workdirs/lfw --images ../shared/data/lfw/ci
  divcolor-evaluate-vae --workdir saved_models/divcolor_lfw --images ../shared/data/lfw/ci

Prints a markdown table: mean absolute error per pixel (ab/128) and the colourfulness-weighted
error, over all pixels and over the centred 8x8 grid, with the decoder fed the encoder's own
mean embedding; grey and mean-field baselines and the paper's row for reference. ``--budget``
adds what each loss term weighs on these photos (L_hist, L_mah's two parts, L_grad, the KL,
each times its factor, with its share of the total), the KL per example and the number of active
latent dimensions (docs/quality.md).
"""

import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli

flags.DEFINE_string("workdir", None, "A workdir written by divcolor-train-vae, or an export "
                    "with the encoder (e.g. saved_models/divcolor_lfw).")
flags.DEFINE_string("images", None, "Test photos: a directory, a list file or a glob. Default: "
                    "the validation split the workdir's config holds out.")
flags.DEFINE_integer("max_images", 0, "Evaluate at most this many photos (0: all).")
flags.DEFINE_enum("weights", None, ["stable", "raw"], "Colourfulness weights for Table 2 "
                  "(default: the kind the model was trained with).")
flags.DEFINE_bool("budget", False, "Also print the loss-term budget and latent usage.")
flags.mark_flags_as_required(["workdir"])
FLAGS = flags.FLAGS

PROG = "divcolor-evaluate-vae"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import tables  # pylint: disable=g-import-not-at-top
  from divcolor_tf import exported  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import metrics  # pylint: disable=g-import-not-at-top
  try:
    workdir = exported.workdir_for(FLAGS.workdir, need_encoder=True)
  except ValueError as e:  # an export that cannot be unpacked (its config does not fit its weights)
    cli.error(PROG, f"{e} (--workdir)")
    sys.exit(1)
  if FLAGS.images:
    paths = data.list_images(FLAGS.images)
  else:
    _, paths = data.config_paths(config_lib.load_resolved(workdir).data, flag_hint="its validation "
                                 "photos are not on this machine: pass --images PHOTOS")
  if FLAGS.max_images:
    paths = paths[:FLAGS.max_images]
  result = tables.evaluate_vae(workdir, paths, weights_kind=FLAGS.weights,
                                 budget=FLAGS.budget)
  rows, count, skip_log = result[:3]
  print(f"Tables 1 and 2 on {count} photos ({FLAGS.images or 'validation split'}), ab/128 units")
  print(metrics.markdown_table(
      rows, metrics.Table12.COLUMNS,
      ["abs. error All", "abs. error Grid", "weighted All", "weighted Grid"]))
  if FLAGS.budget:
    budget = result[3]
    print(f"\nLoss terms per example, z ~ Q(z|C) ({budget['count']} photos)")
    print("| term | value | x factor | share |\n|---|---|---|---|")
    for name, t in budget["terms"].items():
      print(f"| {name} | {t['value']:.4g} | {t['weighted']:.4g} | {100 * t['share']:.1f}% |")
    print(f"KL per example {budget['kl_per_example']:.3g} nats; active dimensions "
          f"{budget['active_dims']} of {budget['latent_dim']}; mean posterior std "
          f"{budget['posterior_std']:.3g}")
  report = skip_log.report()
  if report:
    print(report)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
