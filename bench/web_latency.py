r"""divcolor-web's latency, after the model is loaded: what a browser waits for at each step.

  python bench/web_latency.py                 # the bundled general model, a 1-megapixel photo
  python bench/web_latency.py --size 2000x1500 --repeat 5
  python bench/web_latency.py --against /tmp/steer_old.py   # the hint step also with another
                                                            # steer.py's with_hints, same run

The page's server (divcolor_tf.web.server) runs in this process on a free loopback port (uvicorn
in a thread); each step is timed as a browser does it, over HTTP, up to the last image it shows:

  * upload: POST the photo (PNG), its k = 5 colorizations made, then GET the grey input and the
    5 previews (PNG, 512 pixels on the longer side);
  * more like this: POST "more like #2", then GET its 4 previews;
  * blend: GET one blend preview (the slider moved);
  * hint: POST one hint, the 5 outputs steered (with_hints at full resolution's codes), then GET
    the 5 previews; each run at a new point (as a user clicks), the outputs on show reset to the
    top 5 first;
  * download: GET one output at full resolution (PNG).

With --against PATH (a copy of an older steer.py), the hint step is also timed with that file's
``with_hints`` swapped in for the server's, the two interleaved run by run so that both share the
machine's load (the machine is shared: figures of separate runs are not comparable).

Targets (issue 45): upload <= 1 s, each update <= 0.5 s. The photo is scikit-image's chelsea
resized (bicubic) to --size. The CPU and its load are printed with the figures (the machine is
shared: a training job may run beside it). Each step is warmed up once (tracing), then the steps
are run in turn --repeat times and each one's median is printed.
"""

import importlib.util
import io
import json
import os
import statistics
import subprocess
import threading
import time
import urllib.request

from absl import app
from absl import flags
from PIL import Image
import skimage.data

flags.DEFINE_string("model", "imagenet", "A bundled model's name or a path.")
flags.DEFINE_string("size", "1224x817", "The photo's WIDTHxHEIGHT (default: 1.0 megapixels).")
flags.DEFINE_integer("repeat", 3, "Timed runs of each step (the median is printed).")
flags.DEFINE_multi_string("against", [], "Path of another steer.py whose with_hints to time too "
                          "(repeatable).")
FLAGS = flags.FLAGS


def _get(url):
  with urllib.request.urlopen(url, timeout=120) as response:
    return response.read()


def _post(url, body, headers=None):
  request = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
  with urllib.request.urlopen(request, timeout=120) as response:
    return json.loads(response.read())


def main(argv):
  del argv
  import divcolor_tf as dc  # pylint: disable=g-import-not-at-top
  from divcolor_tf.web import server  # pylint: disable=g-import-not-at-top
  model = dc.load(FLAGS.model)
  width, height = (int(v) for v in FLAGS.size.split("x"))
  photo = Image.fromarray(skimage.data.chelsea()).resize((width, height), Image.BICUBIC)
  buffer = io.BytesIO()
  photo.save(buffer, format="PNG")
  blob = buffer.getvalue()
  ready = threading.Event()
  urls = []
  threading.Thread(target=server.serve, daemon=True, kwargs=dict(
      app=server.make_app(model), port=0,
      ready=lambda url: (urls.append(url), ready.set()))).start()
  ready.wait(60)
  base = urls[0].rstrip("/")
  time.sleep(0.5)
  json_headers = {"Content-Type": "application/json"}

  def images(state):
    for output in state["outputs"]:
      _get(base + output["image"])

  sid = None

  def upload():
    nonlocal sid
    state = _post(base + "/api/photo", blob, {"X-Filename": "photo.png"})
    _get(base + state["grey"])
    images(state)
    sid = state["id"]  # the latest upload: the server keeps the last 8 photos only
    return state

  upload()

  def more():
    _post(f"{base}/api/{sid}/reset", b"")
    start = time.perf_counter()
    images(_post(f"{base}/api/{sid}/more", json.dumps({"output": 1, "seed": 1}).encode(),
                 json_headers))
    return time.perf_counter() - start

  hints_sent = []

  def hint():
    _post(f"{base}/api/{sid}/reset", b"")
    # a new point each time (as a user clicks), so no run finds codes an earlier one decoded
    x = width * (0.3 + 0.002 * len(hints_sent))
    hints_sent.append(x)
    start = time.perf_counter()
    body = json.dumps({"hints": [[x, height * 0.2, "#2f6fe0"]]}).encode()
    images(_post(f"{base}/api/{sid}/hints", body, json_headers))
    return time.perf_counter() - start

  def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start

  steps = {
      "upload: k = 5 colorizations": lambda: timed(upload),
      "more like this (4 draws)": more,
      "blend (one preview)": lambda: timed(
          lambda: _get(f"{base}/api/{sid}/blend.png?a=0&b=1&t=0.4")),
      "hint (5 steered outputs)": hint,
      "download (full resolution PNG)": lambda: timed(
          lambda: _get(f"{base}/api/{sid}/download/0.png")),
  }
  if FLAGS.against:
    ours = dc.steer.with_hints

    def swapped(fn):
      def run():
        dc.steer.with_hints = fn  # the server looks it up at each request
        try:
          return hint()
        finally:
          dc.steer.with_hints = ours
      return run

    for number, path in enumerate(FLAGS.against):
      spec = importlib.util.spec_from_file_location(f"steer_against_{number}", path)
      other = importlib.util.module_from_spec(spec)
      spec.loader.exec_module(other)
      other.Photo = dc.steer.Photo  # its prepare() passes the server's prepared photo through
      steps["hint, against " + path] = swapped(other.with_hints)
    steps["hint (5 steered outputs)"] = swapped(ours)
    steps["download (full resolution PNG)"] = steps.pop("download (full resolution PNG)")  # last
  cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(
      ["lscpu"], capture_output=True, text=True).stdout.splitlines()
              if line.startswith("Model name")), "?")
  print(f"{FLAGS.model}, {width}x{height} ({width * height / 1e6:.2f} MP), k 5; CPU: {cpu}, "
        f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")
  for step in steps.values():
    step()  # warm-up (traces)
  timings = {name: [] for name in steps}
  for _ in range(FLAGS.repeat):  # interleaved: every step shares the machine's load
    for name, step in steps.items():
      timings[name].append(step())
  for name, runs in timings.items():
    print(f"  {name:40s} {statistics.median(runs) * 1000:7.0f} ms   "
          f"(runs: {', '.join(f'{r * 1000:.0f}' for r in runs)})")
  print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
  app.run(main)
