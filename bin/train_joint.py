r"""divcolor-train-joint: fine-tunes the MDN and the decoder together on colour error (optional
fourth stage; this project's addition, not in the paper).

  divcolor-train-joint --config configs/lfw.py:cpu_joint --workdir workdirs/lfw

Of the MDN's M decoded means, the one nearest the photo's true colour field is penalised (its
colourfulness-weighted absolute error), the mixture weights learn which one that is, and the
decoder keeps reconstructing the VAE encoder's codes (divcolor_tf/train_joint.py). Reads the three
earlier stages of the workdir and never rewrites them; writes WORKDIR/joint/: decoder.keras,
mdn.keras, checkpoints/, history.csv (loss, colour, neg_log_pi, recon, best_abs, top_k_abs),
tensorboard/ and config.json. From then on the workdir colorizes, evaluates and exports with
joint/'s decoder and MDN. --config.joint.epochs=0 (the default outside cpu_joint) trains nothing.
Interrupt at any time and run the same command again: training resumes from its checkpoint.
"""

from divcolor_tf.bin import cli

cli.define_stage_flags(
    "tiny|cpu_joint", "The model directory of every stage; this one writes WORKDIR/joint/.")
main = cli.stage_main("trainers.joint", config_hint=True)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
