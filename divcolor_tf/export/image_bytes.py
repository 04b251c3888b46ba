"""The photo inputs of the exported signatures: an encoded image's format and declared size read
from its first bytes (so an over-budget photo is refused before it is decoded), and the checks
every ``image`` input passes (rank, channels, :data:`MIN_SIZE`).

A GIF's first bytes are not enough: its logical screen may say 16x16 while a frame says
12000x12000, and TF's decoder allocates the largest frame's size for every frame (issue 47, row
2: a 107 KB GIF decoded to 144 megapixels). :func:`gif_frames` walks the file's blocks, every
image descriptor read, so the budget counts what TF will decode. Other formats need no walk: TF's
PNG decoder decodes an animated PNG's default image only (IHDR's size; its APNG frames are
ignored), and an animated WebP is refused (its frames lie inside the VP8X canvas, whose size the
header declares, but TF's WebP decoder garbles them).
"""

import tensorflow as tf


MIN_SIZE = 8  # smallest height / width a signature accepts
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_HEADER_BYTES = 32  # the bytes of an encoded photo read for its format and its declared size
_RUN = 256  # a GIF's full data sub-blocks skipped in one step of gif_frames' walk


def header(encoded):
  """The first _HEADER_BYTES bytes of ``encoded`` as int64 [_HEADER_BYTES] (zeros past its end)."""
  head = tf.strings.join([tf.strings.substr(encoded, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES])
  return tf.cast(tf.io.decode_raw(tf.strings.substr(head, 0, _HEADER_BYTES), tf.uint8), tf.int64)


def _uint(header, start, n, little):
  """The unsigned integer in header bytes [start, start + n), little- or big-endian."""
  weights = [256**i for i in range(n)]
  return tf.reduce_sum(header[start:start + n]
                       * tf.constant(weights if little else weights[::-1], tf.int64))


def starts(header, start, magic):
  """Whether header bytes [start, start + len(magic)) are ``magic``."""
  return tf.reduce_all(tf.equal(header[start:start + len(magic)],
                                tf.constant(tuple(magic), tf.int64)))


def gif_frames(encoded):
  """[frames, height, width] (int64) of the GIF ``encoded``: its image descriptors counted, and
  the largest height and width among them and its logical screen, which is what TF's decoder
  allocates for each of the frames it decodes (all of them, even with expand_animations=False).

  The blocks are walked in graph ops (a while loop of one step per block, short data sub-block
  or run of up to 256 full ones), without decoding a pixel. A truncated or malformed
  file ends the walk where it stops making sense; TF's decoder then refuses it.
  """
  data = tf.cast(tf.io.decode_raw(encoded, tf.uint8), tf.int32)
  n = tf.size(data)
  data = tf.concat([data, tf.zeros([16], tf.int32)], 0)  # reads past the end see zeros

  def byte(i):
    return tf.gather(data, tf.minimum(i, n))

  def u16(i):
    return byte(i) + 256 * byte(i + 1)

  def colour_table(flags):  # 3 * 2^(size + 1) bytes when the table flag (bit 7) is set
    return tf.where(flags >= 128, tf.bitwise.left_shift(3, flags % 8 + 1), 0)

  def step(pos, in_blocks, frames, height, width):
    # Full sub-blocks (size 255, the usual) are skipped _RUN at a time: a 12 MB GIF in ~300 steps.
    full = tf.cast(tf.equal(byte(pos + 256 * tf.range(_RUN)), 255), tf.int32)
    run = tf.where(in_blocks, tf.reduce_sum(tf.math.cumprod(full)), 0)
    pos += 256 * run
    b = byte(pos)
    image = tf.logical_and(tf.logical_not(in_blocks), tf.equal(b, 0x2C))  # image descriptor
    extension = tf.logical_and(tf.logical_not(in_blocks), tf.equal(b, 0x21))
    # In data sub-blocks: a size byte and that many bytes; size 0 ends the block. At a block's
    # start: a descriptor (10 bytes, its colour table, the LZW code size, then sub-blocks), an
    # extension (introducer and label, then sub-blocks), else the trailer (or garbage): stop.
    after = tf.where(in_blocks, pos + 1 + b, tf.where(
        image, pos + 11 + colour_table(byte(pos + 9)), tf.where(extension, pos + 2, n)))
    return (after, tf.where(in_blocks, b > 0, image | extension),
            frames + tf.cast(image, tf.int32),
            tf.where(image, tf.maximum(height, u16(pos + 7)), height),
            tf.where(image, tf.maximum(width, u16(pos + 5)), width))

  start = 13 + colour_table(byte(10))  # header, logical screen descriptor, global colour table
  _, _, frames, height, width = tf.while_loop(
      lambda pos, *_: pos < n, step,
      (start, tf.constant(False), tf.constant(0), u16(8), u16(6)))
  return tf.cast(tf.stack([frames, height, width]), tf.int64)


def declared_size(encoded, header, is_jpeg):
  """[frames, height, width] (int64) that decoding a JPEG, PNG, GIF, BMP or WebP makes: what its
  header declares (a GIF's: every frame's, :func:`gif_frames`); [1, 0, 0] for other bytes. Read
  before decoding, so that a small file claiming a huge image (a decompression bomb) is refused
  before its pixels are allocated."""
  png = tf.stack([_uint(header, 20, 4, False), _uint(header, 16, 4, False)])  # IHDR
  bmp = tf.stack([_uint(header, 22, 4, True), _uint(header, 18, 4, True)])  # BITMAPINFOHEADER
  bmp = tf.abs(tf.where(bmp >= 2**31, bmp - 2**32, bmp))  # signed; a negative height: top-down
  vp8x = tf.stack([_uint(header, 27, 3, True), _uint(header, 24, 3, True)]) + 1  # canvas
  bits = _uint(header, 21, 4, True)  # VP8L: 14 bits width - 1, then 14 bits height - 1
  vp8l = tf.stack([bits // 2**14 % 2**14, bits % 2**14]) + 1
  vp8 = tf.stack([_uint(header, 28, 2, True), _uint(header, 26, 2, True)]) % 2**14  # key frame
  webp = tf.where(starts(header, 12, b"VP8X"), vp8x,
                  tf.where(starts(header, 12, b"VP8L"), vp8l, vp8))
  size = tf.zeros([2], tf.int64)
  for kind, declared in ((starts(header, 0, PNG_MAGIC), png), (starts(header, 0, b"BM"), bmp),
                         (starts(header, 0, b"RIFF") & starts(header, 8, b"WEBP"), webp)):
    size = tf.where(kind, declared, size)
  one = tf.ones([1], tf.int64)
  jpeg = lambda: tf.concat([one, tf.cast(tf.io.extract_jpeg_shape(encoded)[:2], tf.int64)], 0)
  return tf.cond(is_jpeg, jpeg, lambda: tf.cond(
      starts(header, 0, b"GIF"), lambda: gif_frames(encoded), lambda: tf.concat([one, size], 0)))


def rgb_over_white(image):
  """uint8 [H, W, C] as decoded (C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) -> uint8 RGB
  [H, W, 3]: grey as three equal channels, transparency composited over white, as the command
  line's ``data.load_rgb`` does with Pillow."""
  image = tf.convert_to_tensor(image)
  channels = tf.shape(image)[-1]
  colour = tf.cond(channels >= 3, lambda: image[..., :3],
                   lambda: tf.repeat(image[..., :1], 3, axis=-1))

  def over_white():
    alpha = tf.cast(image[..., -1:], tf.float32) / 255.0
    mixed = tf.cast(colour, tf.float32) * alpha + 255.0 * (1.0 - alpha)
    return tf.cast(tf.clip_by_value(tf.round(mixed), 0.0, 255.0), tf.uint8)

  return tf.ensure_shape(tf.cond(tf.equal(channels % 2, 0), over_white, lambda: colour),
                         [None, None, 3])


def checked_image(image, name="image", max_megapixels=None):
  """The uint8 image batch, after asserting it is non-empty, at least MIN_SIZE a side and, with
  ``max_megapixels``, that the whole batch holds at most that many million pixels (a batch is
  colorized at once, so its memory grows with its pixels, as one photo's does on the command
  line: the same budget, before any work is done)."""
  # A loaded signature does not always check its input's rank and channels (tf.saved_model.load
  # passes a [H, W, 3] tensor through), and checks on tf.shape are folded away at trace time:
  # EnsureShape checks at run time ("... is not compatible with expected shape [?,?,?,3]").
  image = tf.ensure_shape(image, [None, None, None, 3], name=name)
  shape = tf.shape(image)
  checks = [
      tf.debugging.assert_greater(shape[0], 0, message=f"{name}: empty batch"),
      tf.debugging.assert_greater_equal(
          tf.reduce_min(shape[1:3]), MIN_SIZE,
          message=f"{name}: height and width must be at least {MIN_SIZE} pixels"),
  ]
  if max_megapixels:
    pixels = tf.reduce_prod(tf.cast(shape[:3], tf.float64))  # float64: no int32 overflow
    checks.append(tf.debugging.Assert(
        pixels <= max_megapixels * 1e6,
        [f"{name}: over the limit of {max_megapixels:g} megapixels in a request (the exported "
         "Colorizer's max_megapixels; send fewer or smaller photos); batch, height, width:",
         shape[0], shape[1], shape[2]]))
  with tf.control_dependencies(checks):
    return tf.identity(image)
