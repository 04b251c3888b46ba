r"""Which grey features carry a photo's colour field? A linear probe of grey-level trunks (issue 44).

Each trunk's features of a photo's grey level, average-pooled to a 4x4 grid, predict the photo's
64x64 colour field (ab/128) through its first PCA coefficients, by ridge regression fitted on
Tiny-ImageNet training photos and scored on Tiny-ImageNet validation photos (the general model's
domain; neither set is imagenet_val/ci, the test split). One prediction per photo, so this is
the mean of what a trunk tells of the colour, not the diversity the MDN adds: a measure of how
much an MDN reading these features could know, cheap enough to compare trunks, endpoints and
input sizes before a long training run.

  python research/trunk_probe.py [--train 6000] [--val 2000]

Rows: the photo-blind mean field (the floor), grey pixels at 16x16 (the photo's own layout with
no semantics), the general model v1's trained Zhang-style trunk (saved_models/divcolor_imagenet,
64x64 grey, G 8x8), EfficientNet-Lite0 (ImageNet weights, the [pretrained] extra) at several
endpoints and grey sizes, and the PCA reconstruction of the truth (the ceiling of the probe).
Columns: mean absolute error of the predicted field (ab/128; Table 1-3's unit), its chroma
relative to the truth's, the error of the best of the probe's 5 nearest training fields' PCA
codes (a small "diverse" reading: retrieval by the features), and seconds to extract.
"""

import argparse
import glob
import os
import time

import numpy as np

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared",
                      "data")


def photos(pattern, count, seed):
  paths = sorted(glob.glob(os.path.join(SHARED, pattern), recursive=True))
  return [paths[i] for i in np.random.default_rng(seed).permutation(len(paths))[:count]]


def pooled(maps, grid=4):
  """[B, h, w, c] -> [B, grid * grid * c]: average over a grid x grid partition (h, w >= 1)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  b, h, w, c = maps.shape
  if h < grid:
    maps = tf.image.resize(maps, [grid, grid], method="nearest")
    h = w = grid
  out = tf.nn.avg_pool2d(maps, [h // grid, w // grid], [h // grid, w // grid], "VALID")
  return out.numpy().reshape(b, -1)


def examples(paths, grey_size):
  """(grey L [N, S, S, 1], colour fields [N, 64, 64, 2]) of the readable, not near-grey photos."""
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  greys, fields = [], []
  for batch in data.make_dataset(paths, grey_size=grey_size, batch_size=64, drop_near_grey=True):
    greys.append(batch["grey"].numpy())
    fields.append(batch["colour_field"].numpy())
  return np.concatenate(greys), np.concatenate(fields)


def ridge(x, y, alpha):
  mean_x, mean_y = x.mean(0), y.mean(0)
  x = x - mean_x
  gram = x @ x.T + alpha * np.eye(len(x))  # the dual: N x N, for any feature size
  weights = x.T @ np.linalg.solve(gram, y - mean_y)
  return lambda z: (z - mean_x) @ weights + mean_y


def score(pred_fields, truth):
  err = np.abs(pred_fields - truth).mean()
  chroma = np.sqrt((pred_fields ** 2).sum(-1)).mean() / np.sqrt((truth ** 2).sum(-1)).mean()
  return err, chroma


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--train", type=int, default=6000)
  parser.add_argument("--val", type=int, default=2000)
  parser.add_argument("--components", type=int, default=20)
  args = parser.parse_args()
  from divcolor_tf import exported  # pylint: disable=g-import-not-at-top
  from divcolor_tf import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import efficientnet_lite  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import features  # pylint: disable=g-import-not-at-top

  train_paths = photos("tiny_imagenet_train/**/*.JPEG", args.train, 0)
  val_paths = photos("tiny_imagenet_val/images/*.JPEG", args.val, 1)
  flat = lambda f: f.reshape(len(f), -1)
  _, train_fields = examples(train_paths, 64)
  _, val_fields = examples(val_paths, 64)
  mean = flat(train_fields).mean(0)
  _, _, vt = np.linalg.svd(flat(train_fields)[:4000] - mean, full_matrices=False)
  basis = vt[:args.components]  # [n, 8192]
  code = lambda f: (flat(f) - mean) @ basis.T
  field = lambda c: (c @ basis + mean).reshape(-1, 64, 64, 2)
  train_codes = code(train_fields)
  rows = [("photo-blind mean field", score(np.broadcast_to(mean.reshape(64, 64, 2), val_fields.shape), val_fields) + (float("nan"), 0.0)),
          (f"PCA-{args.components} of the truth (the probe's ceiling)", score(field(code(val_fields)), val_fields) + (float("nan"), 0.0))]

  def probe(name, x_train, x_val, seconds):
    scale = x_train.std() + 1e-8
    x_train, x_val = x_train / scale, x_val / scale
    best = None
    for alpha in (1e1, 1e2, 1e3, 1e4):
      predict = ridge(x_train, train_codes, alpha * x_train.shape[1] / 1000)
      result = score(field(predict(x_val)), val_fields)
      if best is None or result[0] < best[0]:
        best = result
    # retrieval: the 5 training photos nearest in these features; the best of their fields
    d = (x_val ** 2).sum(1)[:, None] - 2 * x_val @ x_train.T + (x_train ** 2).sum(1)[None]
    nearest = np.argsort(d, axis=1)[:, :5]
    candidates = field(train_codes[nearest.ravel()]).reshape(len(x_val), 5, 64, 64, 2)
    eob = np.abs(candidates - val_fields[:, None]).mean(axis=(2, 3, 4)).min(1).mean()
    rows.append((name, best + (eob, seconds)))
    print(f"{name}: {best[0]:.4f} chroma {best[1]:.2f} retrieval best-of-5 {eob:.4f} "
          f"({seconds:.0f} s)", flush=True)

  def extracted(grey_size, extract):
    """{name: (train features, val features)} and the seconds it took."""
    start = time.time()
    out = [extract(examples(p, grey_size)[0]) for p in (train_paths, val_paths)]
    return {name: (out[0][name], out[1][name]) for name in out[0]}, time.time() - start

  found, seconds = extracted(64, lambda g: {"grey": pooled(g, 16)})
  probe("grey pixels 16x16", *found["grey"], seconds)
  v1 = exported.workdir_for("saved_models/divcolor_imagenet")
  trunk = workdir_lib.load_keras(v1, workdir_lib.TRUNK)
  found, seconds = extracted(64, lambda g: {"g": pooled(trunk.predict(g, batch_size=64,
                                                                        verbose=0))})
  probe("v1's trained Zhang-style trunk (64x64, G 8x8x128)", *found["g"], seconds)
  net = efficientnet_lite.pretrained_efficientnet_lite0()  # grey level in, five endpoints out
  grey_level = features.GreyLevel()

  def endpoints(g):
    maps = {"stride_16": [], "stride_32": []}
    for i in range(0, len(g), 64):
      out = net(grey_level(g[i:i + 64]), training=False)
      for name, values in maps.items():
        values.append(pooled(out[name]))
    return {name: np.concatenate(values) for name, values in maps.items()}

  for size in (64, 128, 224):
    found, seconds = extracted(size, endpoints)
    for name in ("stride_16", "stride_32"):
      probe(f"EfficientNet-Lite0 {name} at {size}x{size}", *found[name], seconds)
    both = tuple(np.concatenate([found["stride_16"][i], found["stride_32"][i]], 1)
                 for i in (0, 1))
    probe(f"EfficientNet-Lite0 stride_16 + stride_32 at {size}x{size}", *both, seconds)
  print()
  print("| grey features | abs. error (ab/128) | chroma ratio | retrieval best of 5 | extraction s |")
  print("|---|---|---|---|---|")
  for name, (err, chroma, eob, seconds) in rows:
    print(f"| {name} | {err:.4f} | {chroma:.2f} | {eob:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
  main()
