"""Trains stages of the tiny config in one process, as one worker of a job or alone; the tests of
tests/training/test_distributed.py start it (with TF_CONFIG for a worker) and compare what it
writes.

  python tests/distributed_run.py --workdir W --data PHOTOS --stages vae,features,mdn,joint,cvae,cgan
      [--setting train.strategy=multi_worker ...] [--dump W/weights.npz]

The VAE, feature, MDN and joint stages share W; the CVAE and the cGAN train in W/cvae and W/cgan.
With --dump, the chief (or the lone process) saves every trained network's weights, in order, to
one .npz (keys "<stage>:<file>/<index>"), and how far each stage's training moved its trainer's
weights (keys "moved/<stage>": the largest change of one weight).
"""

import argparse
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTPUTS = {  # stage: (sub-folder, the files it writes)
    "vae": ("", ("encoder.keras", "decoder.keras")),
    "features": ("", ("features/trunk.keras",)),
    "mdn": ("", ("mdn/mdn.keras",)),
    "joint": ("", ("joint/decoder.keras", "joint/mdn.keras")),
    "cvae": ("cvae", ("cvae_encoder.keras", "cvae_decoder.keras")),
    "cgan": ("cgan", ("generator.keras", "discriminator.keras")),
}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--data", required=True)
  parser.add_argument("--stages", default="vae")
  parser.add_argument("--setting", action="append", default=[])
  parser.add_argument("--dump", default="")
  args = parser.parse_args(argv)

  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  from divcolor_tf.training import loop  # pylint: disable=g-import-not-at-top
  from divcolor_tf import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import cgan, cvae, features, joint, mdn, vae  # pylint: disable=g-import-not-at-top
  trainers = {"vae": vae, "features": features, "mdn": mdn, "joint": joint, "cvae": cvae,
              "cgan": cgan}
  config = config_lib.load(str(ROOT / "configs" / "lfw.py") + ":tiny",
                           [f"data.train={args.data}"] + args.setting)
  import numpy as np  # pylint: disable=g-import-not-at-top
  stages = args.stages.split(",")
  moved = {}  # stage: the largest change of a trainer's weight in its run (it trained)
  fit = loop.fit

  def recording_fit(trainer, *fit_args, **fit_kwargs):
    before = [np.array(v) for v in trainer.weights]
    result = fit(trainer, *fit_args, **fit_kwargs)
    moved[current] = max(float(np.max(np.abs(np.array(v) - w)))
                         for v, w in zip(trainer.weights, before) if w.size)
    return result

  loop.fit = recording_fit  # every stage's training.run_stage calls loop.fit
  for stage in stages:
    current = stage
    folder = os.path.join(args.workdir, OUTPUTS[stage][0])
    start = time.time()
    trainers[stage].train(config, folder, verbose=0)
    print(f"{stage}: {time.time() - start:.1f} s", file=sys.stderr, flush=True)
  if args.dump and training.is_chief():
    weights = {f"moved/{stage}": np.float64(value) for stage, value in moved.items()}
    for stage in stages:
      sub, files = OUTPUTS[stage]
      for name in files:
        model = workdir_lib.load_keras(os.path.join(args.workdir, sub), name)
        for i, w in enumerate(model.get_weights()):
          weights[f"{stage}:{name}/{i:03d}"] = w
    np.savez(args.dump, **weights)
  return 0


if __name__ == "__main__":
  sys.exit(main())
