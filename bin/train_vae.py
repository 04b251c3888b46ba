r"""divcolor-train-vae: trains the colour-field VAE (paper Section 3) and saves encoder/decoder.

  divcolor-train-vae --config configs/lfw.py --workdir workdirs/lfw \
      --config.vae.width=0.5 --config.train.epochs=20

Interrupt at any time and run the same command again: training resumes from the last epoch's
checkpoint in WORKDIR/checkpoints. Watch the losses with `tensorboard --logdir WORKDIR/tensorboard`
or in WORKDIR/history.csv.
"""

from absl import app
from absl import flags

from divcolor_tf.bin import cli
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:tiny]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Where checkpoints, logs and the trained models go.")
flags.DEFINE_integer("verbose", 1, "Keras progress: 1 = progress bar, 2 = one line per epoch.")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from divcolor_tf import train_vae  # pylint: disable=g-import-not-at-top
  train_vae.train(FLAGS.config, FLAGS.workdir, verbose=FLAGS.verbose)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
