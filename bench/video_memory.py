r"""Peak memory and speed of video colorization at large frame sizes (issue 46: 4K frames).

  python bench/video_memory.py                               # 3840x2160, 8 frames, k = 5
  python bench/video_memory.py --width 1920 --height 1080 --k 2

Makes a clip of --frames frames at --width x --height (a photo panning sideways, H.264, PyAV)
in a temporary folder, loads --model, colorizes one small photo (TensorFlow's start-up and the
pipeline's tracing are not counted), then colorizes the clip (divcolor_tf.video.steady:
k versions, and --grid) and prints the peak RSS of the process before and after the clip, the
difference, and frames a second. Not a test: the figures go in docs/quality.md ("Video: 4K").
"""

import os
import resource
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

flags.DEFINE_string("model", "imagenet", "A bundled model's name or a path.")
flags.DEFINE_integer("width", 3840, "Frame width.")
flags.DEFINE_integer("height", 2160, "Frame height.")
flags.DEFINE_integer("frames", 8, "Frames of the clip.")
flags.DEFINE_integer("k", 5, "Versions.")
flags.DEFINE_bool("grid", False, "Also the grid video.")
flags.DEFINE_float("max_megapixels", None, "The frame budget (default: the library's, 4K).")
FLAGS = flags.FLAGS


def _peak_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_clip(path, width, height, count):
  """A ``count``-frame H.264 clip of a real photo panning sideways (made in a child process, so
  that its encoder's buffers are not counted in this one's peak)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  code = f"""
import av, numpy as np, skimage.data
from PIL import Image
wide = np.asarray(Image.fromarray(skimage.data.chelsea()).resize(
    ({width} + 16 * {count}, {height})))
c = av.open({str(path)!r}, "w", format="mp4")
s = c.add_stream("libx264", rate=25)
s.width, s.height, s.pix_fmt = {width}, {height}, "yuv420p"
for i in range({count}):
  f = av.VideoFrame.from_ndarray(np.ascontiguousarray(wide[:, 16 * i:16 * i + {width}]), "rgb24")
  f.pts = i
  c.mux(s.encode(f))
c.mux(s.encode(None))
c.close()
"""
  subprocess.run([sys.executable, "-c", code], check=True)


def main(argv):
  del argv
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf.video import steady  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as folder:
    clip = os.path.join(folder, "clip.mp4")
    make_clip(clip, FLAGS.width, FLAGS.height, FLAGS.frames)
    model = colorize.load(FLAGS.model)
    model.colorize(np.zeros((64, 64, 3), np.uint8), k=FLAGS.k)
    before = _peak_mb()
    start = time.time()
    kwargs = {} if FLAGS.max_megapixels is None else {"max_megapixels": FLAGS.max_megapixels}
    steady.colorize_video(model, clip, os.path.join(folder, "out"), k=FLAGS.k, grid=FLAGS.grid,
                          **kwargs)
    seconds = time.time() - start
    after = _peak_mb()
  print(f"{FLAGS.width}x{FLAGS.height}, {FLAGS.frames} frames, k={FLAGS.k}"
        f"{', grid' if FLAGS.grid else ''}, {FLAGS.model}: peak RSS {before:.0f} MB before the "
        f"clip, {after:.0f} MB after (+{after - before:.0f} MB); {FLAGS.frames / seconds:.2f} "
        f"frames/s (both passes, {seconds:.0f} s)")


if __name__ == "__main__":
  app.run(main)
