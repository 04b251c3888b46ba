"""The pixel budget of every exported signature, on every SavedModel that ships (issue 47, rows 1
and 2).

Row 1: the faces model and the two baselines were exported before the budget, and their
``serving_default`` answered an 8200x8200 request (140 s and 7.2 GB for the faces model); they
were exported again from the same weights. Row 2: ``colorize_bytes`` read a GIF's logical screen
(16x16) while TF decoded its frame (12000x12000: 144 megapixels from 98 KB), so the budget now
counts every frame's size before decoding (``image_bytes.gif_frames``).
"""

import io
import json
import re
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import ROOT as REPO
from conftest import tool_env
from divcolor_tf import data
from divcolor_tf import export

SHIPPED = sorted(p.parent for p in (REPO / "saved_models").glob("*/[0-9]*/saved_model.pb"))
OVER = r"over the limit of 64 megapixels"
# A signature's first call instantiates its graph (colorize_bytes of cgan_lfw/1: 6 s on 2 busy
# cores; a refusal itself takes milliseconds), against 26-140 s before the budget.
LOAD_AND_REFUSE_SECONDS = 20


def _lzw_uniform(pixels, min_code=2):
  """GIF's LZW code stream (least significant bit first) of ``pixels`` pixels of colour 0, the
  best case of the compression: each table, after its clear code, holds runs of 1, 2, 3, ...
  pixels, so 144 megapixels take ~100 KB."""
  clear, end = 1 << min_code, (1 << min_code) + 1
  out, acc, bits = bytearray(), 0, 0

  def put(code, width):
    nonlocal acc, bits
    acc, bits = acc | code << bits, bits + width
    while bits >= 8:
      out.append(acc & 255)
      acc, bits = acc >> 8, bits - 8

  remaining = pixels
  while remaining:
    width, free = min_code + 1, end + 1
    put(clear, width)
    put(0, width)
    remaining, run = remaining - 1, 1
    while remaining and free < 4096:
      if run + 1 <= remaining:  # the next free code: the last run and one more pixel
        code, run = free, run + 1
      else:  # what is left, a run the table holds already
        code, run = (0 if remaining == 1 else end + remaining - 1), remaining
      put(code, width)
      free += 1
      if free == 1 << width and width < 12:  # as the decoder widens its codes
        width += 1
      remaining -= run
  put(end, width)
  if bits:
    out.append(acc & 255)
  return bytes(out)


def gif(screen, frame):
  """A GIF whose logical screen is ``screen`` (height, width) and whose one frame is ``frame``,
  all colour 0 (black)."""
  code = _lzw_uniform(frame[0] * frame[1])
  blocks = b"".join(bytes([len(code[i:i + 255])]) + code[i:i + 255]
                    for i in range(0, len(code), 255))
  return (b"GIF89a" + struct.pack("<HHBBB", screen[1], screen[0], 0x81, 0, 0)
          + bytes([0, 0, 0, 255, 255, 255, 200, 30, 30, 30, 200, 30])  # 4-colour palette
          + b"\x2c" + struct.pack("<HHHHB", 0, 0, frame[1], frame[0], 0) + b"\x02"
          + blocks + b"\x00\x3b")


def test_the_generated_gif_is_what_decoders_read():
  small = gif((16, 16), (300, 200))
  assert tf.io.decode_gif(small).shape == (1, 300, 200, 3)  # TF: the frame, not the screen
  assert Image.open(io.BytesIO(small)).size == (200, 300)  # Pillow grows the image to the frame
  assert np.asarray(Image.open(io.BytesIO(gif((40, 30), (40, 30))))).max() == 0
  assert len(gif((16, 16), (12000, 12000))) < 110_000  # the row's ~107 KB


# A fresh process: the bomb sent to colorize_bytes after a small photo, peak RSS before and after.
_MEASURE = """
import json, resource, sys, time
import numpy as np, tensorflow as tf
signature = tf.saved_model.load(sys.argv[1]).signatures["colorize_bytes"]
small = tf.io.encode_png(np.full((64, 48, 3), 128, np.uint8))
signature(image_bytes=tf.stack([small]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
bomb = open(sys.argv[2], "rb").read()
start, message = time.time(), None
try:
  signature(image_bytes=tf.constant([bomb]))
except tf.errors.InvalidArgumentError as e:
  message = " ".join(e.message.split())[:400]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_mb": (after - before) / 1024, "seconds": time.time() - start,
                  "message": message}))
"""


def measure_bomb(export_dir, bomb_path, timeout=300):
  """{grew_mb, seconds, message} of the bomb sent to ``export_dir``'s colorize_bytes."""
  run = subprocess.run([sys.executable, "-c", _MEASURE, str(export_dir), str(bomb_path)],
                       capture_output=True, text=True, env=tool_env(), timeout=timeout)
  assert run.returncode == 0, run.stderr[-2000:]
  return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
  path = tmp_path_factory.mktemp("bomb") / "screen16_frame12000.gif"
  path.write_bytes(gif((16, 16), (12000, 12000)))
  return path


@pytest.fixture(scope="module")
def tiny_export(colorizer, tmp_path_factory):
  return export.export_saved_model(colorizer, tmp_path_factory.mktemp("saved") / "tiny")


def test_a_gif_whose_frame_outgrows_its_screen_is_refused_before_decoding(tiny_export, bomb):
  """Issue 47, row 2: 0.8 -> 4.5 GB on the general export before its refusal, and the faces
  export colorized all 144 megapixels. Now the frame's size is read first: the peak grows by
  less than a decoded frame (432 MB), measured 0-3 MB."""
  measured = measure_bomb(tiny_export, bomb)
  assert measured["message"] and re.search(OVER, measured["message"]), measured
  assert "[1 12000 12000]" in measured["message"], measured  # frames, height, width
  assert measured["grew_mb"] < 100 and measured["seconds"] < 10, measured


def test_the_command_line_reads_the_frame_size_before_decoding_too(bomb):
  with pytest.raises(data.ImageError, match=r"12000x12000 pixels .* over the limit of 64"):
    data.load_rgb(str(bomb), max_megapixels=64)


def test_gifs_within_the_budget_still_colorize_from_their_first_frame(tiny_export):
  signature = tf.saved_model.load(tiny_export).signatures["colorize_bytes"]
  frames = [Image.fromarray(np.full((40, 56, 3), 60 * i, np.uint8)) for i in range(3)]
  buffer = io.BytesIO()
  frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], loop=0, duration=40)
  for encoded in (buffer.getvalue(), gif((16, 16), (300, 200))):  # animated; frame > screen
    out = signature(image_bytes=tf.constant([encoded]))["png_bytes"].numpy()
    shape = tf.io.decode_png(out[0, 0]).shape
    assert shape[:2] in ((40, 56), (300, 200)), shape


def test_an_animated_png_is_its_default_image_and_counted_by_its_header(tiny_export):
  """Issue 47 item 2's animated PNG: TF decodes an APNG's default image alone, whose size is
  IHDR's (every frame lies within that canvas, by the APNG spec), so the header's budget holds:
  a small animation colorizes from its first frame at IHDR's size, and one whose IHDR declares
  over the budget is refused before decoding."""
  signature = tf.saved_model.load(tiny_export).signatures["colorize_bytes"]
  frames = [Image.fromarray(np.full((40, 56, 3), 60 * i + 20, np.uint8)) for i in range(3)]
  buffer = io.BytesIO()
  frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:], duration=40, loop=0)
  animated = buffer.getvalue()
  assert b"acTL" in animated and b"fdAT" in animated  # an APNG, not a still PNG
  out = signature(image_bytes=tf.constant([animated]))["png_bytes"].numpy()
  assert tf.io.decode_png(out[0, 0]).shape[:2] == (40, 56)
  # The same animation with IHDR claiming 9000x9000 (81 megapixels; CRC recomputed).
  ihdr = bytearray(animated[12:29])  # b"IHDR" + 13 bytes of fields
  ihdr[4:12] = struct.pack(">II", 9000, 9000)
  bomb = animated[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr))) + animated[33:]
  with pytest.raises(tf.errors.InvalidArgumentError, match="image_bytes: " + OVER):
    signature(image_bytes=tf.constant([bomb]))


def test_every_shipped_savedmodel_refuses_an_over_budget_request_at_once(bomb):
  """Issue 47, row 1: divcolor_lfw/5, cvae_lfw/1 and cgan_lfw/1 predated the budget (8200x8200:
  140 s and 7.2 GB; 80x1000x1000 alike). Every signature taking pixels, on every SavedModel of
  saved_models/, refuses such requests before any work, and the GIF bomb before decoding it
  (divcolor_imagenet/1 refused it only once decoded: +555 MB; exported again with the walk)."""
  assert len(SHIPPED) >= 4, SHIPPED
  for path in SHIPPED:
    signatures = tf.saved_model.load(str(path)).signatures
    requests = [("serving_default", [1, 8200, 8200, 3]), ("serving_default", [80, 1000, 1000, 3]),
                ("mixture", [1, 8200, 8200, 3])]
    for name, shape in requests:
      if name not in signatures:
        continue
      start = time.time()
      with pytest.raises(tf.errors.InvalidArgumentError, match=OVER):
        signatures[name](image=tf.zeros(shape, tf.uint8))
      assert time.time() - start < LOAD_AND_REFUSE_SECONDS, (path, name, shape)
    start = time.time()  # image_bytes: refused from the file's frames, not once decoded (image)
    with pytest.raises(tf.errors.InvalidArgumentError, match="image_bytes: " + OVER):
      signatures["colorize_bytes"](image_bytes=tf.constant([bomb.read_bytes()]))
    assert time.time() - start < LOAD_AND_REFUSE_SECONDS, (path, "colorize_bytes")
    # An empty batch, as docs/deploy.md states (issue 47 row 21): pixels have no size to check,
    # so serving_default refuses them; an empty list of photos is an empty answer.
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
      signatures["serving_default"](image=tf.zeros([0, 32, 32, 3], tf.uint8))
    empty = signatures["colorize_bytes"](image_bytes=tf.zeros([0], tf.string))
    assert empty["png_bytes"].shape[0] == 0 and empty["weights"].shape[0] == 0, path
