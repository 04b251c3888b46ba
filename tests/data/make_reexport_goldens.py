"""Remakes tests/data/reexport_*.npz: the shipped SavedModels' outputs BEFORE their re-export.

Commit 471a426 (issue 47, rows 1-3) re-exported the four SavedModels of saved_models/ from the same
weights with the current code, so that each keeps the serving budget. Each golden,
tests/data/reexport_<folder>_<version>.npz, holds what that export as it was before it (commit
471a426^) answers on ``serving_default``, and tests/repo/test_reexports.py holds today's export to
it (colorizations within 1 uint8 level, weights within 1e-4).

Each file's keys: ``photo`` (the uint8 photo given, stored so that the test needs no
../shared/data), ``colorizations`` (uint8 [K, H, W, 3]) and ``weights`` (float32 [K]), from one call
of ``serving_default(image=photo[None])``. The photos:
  * 40x32, given to divcolor_lfw/5, cvae_lfw/1 and cgan_lfw/1:
    ../shared/data/lfw/ci/Abdullah_Gul/Abdullah_Gul_0003.jpg (250x250), decoded with PIL,
    rows 45:205 and columns 61:189 taken every 4th pixel (the face);
  * 32x40, given to divcolor_imagenet/1:
    ../shared/data/imagenet_val/ci/ILSVRC2012_val_00000355.JPEG (227x227), decoded with PIL,
    rows 50:178 and columns 40:200 taken every 4th pixel (a dog).
Measured when made: today's exports (471a426 onwards) answer exactly as the old ones (0 levels,
weights equal).

To remake it (from the clone's root, in its venv)::

  mkdir -p /tmp/old
  git archive 471a426^ saved_models/divcolor_lfw/5 saved_models/cvae_lfw/1 \\
      saved_models/cgan_lfw/1 saved_models/divcolor_imagenet/1 | tar -x -C /tmp/old
  python tests/data/make_reexport_goldens.py --old /tmp/old/saved_models \\
      --out tests/data --compare saved_models

``--compare`` also runs the exports of another saved_models folder (today's) on the same photos and
prints the max differences to the golden.
"""

import argparse
import pathlib

import numpy as np

COMMIT = "471a426^"
SHARED = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"
PHOTOS = {
    "lfw": ("lfw/ci/Abdullah_Gul/Abdullah_Gul_0003.jpg", slice(45, 205, 4), slice(61, 189, 4)),
    "imagenet": ("imagenet_val/ci/ILSVRC2012_val_00000355.JPEG", slice(50, 178, 4),
                 slice(40, 200, 4)),
}
MODELS = {  # saved_models/<folder>/<version>: the photo it colorizes
    "divcolor_lfw/5": "lfw",
    "cvae_lfw/1": "lfw",
    "cgan_lfw/1": "lfw",
    "divcolor_imagenet/1": "imagenet",
}


def golden_name(model):
  """``divcolor_lfw/5`` -> ``reexport_divcolor_lfw_5.npz``."""
  return "reexport_" + model.replace("/", "_") + ".npz"


def photos(shared=SHARED):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  out = {}
  for name, (path, rows, cols) in PHOTOS.items():
    rgb = np.asarray(Image.open(shared / path).convert("RGB"))
    out[name] = np.ascontiguousarray(rgb[rows, cols])
  return out


def serve(root, model, photo):
  """``serving_default`` of ``root/model`` on one photo: (uint8 [K, H, W, 3], float32 [K])."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(str(pathlib.Path(root) / model))
  out = loaded.signatures["serving_default"](image=tf.constant(photo[None]))
  return out["colorizations"].numpy()[0], out["weights"].numpy()[0].astype(np.float32)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--old", required=True, help=f"saved_models/ as of {COMMIT}, extracted")
  parser.add_argument("--out", required=True, help="the folder to write the goldens in")
  parser.add_argument("--compare", help="another saved_models/ folder to measure against them")
  args = parser.parse_args()
  photo = photos()
  for model, which in MODELS.items():
    colorizations, weights = serve(args.old, model, photo[which])
    path = pathlib.Path(args.out) / golden_name(model)
    np.savez_compressed(path, photo=photo[which], colorizations=colorizations, weights=weights)
    print(f"{path}: {path.stat().st_size} bytes")
    if args.compare:
      new_colorizations, new_weights = serve(args.compare, model, photo[which])
      level = np.abs(new_colorizations.astype(np.int16) - colorizations.astype(np.int16))
      weight = np.abs(new_weights - weights).max()
      print(f"  {model} vs {args.compare}: colorizations max {level.max()} levels"
            f" ({(level > 0).mean():.3%} of values differ), weights max {weight:.2e}")


if __name__ == "__main__":
  main()
