r"""Latency and peak memory of colorizing one photo, at a small and a full-resolution size.

  python bench/colorize_latency.py --model workdirs/lfw_skip
  python bench/colorize_latency.py --model workdirs/lfw_skip --sizes 4000x3000 --repeat 1

--model is a trained model directory (workdirs/lfw_skip, not in git, holds the bundled model's
Keras files on the development machine); it is exported now to a temporary SavedModel, so
serving_default is this code's. A real photo (--photo, default the first of
../shared/data/church_demo, 256x256) is resized with Pillow (bicubic) to each --sizes. Each
(size, path) runs in its own process, so that its peak RSS (VmHWM) is its own; each process warms
up on a 64x64 photo first (tracing), then times --repeat calls (the median is printed). Paths:

  * serving_default: the export's signature (uint8 image -> all M = 8 colorizations), beside a
    do-nothing SavedModel of the same signature (zeros of the same shapes) loaded in the same
    process: the ratio is the figure (the do-nothing is the floor of moving the pixels).
  * Colorizer.colorize(k=8): the Python API over the Keras models (divcolor-colorize's path for a
    model directory, minus writing the files), beside the same do-nothing serving_default.
  * SavedModelColorizer.colorize(k=8): the Python API over the export (divcolor-colorize's path
    for a SavedModel, minus the files).
  * networks alone (printed once: their inputs are 96x96 and 64x64 whatever the photo's size):
    features + MDN + the 8 decodes, batched (Colorizer.colour_fields on the squashed L).
  * divcolor-colorize --k 5 on the export (--cli): the whole command, model loading and PNG
    writing included; time and peak RSS of the child process.

The CPU may be shared (a training job): the 1-minute load average is printed with the figures.
Not a test: figures go in the notes.

Printed on the 2-core development machine, quiet (load average 1.1-1.4), 2026-11-26, for the
bundled model (``python bench/colorize_latency.py --repeat 3``; church photo):

   256x256   serving_default (8 outputs)        97 ms        1 ms     88x  0.94 GB (0.91 GB; 539 B)
   256x256   Colorizer.colorize k=8        95-105 ms        1 ms    ~95x  1.00 GB
   256x256   networks alone (batched)        72-77 ms  (Colorizer.colorize / networks: 1.32-1.37x)
   256x256   colorize_photos k=5 --grid       428 ms (the CLI after loading)  0.96 GB (0.92 GB)
  4000x3000  serving_default (8 outputs)      3550 ms      101 ms     35x  2.03 GB (0.94 GB; 98 B)
  4000x3000  Colorizer.colorize k=8           3490 ms       99 ms     35x  1.95 GB (1.01 GB; 84 B)
  4000x3000  SavedModelColorizer k=8          3533 ms      100 ms     35x  2.09 GB (0.94 GB; 103 B)
  4000x3000  colorize_photos k=5 --grid       4408 ms (the CLI after loading)  1.34 GB (0.95 GB)
  4000x3000  divcolor-colorize --k 5 --grid    10.4 s (all: start, load, write)  1.28 GB

Session 9 (2026-11-26, same command, load average 1.5): after the join changes (whole fields
upsampled by tf.image.resize; the per-pixel conversion compiled by XLA in the Python colorizers,
24 -> 16 ms for 8 x 256x256 measured in one process):

   256x256   Colorizer.colorize k=8        112-118 ms
   256x256   networks alone (batched)        91-99 ms  (Colorizer.colorize / networks: 1.19-1.26x)
  4000x3000  serving_default (8 outputs)      2772 ms       63 ms     44x  1.99 GB
  4000x3000  colorize_photos k=5 --grid  3677-4853 ms (the CLI after loading)  1.39-1.42 GB

The networks ran ~25% slower on this machine that day than in the table above, and the code
before the change, run beside it (PYTHONPATH on a checkout of it), gave 1.23-1.27x: the join's
overhead fell from ~25 to ~21 ms, which alone is not the margin. The 4000x3000 rows vary by
~30% between runs of --repeat 2 here.

Session 13 (2026-11-27, ``--repeat 3``, quiet, load average 0.4-2.0; the networks ran ~1.75x
slower than in session 8's table): Colorizer.colorize and the networks are now timed in
back-to-back pairs, so that the machine's drift (1.5x within minutes that day) moves both halves
of each ratio alike. Under a training run (``--repeat 9``, load 3.8) the pairs gave median 1.12x,
0.91-1.22x.

   256x256   Colorizer.colorize k=8            189 ms        1 ms    131x
   256x256   networks alone (batched)          132 ms  (5 back-to-back pairs: median 1.11x,
                                                        1.05-1.24x)
  4000x3000  serving_default (8 outputs)      5601 ms      225 ms     25x  1.79 GB (0.84 GB)
  4000x3000  colorize_photos k=5 --grid       5644 ms (the CLI after loading)  1.24 GB (0.91 GB)
  4000x3000  divcolor-colorize --k 5 --grid    16.6 s (all: start, load, write)  1.21 GB

The do-nothing floor is a memset of the outputs (99 ms for 8 x 12 MP x 3 bytes); the real pipeline
converts every one of those 96 M pixels from Lab (a cube, a 3x3 matrix, the sRGB gamma, the gamut
test) in TF ops at ~30 M pixels/s on 2 cores (bench/fullres_floor.py: a grey copy of the photo in
the output's layout alone is ~6x the floor, TensorFlow's bilinear upsampling ~40x). XLA made the
join slower here (34.6 ms against 18.2 ms for 8 x 256x256 at the time), so it is not used in the
exports. Importing TensorFlow alone takes 0.70 GB of RSS; ``colorize(lazy=True)`` (what
divcolor-colorize uses) joins one colorization at a time, so the CLI's peak is ~0.3 GB above the
loaded model for a 12-MP photo.

Before the strip-wise join (the same math on whole-photo float tensors), as measured in the issue
on this machine: serving_default 39 s vs 0.38 s (103x), divcolor-colorize --k 5 88 s (147 s with
--grid) and 5.8 GB peak RSS (~400 bytes per input pixel); 256x256: 292 ms vs 3 ms.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODEL = flags.DEFINE_string("model", "saved_models/divcolor_lfw", "A trained model directory or "
                            "an export (its Keras models are rebuilt from it).")
PHOTO = flags.DEFINE_string("photo", "", "The photo (default: the first of "
                            "../shared/data/church_demo).")
SIZES = flags.DEFINE_list("sizes", ["256x256", "4000x3000"], "WIDTHxHEIGHT sizes.")
REPEAT = flags.DEFINE_integer("repeat", 3, "Timed calls per measurement (median printed).")
CLI = flags.DEFINE_bool("cli", True, "Also time divcolor-colorize --k 5 at each size.")
K = 8
# Internal: one measurement in a child process.
_CHILD = flags.DEFINE_string("child", None, "internal: serving | colorizer | saved_model | files")
_SAVED_MODEL = flags.DEFINE_string("saved_model", None, "internal: the temporary export")
_IMAGE = flags.DEFINE_string("image", None, "internal: the resized photo (.npy; .png beside it)")
_NETWORKS = flags.DEFINE_bool("networks", False, "internal: also time the networks")

PATHS = ("serving", "colorizer", "saved_model")
LABELS = {"serving": "serving_default (8 outputs)", "colorizer": "Colorizer.colorize k=8",
          "saved_model": "SavedModelColorizer k=8", "networks": "networks alone (batched)"}


def _status(field):
  """A /proc/self/status figure in bytes (VmHWM: peak RSS, VmRSS: now)."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) * 1024
  return 0


def _median_seconds(fn, repeat):
  times = []
  for _ in range(repeat):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _do_nothing(tmp, k, field_size):
  """A SavedModel with serving_default's signature that returns zeros of its output shapes."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  class DoNothing(tf.Module):

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="image")])
    def serve(self, image):
      shape = tf.shape(image)
      b, h, w = shape[0], shape[1], shape[2]
      return {"colorizations": tf.zeros(tf.stack([b, k, h, w, 3]), tf.uint8),
              "ab": tf.zeros(tf.stack([b, k, field_size, field_size, 2])),
              "weights": tf.zeros(tf.stack([b, k]))}

  module = DoNothing()
  path = os.path.join(tmp, "do_nothing")
  tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
  return tf.saved_model.load(path).signatures["serving_default"]


def child():
  """One (size, path) measurement; prints RESULT <json>."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top

  photo = np.load(_IMAGE.value)
  warm = photo[:64, :64]
  result = {}
  with tempfile.TemporaryDirectory() as tmp:
    if _CHILD.value == "files":  # divcolor-colorize's work after its model is loaded
      from PIL import Image  # pylint: disable=g-import-not-at-top
      from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top
      colorizer = colorize.load(_SAVED_MODEL.value, max_megapixels=0)
      small = os.path.join(tmp, "warm.png")
      Image.fromarray(warm).save(small)
      outputs.colorize_photos(colorizer, [small], os.path.join(tmp, "warm"), k=5, grid=True)
      result["rss_before"] = _status("VmRSS")
      png = os.path.splitext(_IMAGE.value)[0] + ".png"
      result["seconds"] = _median_seconds(lambda: outputs.colorize_photos(
          colorizer, [png], tempfile.mkdtemp(dir=tmp), k=5, grid=True), REPEAT.value)
      result["peak"] = _status("VmHWM")
      print("RESULT " + json.dumps(result), flush=True)
      return
    nothing = _do_nothing(tmp, K, 64)
    nothing(image=tf.constant(warm[None]))
    if _CHILD.value == "serving":
      serve = tf.saved_model.load(_SAVED_MODEL.value).signatures["serving_default"]
      run = lambda: serve(image=tf.constant(photo[None]))["colorizations"].numpy()
      run_warm = lambda: serve(image=tf.constant(warm[None]))
    else:
      colorizer = (colorize.Colorizer.load(MODEL.value, max_megapixels=0)
                   if _CHILD.value == "colorizer"
                   else colorize.load(_SAVED_MODEL.value, max_megapixels=0))
      run = lambda: colorizer.colorize(photo, k=K)
      run_warm = lambda: colorizer.colorize(warm, k=K)
    run_warm()
    result["rss_before"] = _status("VmRSS")
    result["nothing"] = _median_seconds(
        lambda: nothing(image=tf.constant(photo[None]))["colorizations"].numpy(), REPEAT.value)
    result["seconds"] = _median_seconds(run, REPEAT.value)
    result["peak"] = _status("VmHWM")
    if _NETWORKS.value:
      c = colorize.Colorizer.load(MODEL.value)
      lightness = c.lightness(photo[None])
      grey, field = c.squash(lightness, c.grey_size), c.squash(lightness, c.field_size)
      forward = tf.function(lambda g, f: c.colour_fields(g, f, K)["ab"])
      forward(grey, field)
      # Pairs taken back to back, so that a drift in the machine's speed (it varies by 1.5x within
      # minutes here) moves both halves of each ratio alike.
      pairs = [(_median_seconds(run, 1), _median_seconds(lambda: forward(grey, field).numpy(), 1))
               for _ in range(max(REPEAT.value, 5))]
      result["networks"] = statistics.median(n for _, n in pairs)
      result["ratios"] = sorted(t / n for t, n in pairs)  # t: colorize, n: networks
  print("RESULT " + json.dumps(result), flush=True)


def _run_child(args):
  out = subprocess.run([sys.executable, os.path.abspath(__file__)] + args, capture_output=True,
                       text=True)
  lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
  if out.returncode != 0 or not lines:
    raise RuntimeError(f"child {args} failed ({out.returncode}):\n{out.stderr[-3000:]}")
  return json.loads(lines[-1][len("RESULT "):])


def _cli(saved_model, png, tmp):
  """divcolor-colorize --k 5 --grid on one photo: (seconds, peak RSS of the child in bytes)."""
  script = os.path.join(os.path.dirname(sys.executable), "divcolor-colorize")
  command = ([script] if os.path.exists(script) else
             [sys.executable, "-m", "divcolor_tf.bin.colorize"])
  out_dir = tempfile.mkdtemp(dir=tmp)
  start = time.perf_counter()
  process = subprocess.Popen(command + ["--model", saved_model, "--input", png, "--output",
                                        out_dir, "--k", "5", "--grid", "--max_megapixels", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  _, _, usage = os.wait4(process.pid, 0)
  seconds = time.perf_counter() - start
  stderr = process.stderr.read()
  if not os.listdir(out_dir):
    raise RuntimeError(f"divcolor-colorize wrote nothing:\n{stderr[-3000:]}")
  return seconds, usage.ru_maxrss * 1024


def _gb(n):
  return f"{n / 2**30:.2f} GB"


def _ms(seconds):
  return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if _CHILD.value:
    child()
    return
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import export  # pylint: disable=g-import-not-at-top

  photo_path = PHOTO.value or sorted(data.list_images("../shared/data/church_demo"))[0]
  photo = Image.open(photo_path).convert("RGB")
  sizes = [tuple(int(v) for v in size.lower().split("x")) for size in SIZES.value]
  print(f"photo {photo_path} ({photo.size[0]}x{photo.size[1]}), resized (Pillow bicubic) to "
        f"{', '.join(SIZES.value)}; model {MODEL.value}; {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f}; median of {REPEAT.value}", flush=True)
  with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    saved_model = export.export_saved_model(MODEL.value, os.path.join(tmp, "sm"))
    print(f"exported to a temporary SavedModel in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{'size':>10s}  {'path':30s} {'time':>9s} {'do-nothing':>11s} {'ratio':>7s}  "
          "peak RSS (before the photo; per input pixel)")
    for index, (width, height) in enumerate(sizes):
      image = np.asarray(photo.resize((width, height), Image.BICUBIC))
      npy = os.path.join(tmp, f"photo_{width}x{height}.npy")
      png = os.path.join(tmp, f"photo_{width}x{height}.png")
      np.save(npy, image)
      Image.fromarray(image).save(png)
      pixels = width * height
      for path in PATHS:
        networks = path == "colorizer" and index == 0
        r = _run_child(["--child", path, "--image", npy, "--saved_model", saved_model, "--model",
                        MODEL.value, "--repeat", str(REPEAT.value)]
                       + (["--networks"] if networks else []))
        per_pixel = (r["peak"] - r["rss_before"]) / pixels
        print(f"{width:>5d}x{height:<5d} {LABELS[path]:30s} {_ms(r['seconds']):>9s} "
              f"{_ms(r['nothing']):>11s} {r['seconds'] / r['nothing']:6.0f}x  "
              f"{_gb(r['peak'])} ({_gb(r['rss_before'])}; {per_pixel:.0f} B)", flush=True)
        if networks:
          ratios = r["ratios"]
          print(f"{width:>5d}x{height:<5d} {LABELS['networks']:30s} {_ms(r['networks']):>9s}"
                f"  (Colorizer.colorize / networks, {len(ratios)} back-to-back pairs: median "
                f"{statistics.median(ratios):.2f}x, {ratios[0]:.2f}-{ratios[-1]:.2f}x)",
                flush=True)
      if CLI.value:
        r = _run_child(["--child", "files", "--image", npy, "--saved_model", saved_model,
                        "--repeat", str(REPEAT.value)])
        print(f"{width:>5d}x{height:<5d} {'colorize_photos k=5 --grid':30s} {_ms(r['seconds']):>9s}"
              f" {'(the CLI after loading)':>19s}  {_gb(r['peak'])} ({_gb(r['rss_before'])})",
              flush=True)
        seconds, peak = _cli(saved_model, png, tmp)
        print(f"{width:>5d}x{height:<5d} {'divcolor-colorize --k 5 --grid':30s} {_ms(seconds):>9s}"
              f" {'(all: start, load, write)':>19s}  {_gb(peak)}", flush=True)
  print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
  app.run(main)
