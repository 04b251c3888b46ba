r"""Decoding a photo's k codes with a "+skip" decoder: the grey path once per code (``vae.decode``
on the k codes, each with the photo's L, as before 2026-12-07) against once per photo
(``vae.decode_each``, what colorizing, the joint stage and the ``decode_each`` signature run).

  python bench/decode_each.py --model workdirs/imagenet_v3 [--photos 2 --k 5 --repeat 5]

--model: a training workdir (its decoder.keras; a "+skip" decoder, with or without
``vae.grey_trunk``). Both ways are traced once, then timed on the same random codes and lightness;
prints the median seconds of each, their ratio, the largest difference between their fields and
the machine's load average (compare ratios measured in one run only).
"""

import os
import statistics
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from divcolor_tf import workdir as workdir_lib
from divcolor_tf.models import vae

flags.DEFINE_string("model", None, "A training workdir with a +skip decoder.", required=True)
flags.DEFINE_integer("photos", 2, "Photos decoded together.")
flags.DEFINE_integer("k", 5, "Codes per photo.")
flags.DEFINE_integer("repeat", 5, "Timed calls of each way (the median is printed).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  decoder = workdir_lib.load_keras(FLAGS.model, "decoder.keras")
  if not vae.is_skip(decoder):
    raise SystemExit(f"{FLAGS.model}: its decoder has no grey path (not +skip): nothing to compare")
  b, k, d = FLAGS.photos, FLAGS.k, vae.latent_size(decoder)
  f = int(decoder.input["lightness"].shape[1])
  rng = np.random.default_rng(0)
  z = tf.constant(rng.normal(size=(b, k, d)).astype(np.float32))
  lightness = tf.constant(rng.uniform(0, 100, (b, f, f, 1)).astype(np.float32))
  per_code = tf.function(lambda z, l: tf.reshape(
      vae.decode(decoder, tf.reshape(z, [-1, d]), tf.repeat(l, k, axis=0)), [b, k, f, f, 2]))
  per_photo = tf.function(lambda z, l: vae.decode_each(decoder, z, l))
  times = {}
  for name, fn in (("grey path once per code", per_code), ("once per photo", per_photo)):
    fn(z, lightness)
    runs = []
    for _ in range(FLAGS.repeat):
      start = time.perf_counter()
      fn(z, lightness).numpy()
      runs.append(time.perf_counter() - start)
    times[name] = statistics.median(runs)
  gap = float(np.abs(per_code(z, lightness) - per_photo(z, lightness)).max())
  once, each = times["grey path once per code"], times["once per photo"]
  grey_trunk = any(l.name == "grey_semantic_trunk"
                   for l in decoder.get_layer("grey_encoder").layers)
  print(f"{FLAGS.model} ({'with' if grey_trunk else 'without'} vae.grey_trunk), {b} photos x "
        f"{k} codes: grey path once per code {once:.3f} s, once per photo {each:.3f} s "
        f"({once / each:.2f}x); fields differ by at most {gap:.1e} "
        f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
  app.run(main)
