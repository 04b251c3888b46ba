r"""divcolor-train-features: trains the grey-level feature network G (Zhang et al., ECCV 2016).

  divcolor-train-features --config configs/lfw.py:cpu --workdir workdirs/lfw

Trains Zhang et al.'s colorization network on its own task (313-bin per-pixel classification with
class rebalancing) and writes WORKDIR/features/: features.keras (the whole network), trunk.keras
(conv1..conv7: lightness -> the grey features G the MDN reads), checkpoints/, history.csv,
tensorboard/ and config.json. Colour statistics come from WORKDIR/stats.npz (the VAE's), or are
computed from the training photos and written there first. Interrupt at any time and run the same
command again: training resumes from the last epoch's checkpoint.
"""

from divcolor_tf.bin import cli

cli.define_stage_flags(
    "tiny|cpu", "The model directory; this stage writes WORKDIR/features/.")
main = cli.stage_main("trainers.features")


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
