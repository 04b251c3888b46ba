r"""divcolor-train-mdn: trains the mixture density network P(z | G) (paper Section 4, Eq. 5-6).

  divcolor-train-mdn --config configs/lfw.py:cpu --workdir workdirs/lfw

Reads the earlier stages of the same workdir, both frozen: WORKDIR/encoder.keras
(divcolor-train-vae) gives z of each photo's colour field, WORKDIR/features/trunk.keras
(divcolor-train-features) its grey features G. Writes WORKDIR/mdn/: mdn.keras, checkpoints/,
history.csv (loss, neg_log_pi, distance, pi_entropy, components_used), tensorboard/ and
config.json. When an earlier stage is missing it says which file and the command that makes it,
in one line, and exits with status 1. Interrupt at any time and run the same command again:
training resumes from the last epoch's checkpoint.
"""

import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:tiny|cpu]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "The model directory of every stage; this one writes "
                    "WORKDIR/mdn/.")
flags.DEFINE_integer("verbose", 1, "Keras progress: 1 = progress bar, 2 = one line per epoch.")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from divcolor_tf import train_mdn  # pylint: disable=g-import-not-at-top
  config_hint = config_flags.get_config_filename(FLAGS["config"])  # as typed, with its :variant
  try:
    train_mdn.train(FLAGS.config, FLAGS.workdir, verbose=FLAGS.verbose, config_hint=config_hint)
  except train_mdn.MissingStageError as error:
    print(f"divcolor-train-mdn: {error}", file=sys.stderr)
    sys.exit(1)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
