r"""divcolor-train-features: trains the grey-level feature network G (Zhang et al., ECCV 2016).

  divcolor-train-features --config configs/lfw.py:cpu --workdir workdirs/lfw

Trains Zhang et al.'s colorization network on its own task (313-bin per-pixel classification with
class rebalancing) and writes WORKDIR/features/: features.keras (the whole network), trunk.keras
(conv1..conv7: lightness -> the grey features G the MDN reads), checkpoints/, history.csv,
tensorboard/ and config.json. Colour statistics come from WORKDIR/stats.npz (the VAE's), or are
computed from the training photos and written there first. Interrupt at any time and run the same
command again: training resumes from the last epoch's checkpoint.
"""

from absl import app
from absl import flags

from divcolor_tf.bin import cli
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:tiny|cpu]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "The model directory; this stage writes WORKDIR/features/.")
flags.DEFINE_integer("verbose", 1, "Keras progress: 1 = progress bar, 2 = one line per epoch.")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from divcolor_tf import train_features  # pylint: disable=g-import-not-at-top
  train_features.train(FLAGS.config, FLAGS.workdir, verbose=FLAGS.verbose)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
