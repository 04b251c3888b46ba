r"""divcolor-train-cvae: trains the paper's CVAE baseline (Sections 5 and 6.3) in a workdir of its own.

  divcolor-train-cvae --config configs/lfw.py:cpu_baselines --workdir workdirs/cvae_lfw

Q(z | C, G) and f(z, G) trained on KL + L2 (config section ``cvae``); at test time 256 codes
z ~ N(0, I) per photo are decoded and clustered by k-means into 5 colorizations, each weighted by
its cluster's share. The workdir then colorizes, evaluates and exports as ours does
(divcolor-colorize / -evaluate / -figure / -export --model WORKDIR). Interrupt at any time and
run the same command again: training resumes where its last checkpoint stands.
"""

from divcolor_tf.bin import cli

cli.define_stage_flags("tiny", "Where the CVAE's checkpoints, logs and trained models go.")
main = cli.stage_main("trainers.cvae")


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
