r"""Peak memory of divcolor-colorize on one large photo, and on photos it refuses (issue 29).

  python bench/photo_memory.py
  python bench/photo_memory.py --model saved_models/divcolor_lfw --k 5

Each row is one ``divcolor-colorize --input PHOTO --output TMP --k K`` run in a fresh process
(``--grid`` where the row says so); its peak resident memory is the child's ``ru_maxrss`` from
``os.wait4``, so rows do not share a process and import costs are in every row alike. The photos
are made here from scikit-image's astronaut (resized, so they have real texture), saved as JPEG;
the bombs are PNGs of one colour (a few hundred KB that declare 8200x8200 or 13000x13000).

The bars (issue 29): a 6000x4000 photo at most 1.5 GB with --grid; a refused photo at most what a
12-megapixel one costs. The figures printed go in the issue's note; this is not a test.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

from PIL import Image


def _photo(path, width, height):
  import skimage.data  # pylint: disable=g-import-not-at-top
  Image.fromarray(skimage.data.astronaut()).resize((width, height), Image.BILINEAR).save(
      path, quality=92)


def _bomb(path, side):
  Image.new("L", (side, side), 128).save(path)


def _script(name):
  script = os.path.join(os.path.dirname(sys.executable), name)
  return [script] if os.path.exists(script) else [sys.executable, "-m",
                                                  f"divcolor_tf.bin.{name[8:]}"]


def run(args, photo, out, grid):
  command = _script("divcolor-colorize") + ["--input", photo, "--output", out, "--k",
                                           str(args.k)] + (["--grid"] if grid else [])
  if args.model:
    command += ["--model", args.model]
  start = time.time()
  process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  _, status, usage = os.wait4(process.pid, 0)
  stdout, stderr = process.stdout.read(), process.stderr.read()
  seconds = time.time() - start
  last = (stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
  if not last:
    last = (stdout.decode(errors="replace").strip().splitlines() or [""])[-1]
  return usage.ru_maxrss * 1024 / 1e9, seconds, os.waitstatus_to_exitcode(status), last  # KiB -> GB


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="lfw", help="a bundled name, an export or a workdir")
  parser.add_argument("--k", type=int, default=5)
  args = parser.parse_args(argv)
  rows = [("12 MP photo (4000x3000)", "photo", (4000, 3000), False),
          ("12 MP photo (4000x3000), --grid", "photo", (4000, 3000), True),
          ("24 MP photo (6000x4000), --grid", "photo", (6000, 4000), True),
          ("8200x8200 PNG bomb (refused)", "bomb", 8200, False),
          ("13000x13000 PNG bomb (refused)", "bomb", 13000, False)]
  with tempfile.TemporaryDirectory() as tmp:
    for index, (name, kind, size, grid) in enumerate(rows):
      path = os.path.join(tmp, f"{kind}.{'jpg' if kind == 'photo' else 'png'}")
      if kind == "photo":
        _photo(path, *size)
      else:
        _bomb(path, size)
      peak, seconds, code, last = run(args, path, os.path.join(tmp, f"out_{index}"), grid)
      print(f"{name:34s} peak {peak:5.2f} GB ({peak * 1e9 / 2**30:.2f} GiB)  {seconds:6.1f} s  exit {code}  "
            f"({os.path.getsize(path) / 1e6:.2f} MB file)  {last[:110]}", flush=True)
      os.remove(path)


if __name__ == "__main__":
  main()
