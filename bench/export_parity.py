"""Export a model and measure it: file sizes, SavedModel (session loader) and TFLite parity.

  python bench/export_parity.py --model workdirs/lfw --images ../shared/data/lfw/ci --n 8
  python bench/export_parity.py --config configs/lfw.py:cpu   # untrained models: sizes only

Exports into a temporary directory (nothing is kept): the SavedModel (its variable shards'
sizes; every photo's serving_default output through a tf.compat.v1 session vs the in-memory
Colorizer), then the TFLite pipeline (--size) and decoder in fp32 / fp16 / dynamic: size,
conversion time, LiteRT latency per photo, and max / mean |TFLite - TF| against a Colorizer
with the TFLite settings (antialias=False). With --config the models are untrained (decoded
colours near grey), so the parity figures mean little there; the sizes are the real ones.
Not a test: the figures go in the notes and docs/deploy.md.
"""

import os
import tempfile
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODEL = flags.DEFINE_string("model", None, "A trained model directory.")
CONFIG = flags.DEFINE_string("config", None, "Instead of --model: build untrained models of "
                             "this config (e.g. configs/lfw.py:cpu).")
IMAGES = flags.DEFINE_string("images", "../shared/data/lfw/ci", "photos for the parity checks")
N = flags.DEFINE_integer("n", 4, "photos")
SIZE = flags.DEFINE_integer("size", 256, "TFLite pipeline input size")


def _untrained(config_path):
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import features, mdn, vae  # pylint: disable=g-import-not-at-top
  config = config_lib.load(config_path)
  decoder = vae.build_decoder(config.vae, config.data.field_size)
  trunk = features.build_trunk(features.build_feature_network(
      config.features, grey_size=config.data.grey_size))
  mixture = mdn.build_mdn(config.mdn, config.vae.latent_dim, trunk.output.shape[1:])
  return colorize.Colorizer(trunk, mixture, decoder, config)


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data, export  # pylint: disable=g-import-not-at-top

  if bool(MODEL.value) == bool(CONFIG.value):
    raise app.UsageError("give --model or --config")
  c = export.as_colorizer(MODEL.value) if MODEL.value else _untrained(CONFIG.value)
  params = sum(int(np.prod(v.shape)) for m in (c.trunk, c.mdn, c.decoder) for v in m.weights)
  print(f"{MODEL.value or CONFIG.value}: {params / 1e6:.2f}M parameters (trunk + MDN + decoder),"
        f" M={c.num_components}, d={c.latent_dim}, grey {c.grey_size}")
  photos = [data.load_rgb(p) for p in data.list_images(IMAGES.value)[:N.value]]
  with tempfile.TemporaryDirectory() as tmp:
    start = time.time()
    path = export.export_saved_model(c, os.path.join(tmp, "sm"))
    print(f"SavedModel export {time.time() - start:.1f}s")
    for root, _, names in os.walk(path):
      for name in sorted(names):
        size = os.path.getsize(os.path.join(root, name))
        if size > 2**20:
          print(f"  {os.path.relpath(os.path.join(root, name), path)}: {size / 2**20:.1f} MiB")
    expected = [c.colorize(p, k=c.num_components) for p in photos]
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
      signature = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path).signature_def[
          "serving_default"]
      fetches = {k: v.name for k, v in signature.outputs.items()}
      served = [sess.run(fetches, {signature.inputs["image"].name: p[None]}) for p in photos]
    levels = max(np.abs(s["colorizations"][0].astype(int) - e.colorizations).max()
                 for s, e in zip(served, expected))
    ab = max(np.abs(s["ab"][0] - e.ab).max() for s, e in zip(served, expected))
    print(f"session loader vs Colorizer: max {levels} uint8 levels, ab {ab:.2e}")

    same = export.as_colorizer(c, **export.TFLITE_SETTINGS)
    images = [tf.cast(tf.round(tf.image.resize(p[None], [SIZE.value] * 2)), tf.uint8).numpy()
              for p in photos]
    references = [same.colorize_tensor(i.astype(np.float32) / 255, k=c.num_components)
                  for i in images]
    print(f"| TFLite | pipeline {SIZE.value} | decoder | convert | LiteRT / photo | max (mean) "
          "levels | ab max (mean) | weights max |")
    print("|---|---|---|---|---|---|---|---|")
    for q in export.QUANTIZATIONS:
      start = time.time()
      pipe = export.export_tflite(c, os.path.join(tmp, f"p_{q}.tflite"), q, SIZE.value)
      dec = export.export_tflite(c, os.path.join(tmp, f"d_{q}.tflite"), q, part="decoder")
      seconds = time.time() - start
      runner = Interpreter(model_path=pipe["path"]).get_signature_runner("serving_default")
      level_errors, ab_errors, weight_errors, latency = [], [], [], []
      for image, (rgb, ab_ref, weights) in zip(images, references):
        start = time.time()
        out = runner(image=image)
        latency.append(time.time() - start)
        level_errors.append(np.abs(out["colorizations"].astype(int) - rgb.numpy()))
        ab_errors.append(np.abs(out["ab"] - ab_ref.numpy()))
        weight_errors.append(np.abs(out["weights"] - weights.numpy()).max())
      levels, abs_ = np.concatenate(level_errors), np.concatenate(ab_errors)
      print(f"| {q} | {pipe['bytes'] / 2**20:.2f} MiB | {dec['bytes'] / 2**20:.2f} MiB | "
            f"{seconds:.0f}s | {np.median(latency) * 1000:.0f} ms | {levels.max()} "
            f"({levels.mean():.3f}) | {abs_.max():.2e} ({abs_.mean():.1e}) | "
            f"{max(weight_errors):.1e} |")


if __name__ == "__main__":
  app.run(main)
