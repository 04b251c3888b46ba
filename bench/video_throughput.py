r"""Frames a second of ``divcolor-colorize`` on a clip at 640x360, k = 5 (issue 46: >= 8 frames/s
on this project's 2-core CPU, after loading).

  python bench/video_throughput.py [--clip ../shared/data/video/cockatoo_handheld.mp4]

Re-encodes the clip's first --frames frames at --width x --height (a temporary H.264 file), loads
the model and colorizes a few frames once (tracing), then times
``divcolor_tf.video.steady.colorize_video`` over the whole temporary clip: both passes (the
shot plan and the steady versions), decoding and encoding included. Prints frames, seconds,
frames a second and the machine's load average.
"""

import os
import tempfile
import time

from absl import app
from absl import flags

import divcolor_tf as dc
from divcolor_tf.video import frames as frames_lib
from divcolor_tf.video import steady

flags.DEFINE_string("clip", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                         "video", "cockatoo_handheld.mp4"), "The source clip.")
flags.DEFINE_string("model", "imagenet", "A bundled model's name or a path.")
flags.DEFINE_integer("width", 640, "Width of the clip timed.")
flags.DEFINE_integer("height", 360, "Height of the clip timed.")
flags.DEFINE_integer("frames", 100, "Frames of the clip timed.")
flags.DEFINE_integer("k", 5, "Versions.")
FLAGS = flags.FLAGS


def _resized_clip(path, out, width, height, count):
  """The first ``count`` frames of ``path`` at width x height, written to ``out`` (H.264)."""
  writer = frames_lib.Writer(out, width, height, 25)
  written = 0
  for rgb in frames_lib.rgb_frames(path, size=(width, height)):  # FFmpeg's scaler
    writer.write(rgb)
    written += 1
    if written == count:
      break
  writer.close()
  frames_lib.publish_all([writer])
  return written


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as tmp:
    clip = os.path.join(tmp, "clip.mp4")
    count = _resized_clip(FLAGS.clip, clip, FLAGS.width, FLAGS.height, FLAGS.frames)
    model = dc.load(FLAGS.model)
    steady.colorize_video(model, clip, os.path.join(tmp, "warm"), k=FLAGS.k, max_frames=3)
    start = time.perf_counter()
    steady.colorize_video(model, clip, os.path.join(tmp, "timed"), k=FLAGS.k)
    seconds = time.perf_counter() - start
  print(f"{FLAGS.width}x{FLAGS.height}, k {FLAGS.k}: {count} frames in {seconds:.1f} s, "
        f"{count / seconds:.2f} frames/s (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
  app.run(main)
