r"""divcolor-colorize: diverse colorizations of photos, at their own size (paper Section 4).

  divcolor-colorize --model workdirs/lfw --input photos/ --output colorized/ --k 5 --grid

For each photo, writes OUTPUT/<stem>_<i>.png, i = 1..K: the top-K means of the MDN's mixture in
descending order of mixture weight, each decoded by the VAE and joined with the photo's own
full-resolution lightness (a colour photo is reduced to its lightness first). --samples N draws N
embeddings from the mixture instead (reproducible with --seed). --grid adds <stem>_grid.png: the
grey input beside its K colorizations, titled with their mixture weights. Photos in subfolders
of --input keep their subfolder under --output.

Existing outputs are never replaced without --overwrite. A photo that cannot be read or written
is named in a one-line error and the others go on; the exit status is 0 only if every photo was
colorized.
"""

import os
import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli

flags.DEFINE_string("model", None, "A model directory (divcolor-train-vae, -features, -mdn) or "
                    "an exported SavedModel (divcolor-export; e.g. saved_models/divcolor_lfw).")
flags.DEFINE_string("input", None, "A photo, a directory (searched recursively), a list file "
                    "or a glob.")
flags.DEFINE_string("output", None, "Where the colorizations go (created if missing).")
flags.DEFINE_integer("k", 5, "Colorizations per photo: the top-k means by mixture weight.")
flags.DEFINE_integer("samples", 0, "Instead of the top-k means, draw this many embeddings from "
                     "the mixture (0: top-k).")
flags.DEFINE_integer("seed", None, "Seed of --samples (default: a fresh one, printed).")
flags.DEFINE_bool("grid", False, "Also write <stem>_grid.png: grey input and its colorizations.")
flags.DEFINE_bool("overwrite", False, "Replace existing output files.")
flags.mark_flags_as_required(["model", "input", "output"])
FLAGS = flags.FLAGS

PROG = "divcolor-colorize"


def _error(message):
  print(f"{PROG}: {' '.join(str(message).split())}", file=sys.stderr)


def output_stem(path, input_root, output_dir):
  """OUTPUT/<relative folder>/<stem> for a photo found under ``input_root`` (a directory)."""
  stem = os.path.splitext(os.path.basename(path))[0]
  if input_root and os.path.isdir(input_root):
    folder = os.path.relpath(os.path.dirname(os.path.abspath(path)), os.path.abspath(input_root))
    if folder != "." and not folder.startswith(os.pardir):
      return os.path.join(output_dir, folder, stem)
  return os.path.join(output_dir, stem)


def write_grid(path, rgb, result, sampled):
  """The grey input and its K colorizations side by side, titled with their mixture weights."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  from skimage import color as skcolor  # pylint: disable=g-import-not-at-top
  height, width = rgb.shape[:2]
  grey = skcolor.rgb2lab(rgb)[..., 0]
  panels = 1 + len(result.colorizations)
  panel_width = 2.5 * width / max(height, width) + 0.2
  fig, axes = plt.subplots(1, panels, figsize=(panels * panel_width, 2.5 * height /
                                               max(height, width) + 0.6), squeeze=False)
  axes = axes[0]
  axes[0].imshow(grey, cmap="gray", vmin=0, vmax=100)
  axes[0].set_title("input (L)", fontsize=9)
  for i, (image, weight, component) in enumerate(zip(
      result.colorizations, result.weights, result.components), start=1):
    axes[i].imshow(image)
    label = f"sample {i}, m={component}" if sampled else f"#{i}"
    axes[i].set_title(f"{label}: pi={weight:.3f}", fontsize=9)
  for ax in axes:
    ax.axis("off")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.samples < 0:
    raise app.UsageError("--samples must be >= 0")
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  try:
    paths = data.list_images(FLAGS.input)
    colorizer = colorize.load(FLAGS.model)
  except (ValueError, FileNotFoundError) as e:
    _error(e)
    sys.exit(1)
  sampled = FLAGS.samples > 0
  count = FLAGS.samples if sampled else FLAGS.k
  if not sampled and not 1 <= FLAGS.k <= colorizer.num_components:
    _error(f"--k must be in [1, {colorizer.num_components}] (the mixture's components), "
           f"got {FLAGS.k}")
    sys.exit(1)
  seed = FLAGS.seed
  if sampled and seed is None:
    seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)

  done, failed = 0, []
  for index, path in enumerate(paths):
    stem = output_stem(path, FLAGS.input, FLAGS.output)
    outputs = [f"{stem}_{i}.png" for i in range(1, count + 1)]
    grid_path = f"{stem}_grid.png"
    existing = [p for p in outputs + ([grid_path] if FLAGS.grid else []) if os.path.exists(p)]
    if existing and not FLAGS.overwrite:
      _error(f"{existing[0]}: exists; pass --overwrite to replace it (skipped {path})")
      failed.append(path)
      continue
    try:
      rgb = data.load_rgb(path)
      if sampled:
        # Photo i's draws: its own stream of the run's seed, whatever else is in the folder.
        photo_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)
        result = colorizer.colorize(rgb, samples=count, seed=photo_seed)
      else:
        result = colorizer.colorize(rgb, k=count)
      os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
      for out_path, image in zip(outputs, result.colorizations):
        Image.fromarray(image).save(out_path)
      if FLAGS.grid:
        write_grid(grid_path, rgb, result, sampled)
    except data.ImageError as e:
      _error(e)
      failed.append(path)
      continue
    except (OSError, ValueError) as e:
      _error(f"{path}: {e}")
      failed.append(path)
      continue
    done += 1

  mode = (f"{count} samples from the mixture, seed {seed}" if sampled
          else f"top-{count} means by mixture weight")
  print(f"{PROG}: colorized {done} of {len(paths)} photo(s) ({mode}) into {FLAGS.output}"
        + (f"; {len(failed)} failed" if failed else ""))
  sys.exit(0 if not failed else 1)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
