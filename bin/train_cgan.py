r"""divcolor-train-cgan: trains the paper's cGAN baseline (Isola et al.'s pix2pix, Section 5).

  divcolor-train-cgan --config configs/lfw.py:cpu_baselines --workdir workdirs/cgan_lfw

A U-Net generator from the grey level to the 64x64 ab field, with dropout (0.5) in its first
decoder layers kept on at test time as its only noise, and a PatchGAN discriminator on (grey,
colour) pairs, trained on the adversarial loss + 100 L1 with an optimizer each (config section
``cgan``). At test time 256 dropout draws per photo are clustered by k-means into 5
colorizations, each weighted by its cluster's share. The workdir colorizes, evaluates and exports
as ours does. Interrupt at any time and run the same command again: training resumes.
"""

from divcolor_tf.bin import cli

cli.define_stage_flags("tiny", "Where the cGAN's checkpoints, logs and trained models go.")
main = cli.stage_main("trainers.cgan")


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
