"""What each train.precision does to the VAE's Table 1 at one budget: the same run (config, seed,
steps, data order) trained under float32, mixed_bfloat16 and mixed_float16, each evaluated by
Table 1 and 2's code on the same photos (the validation split by default).

  python bench/precision_table1.py                                   # configs/lfw.py:cpu, 200 steps
  python bench/precision_table1.py --steps 100 --precisions float32,mixed_bfloat16
  python bench/precision_table1.py --setting vae.width=0.25 --images ../shared/data/lfw/ci

Each precision trains in a process of its own (divcolor-train-vae, one epoch of --steps steps of
the config's global batch) into --root/<precision>, which is reused when it already holds the
trained networks (delete it to train again); the networks are evaluated in the precision they
trained in (the process's dtype policy set to it, so that ``workdir.load_keras`` keeps their 16-bit
layers; a colorizer or an export computes in float32). Prints one table: training wall
time, images/s of the whole run (input pipeline and checkpoints included) and Table 1 / Table 2
(abs. error All and Grid, colourfulness-weighted All), ab/128. Not a test: figures go in the notes.
"""

import os
import subprocess
import sys
import time

from absl import app
from absl import flags

CONFIG = flags.DEFINE_string("config", "configs/lfw.py:cpu", "config (path[:variants])")
SETTING = flags.DEFINE_multi_string("setting", [], "config overrides key=value")
STEPS = flags.DEFINE_integer("steps", 200, "training steps (one epoch of this many)")
PRECISIONS = flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16", "mixed_float16"],
                               "train.precision values")
ROOT = flags.DEFINE_string("root", "/tmp/divcolor_precision", "one workdir per precision here")
IMAGES = flags.DEFINE_string("images", "", "test photos (default: the validation split)")


def _train(precision, workdir):
  """Trains (or finds trained) the VAE under ``precision``; returns its wall seconds or None."""
  if os.path.exists(os.path.join(workdir, "decoder.keras")):
    return None
  command = [sys.executable, "-m", "divcolor_tf.bin.train_vae", "--config", CONFIG.value,
             "--workdir", workdir, "--verbose", "0", f"--config.train.precision={precision}",
             "--config.vae.epochs=1", f"--config.vae.steps_per_epoch={STEPS.value}"]
  command += [f"--config.{setting}" for setting in SETTING.value]
  start = time.time()
  done = subprocess.run(command, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), check=False,
                        capture_output=True, text=True)
  if done.returncode:
    sys.exit(f"training under {precision} failed:\n{done.stderr[-3000:]}")
  return time.time() - start


def main(argv):
  del argv
  import keras  # pylint: disable=g-import-not-at-top
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.evaluation import tables  # pylint: disable=g-import-not-at-top
  config = config_lib.load(CONFIG.value, SETTING.value)
  batch = int(config.vae.batch_size)
  lines = []
  for precision in PRECISIONS.value:
    workdir = os.path.join(ROOT.value, precision)
    seconds = _train(precision, workdir)
    if IMAGES.value:
      paths = data.list_images(IMAGES.value)
    else:
      _, paths = data.config_paths(config_lib.load_resolved(workdir).data)
    keras.config.set_dtype_policy(precision)  # evaluated as trained (workdir.in_process_policy)
    try:
      rows, count, _ = tables.evaluate_vae(workdir, paths)[:3]
    finally:
      keras.config.set_dtype_policy("float32")
    model = dict(rows)["model"]
    timing = (f"{seconds:7.0f} {STEPS.value * batch / seconds:9.1f}" if seconds is not None
              else f"{'(reused)':>17s}")
    lines.append(f"{precision:16s}{timing}  {model['abs_all']:.4f}  {model['abs_grid']:.4f}  "
                 f"{model['weighted_all']:.4f}")
    print(lines[-1], file=sys.stderr, flush=True)
  print(f"VAE of {CONFIG.value} {' '.join(SETTING.value)}: {STEPS.value} steps of {batch}, "
        f"Table 1/2 on {count} photos ({IMAGES.value or 'validation split'}), ab/128")
  print(f"{'precision':16s}{'train s':>7s} {'images/s':>9s}  {'abs All':7s} {'abs Grid':8s} "
        f"{'weighted All'}")
  print("\n".join(lines))


if __name__ == "__main__":
  app.run(main)
