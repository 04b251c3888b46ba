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

from divcolor_tf.bin import cli

cli.define_stage_flags(
    "tiny|cpu", "The model directory of every stage; this one writes WORKDIR/mdn/.")
main = cli.stage_main("trainers.mdn", config_hint=True)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
