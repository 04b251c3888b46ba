r"""Where the error-of-best is: colour across the photo's edges, or in whole regions (quality.md).

  python research/layout_filter.py --model saved_models/divcolor_lfw            # validation split
  python research/layout_filter.py --model workdirs/lfw --images ../shared/data/lfw/ci

Each of the top-k decoded means (64x64 ab) is passed through a guided filter (He et al., ECCV
2010) steered by the photo's own 64x64 lightness, so that colour edges follow the grey photo's
edges, and the error-of-best (Table 3, ab/128) is printed for each radius and regulariser beside
the unfiltered figure. It asks whether the remaining error is colour bleeding across the photo's
edges (which a filter fixes) or colour placed in the wrong regions (which it cannot).

A second table splits the unfiltered error by region: the centre square of the 64x64 field
(``--centre`` pixels a side: on LFW's aligned photos, the face) and the ring around it
(background, hair, clothes), for the best output of the whole field and for the best output of
each region on its own. A large gap between the two means the right colour of each region is
among the k outputs but not in one of them: the regions' colours vary independently, and k
whole colour fields cannot cover their combinations. Not a test and not part of the pipeline:
the figures go in docs/quality.md.
"""

import os

from absl import app
from absl import flags
import numpy as np
from scipy import ndimage

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

flags.DEFINE_string("model", "saved_models/divcolor_lfw", "A workdir or an export.")
flags.DEFINE_string("images", None, "A photo folder (default: the model's validation split).")
flags.DEFINE_integer("k", 5, "Top-k means by mixture weight.")
flags.DEFINE_list("radii", ["1", "2", "4", "8"], "Guided-filter radii, pixels at 64x64.")
flags.DEFINE_list("eps", ["1e-4", "1e-3", "1e-2"], "Regularisers (lightness scaled to [0, 1]).")
flags.DEFINE_integer("centre", 32, "Side of the centre square (pixels of the 64x64 field).")
FLAGS = flags.FLAGS


def box(x, radius):
  """Mean over (2r+1)^2 windows of the last two spatial axes of [B, K, H, W] (edges reflected)."""
  return ndimage.uniform_filter(x, size=(1, 1, 2 * radius + 1, 2 * radius + 1), mode="reflect")


def guided_filter(guide, source, radius, eps):
  """He et al.'s guided filter: per window, source ~ a * guide + b, averaged over the windows."""
  mean_g, mean_s = box(guide, radius), box(source, radius)
  slope = (box(guide * source, radius) - mean_g * mean_s) / (
      box(guide * guide, radius) - mean_g * mean_g + eps)
  offset = mean_s - slope * mean_g
  return box(slope, radius) * guide + box(offset, radius)


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from divcolor_tf import colorize, data, exported  # pylint: disable=g-import-not-at-top
  colorizer = colorize.Colorizer.load(exported.workdir_for(FLAGS.model))
  if FLAGS.images:
    paths = data.list_images(FLAGS.images)
  else:
    _, paths = data.config_paths(colorizer.config.data)
  dataset = data.make_dataset(paths, field_size=colorizer.field_size,
                              grey_size=colorizer.grey_size, batch_size=32, drop_near_grey=True)

  @tf.function
  def top_k(grey, lightness):
    means, logits = colorizer.mixture(grey)
    order = tf.math.top_k(logits, FLAGS.k, sorted=True).indices
    return tf.gather(colorizer.decode(means, lightness), order, batch_dims=1)

  settings = [(int(r), float(e)) for r in FLAGS.radii for e in FLAGS.eps]
  errors = {None: []} | {s: [] for s in settings}
  regions = {"centre": [], "ring": [], "centre_own": [], "ring_own": []}
  for batch in dataset:
    truth = batch["colour_field"].numpy()[:, None]  # [B, 1, F, F, 2]
    fields = top_k(batch["grey"], batch["lightness"]).numpy().astype(np.float64)
    guide = np.broadcast_to(batch["lightness"].numpy()[:, None, ..., 0] / 100.0, fields.shape[:4])
    pixels = np.abs(fields - truth).mean(-1)  # [B, K, F, F]
    whole = pixels.mean((2, 3))
    errors[None].append(whole.min(1))
    size = pixels.shape[-1]
    low = (size - FLAGS.centre) // 2
    inside = np.zeros((size, size), bool)
    inside[low:low + FLAGS.centre, low:low + FLAGS.centre] = True
    best = whole.argmin(1)
    for name, mask in (("centre", inside), ("ring", ~inside)):
      error = pixels[..., mask].mean(-1)  # [B, K]
      regions[name].append(error[np.arange(len(best)), best])
      regions[name + "_own"].append(error.min(1))
    for radius, eps in settings:
      filtered = np.stack([guided_filter(guide, fields[..., c], radius, eps) for c in (0, 1)], -1)
      errors[(radius, eps)].append(np.abs(filtered - truth).mean((2, 3, 4)).min(1))
  count = len(np.concatenate(errors[None]))
  print(f"{FLAGS.model}: {count} photos, error-of-best of the top {FLAGS.k} (ab/128)")
  print("| guided filter | error-of-best |\n|---|---|")
  for setting, values in errors.items():
    name = "none" if setting is None else f"radius {setting[0]}, eps {setting[1]:g}"
    print(f"| {name} | {np.concatenate(values).mean():.4f} |")
  share = FLAGS.centre ** 2 / float(size * size)
  mean = {name: np.concatenate(values).mean() for name, values in regions.items()}
  print(f"\n| region (centre {FLAGS.centre}x{FLAGS.centre} of {size}x{size}) | best output of the "
        "whole field | best output of the region alone |\n|---|---|---|")
  for name in ("centre", "ring"):
    print(f"| {name} | {mean[name]:.4f} | {mean[name + '_own']:.4f} |")
  weighted = {kind: share * mean["centre" + kind] + (1 - share) * mean["ring" + kind]
              for kind in ("", "_own")}
  print(f"| whole field (pixel-weighted) | {weighted['']:.4f} | {weighted['_own']:.4f} |")


if __name__ == "__main__":
  app.run(main)
