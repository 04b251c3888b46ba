r"""How much of issue 11's "4000x3000 through serving_default <= 3x the floor" TF ops can reach.

  python bench/fullres_floor.py
  python bench/fullres_floor.py --size 4000x3000 --k 8 --repeat 5

The floor is a do-nothing of serving_default's output: K uint8 sRGB colorizations of the photo's
size (bench/colorize_latency.py's do-nothing SavedModel returns ``tf.zeros`` of that shape). Every
real colorization has to do more per output pixel than the floor's memset: at the least, upsample
its 64x64 ab field to the pixel (the paper's bilinear U) and write a byte. This script times, in
one process and interleaved (so that the machine's drift moves every row alike), a ladder of
strict subsets of that work on a real photo's lightness, each as a multiple of the floor:

  1. floor: ``tf.zeros`` of [1, K, H, W, 3] uint8 (the do-nothing's output);
  2. fill: the photo's L cast to uint8 and tiled to [1, K, H, W, 3] (a grey copy of the photo in
     the output's layout, no colour at all);
  3. upsample: the K 64x64x2 ab fields resized to H x W (``tf.image.resize``, bilinear), cast to
     uint8 with L: the least any join of a low-resolution field with full-resolution L does;
  4. the same as 3 compiled by XLA (``jit_compile=True``), which fuses the cast into the resize;
  5. the library's join (``fullres.join_lightness``: upsample, Lab -> sRGB, the gamut fit, in
     strips), as serving_default runs it, and with XLA (the Python colorizers' ``fused`` path).

Rows 2-4 leave out the colour conversion entirely, so a row above 3x says the bar is out of reach
of TensorFlow's ops on this machine, whatever the conversion costs. Not a test: figures go in
the notes (issue 11).

Printed on the 2-core development machine (2026-11-27, ``--repeat 3``, 4000x3000, K 8, sharing
the CPU with a training run: the rounds are interleaved, so the ratios hold; peak RSS ~9.6 GB,
from the unfused rows' whole-photo float tensors):

  floor: zeros of the output (do-nothing)        175 ms    1.0x floor    1.8 ns/px
  fill: L cast and tiled to K x 3               1035 ms    5.9x floor   10.8 ns/px
  upsample ab + L, cast (no conversion)         6898 ms   39.4x floor   71.8 ns/px
  the same, XLA                                26961 ms  154.1x floor  280.9 ns/px
  join_lightness (serving_default's)            7789 ms   44.5x floor   81.1 ns/px
  join_lightness, fused (XLA conversion)        6051 ms   34.6x floor   63.0 ns/px

A grey copy of the photo in the output's layout already costs ~6x the floor (an earlier run, with
``tf.broadcast_to`` instead of ``tf.tile``: 4.4x; numpy's broadcast copy of the same bytes took
1.25 s against 94 ms for its memset), and the bilinear upsampling every join needs costs ~40x
with TensorFlow's resize (XLA's is ~4x slower still). The library's join, colour conversion and
gamut fit included, costs 0.9-1.1x that upsampling alone. So the issue's "<= 3x the
floor" is below what TensorFlow's ops reach on this CPU for the pixels alone; meeting it needs a
fused per-pixel kernel, which the issue rules out.
"""

import os
import statistics
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIZE = flags.DEFINE_string("size", "4000x3000", "WIDTHxHEIGHT of the photo.")
K = flags.DEFINE_integer("k", 8, "Colorizations per photo (serving_default returns M = 8).")
REPEAT = flags.DEFINE_integer("repeat", 5, "Interleaved rounds (the median is printed).")
PHOTO = flags.DEFINE_string("photo", "", "The photo (default: the first of "
                            "../shared/data/church_demo), resized with Pillow (bicubic).")


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from divcolor_tf import color, data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.inference import fullres  # pylint: disable=g-import-not-at-top

  width, height = (int(v) for v in SIZE.value.lower().split("x"))
  k = K.value
  photo_path = PHOTO.value or sorted(data.list_images("../shared/data/church_demo"))[0]
  photo = np.asarray(Image.open(photo_path).convert("RGB").resize((width, height),
                                                                   Image.BICUBIC))
  lightness = color.rgb_to_lab(tf.constant(photo[None], tf.float32) / 255.0)[..., :1]
  # The colour fields: the photo's own ab at 64x64 (any fields cost the same).
  small = np.asarray(Image.fromarray(photo).resize((64, 64), Image.BICUBIC))
  ab = color.rgb_to_lab(tf.constant(small[None], tf.float32) / 255.0)[..., 1:] / 128.0
  fields = tf.tile(ab[:, None], [1, k, 1, 1, 1])  # [1, K, 64, 64, 2]

  @tf.function
  def floor():
    return tf.zeros([1, k, height, width, 3], tf.uint8)

  @tf.function
  def fill(lightness):
    plane = tf.cast(lightness * 2.55, tf.uint8)  # [1, H, W, 1]
    return tf.tile(plane[:, None], [1, k, 1, 1, 3])  # tile: ~15% faster here than broadcast_to

  def upsample(lightness, fields):
    ab = tf.image.resize(fields[0], [height, width])  # [K, H, W, 2], bilinear
    joined = tf.concat([tf.broadcast_to(lightness, [k, height, width, 1]), 128.0 * ab], -1)
    return tf.cast(tf.clip_by_value(joined * 2.0 + 10.0, 0.0, 255.0), tf.uint8)[None]

  join = fullres.join_lightness
  rows = [  # (label, function, arguments): each function traced once, at the warm-up
      ("floor: zeros of the output (do-nothing)", floor, ()),
      ("fill: L cast and tiled to K x 3", fill, (lightness,)),
      ("upsample ab + L, cast (no conversion)", tf.function(upsample), (lightness, fields)),
      ("the same, XLA", tf.function(upsample, jit_compile=True), (lightness, fields)),
      ("join_lightness (serving_default's)", tf.function(join), (lightness, fields)),
      ("join_lightness, fused (XLA conversion)",
       tf.function(lambda l, c: join(l, c, fused=True)), (lightness, fields)),
  ]
  print(f"photo {photo_path} resized to {width}x{height}; K {k}; {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f}; median of {REPEAT.value} interleaved rounds",
        flush=True)
  times = {label: [] for label, _, _ in rows}
  for _, fn, args in rows:  # warm-up (tracing, XLA compilation)
    fn(*args).numpy()
  for _ in range(REPEAT.value):
    for label, fn, args in rows:
      start = time.perf_counter()
      fn(*args).numpy()
      times[label].append(time.perf_counter() - start)
  base = statistics.median(times[rows[0][0]])
  pixels = k * width * height
  for label, _, _ in rows:
    median = statistics.median(times[label])
    print(f"  {label:42s} {1000 * median:7.0f} ms {median / base:6.1f}x floor "
          f"{1e9 * median / pixels:6.1f} ns/px", flush=True)
  print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
  app.run(main)
