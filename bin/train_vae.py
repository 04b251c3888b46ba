r"""divcolor-train-vae: trains the colour-field VAE (paper Section 3) and saves encoder/decoder.

  divcolor-train-vae --config configs/lfw.py --workdir workdirs/lfw \
      --config.vae.width=0.5 --config.vae.epochs=20

Interrupt at any time and run the same command again: training resumes from the last epoch's
checkpoint in WORKDIR/checkpoints. Watch the losses with `tensorboard --logdir WORKDIR/tensorboard`
or in WORKDIR/history.csv.
"""

from divcolor_tf.bin import cli

cli.define_stage_flags(
    "tiny", "Where checkpoints, logs and the trained models go.")
main = cli.stage_main("trainers.vae")


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
