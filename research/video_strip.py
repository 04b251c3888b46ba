r"""The README's video figure: frames of a clip's grey input and of two of its steady versions.

  python research/video_strip.py --clip ../shared/data/video/squirrel_static.mp4 \
      --out docs/images/video_strip.jpg

Colorizes the clip's first --frames frames with ``divcolor_tf.video.steady.colorize_video`` (the
bundled general model, k = --k), then lays out --columns frames evenly spaced through them: the
grey input on top, then versions --versions, one row each, every row labelled. A figure script,
not a test: it writes the JPEG and prints where.
"""

import os
import tempfile

from absl import app
from absl import flags
import numpy as np
from PIL import Image
from PIL import ImageDraw

import divcolor_tf as dc
from divcolor_tf.video import frames as frames_lib
from divcolor_tf.video import steady

flags.DEFINE_string("clip", None, "The clip.")
flags.DEFINE_string("out", None, "The JPEG to write.")
flags.DEFINE_string("model", "imagenet", "A bundled model's name or a path.")
flags.DEFINE_integer("frames", 100, "Colorize the clip's first N frames.")
flags.DEFINE_integer("k", 3, "Versions colorized.")
flags.DEFINE_list("versions", ["1", "2"], "The versions shown, one row each.")
flags.DEFINE_integer("columns", 4, "Frames shown, evenly spaced.")
flags.DEFINE_integer("width", 256, "Width of one frame in the figure.")
flags.mark_flags_as_required(["clip", "out"])
FLAGS = flags.FLAGS


def _pick(path, indices, width):
  """The frames ``indices`` of the video at ``path``, resized to ``width``, as PIL images."""
  picked = []
  for i, rgb in enumerate(frames_lib.rgb_frames(path)):
    if i in indices:
      image = Image.fromarray(np.asarray(rgb))
      picked.append(image.resize((width, round(image.height * width / image.width)),
                                 Image.LANCZOS))
    if len(picked) == len(indices):
      break
  return picked


def _row(images, label):
  """One labelled row of the figure."""
  pad = 22
  row = Image.new("RGB", (sum(i.width for i in images) + 4 * (len(images) - 1),
                          images[0].height + pad), "white")
  x = 0
  for image in images:
    row.paste(image, (x, pad))
    x += image.width + 4
  ImageDraw.Draw(row).text((4, 5), label, fill="black")
  return row


def main(argv):
  del argv
  model = dc.load(FLAGS.model)
  with tempfile.TemporaryDirectory() as out:
    the_plan = steady.colorize_video(model, FLAGS.clip, out, k=FLAGS.k, max_frames=FLAGS.frames)
    count = min(FLAGS.frames, the_plan.info.frames or FLAGS.frames)
    indices = set(np.linspace(0, count - 1, FLAGS.columns).round().astype(int).tolist())
    stem = os.path.join(out, os.path.splitext(os.path.basename(FLAGS.clip))[0])
    grey = [image.convert("L").convert("RGB") for image in _pick(FLAGS.clip, indices, FLAGS.width)]
    rows = [_row(grey, "grey input")]
    for version in FLAGS.versions:
      rows.append(_row(_pick(f"{stem}_{version}.mp4", indices, FLAGS.width),
                       f"steady version {version}"))
  figure = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
  y = 0
  for row in rows:
    figure.paste(row, (0, y))
    y += row.height
  figure.save(FLAGS.out, quality=85)
  print(f"{FLAGS.out}: {figure.width}x{figure.height}, frames {sorted(indices)} of {count}")


if __name__ == "__main__":
  app.run(main)
