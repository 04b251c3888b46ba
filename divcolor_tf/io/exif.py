"""The EXIF orientation of an encoded photo, read and applied in TensorFlow ops.

A phone stores a photo as its sensor saw it and records in the EXIF Orientation tag (0x0112,
values 1..8) how to turn it for display. The command line decodes with Pillow and applies the tag
(``data.load_rgb``: ``ImageOps.exif_transpose``); ``tf.io.decode_image`` ignores it, so the
exported ``colorize_bytes`` signature would colorize such a photo sideways. These functions
are the same step as graph ops (no ``py_function``), so a SavedModel served by TF Serving uses
them: :func:`exif_orientation` reads the tag from the encoded bytes and
:func:`apply_orientation` turns the decoded pixels exactly as Pillow does.

Where the tag is looked for, as Pillow reads it:

* JPEG: the first APP1 segment that starts with "Exif\\0\\0", found by walking the segments
  (marker, big-endian length) from the start of the file up to the start of scan;
* PNG: the eXIf chunk before the first IDAT (its data is the TIFF block itself);
* WebP: the EXIF chunk of the RIFF container (wherever it lies; its data is the TIFF block,
  after an "Exif\\0\\0" header when the writer put one, as Pillow does).

In the TIFF block: the byte order ("II" little-, "MM" big-endian) and the magic number 42, the
offset of IFD0, its entry count and 12-byte entries; the Orientation entry's value is a SHORT
(cameras write one SHORT; as Pillow, any integer type is read and of several values the first
counts), in the entry's value field or at the offset it holds. Anything missing, truncated,
out of range or not 1..8 gives 1 (as is), never an error: a photo with a broken EXIF block is
still colorized, as the command line does. GIF and BMP carry no EXIF (TIFF, which does, is not
decoded by the serving graph); an XMP tiff:Orientation (which Pillow also reads when the EXIF
block lacks the tag) is not read.
"""

import tensorflow as tf


ORIENTATION_TAG = 0x0112
_EXIF_HEADER = tuple(b"Exif\0\0")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_STEPS = 1024  # JPEG segments / PNG chunks (or junk bytes) walked before giving up
_MAX_TIFF_BYTES = 65536  # an APP1 segment holds at most 64 KiB; IFD0 lies within it
# Bytes per value of the TIFF field types, by type number, for those Pillow reads as integers
# (SHORT 3, LONG 4, SBYTE 6, SSHORT 8, SLONG 9); 0 for the others: BYTE (1) comes out of Pillow
# as bytes, no orientation, as do ASCII, RATIONAL, UNDEFINED, ...
_INTEGER_WIDTHS = (0, 0, 0, 2, 4, 0, 1, 0, 2, 4)


def _read(encoded, size, pos, n):
  """``n`` bytes of ``encoded`` from ``pos`` as int64 [n]; zeros where they lie past the end."""
  start = tf.clip_by_value(pos, 0, size)
  raw = tf.io.decode_raw(tf.strings.substr(encoded, start, tf.constant(n, tf.int64)), tf.uint8)
  raw = tf.cast(raw, tf.int64)
  return tf.pad(raw, [[0, n - tf.shape(raw, out_type=tf.int64)[0]]])


def _big_endian(values):
  return tf.reduce_sum(values * 256 ** tf.range(tf.size(values, out_type=tf.int64) - 1, -1, -1,
                                                dtype=tf.int64))


def _walk(encoded, size, first, step):
  """The (start, length) of the TIFF block a walk over segments finds; (size, 0) if none.

  ``step(header)`` gets the 10 bytes at the current position and returns (found, stop, advance,
  tiff_offset, tiff_length): whether the TIFF block starts here, whether the walk ends here, how
  far to move, and where the block lies relative to the current position.
  """

  def cond(pos, steps, start, length):
    del length
    return (start < 0) & (steps < _MAX_STEPS) & (pos + 4 <= size)

  def body(pos, steps, start, length):
    found, stop, advance, offset, tiff_length = step(_read(encoded, size, pos, 10))
    start = tf.where(found, pos + offset, start)
    length = tf.where(found, tiff_length, length)
    pos = tf.where(stop | (advance <= 0), size, pos + advance)
    return pos, steps + 1, start, length

  minus_one = tf.constant(-1, tf.int64)
  _, _, start, length = tf.while_loop(
      cond, body, (tf.constant(first, tf.int64), tf.constant(0, tf.int64), minus_one, minus_one))
  found = start >= 0
  start = tf.where(found, start, size)
  length = tf.clip_by_value(length, 0, size - start)  # a truncated block: what is there
  return start, tf.minimum(length, _MAX_TIFF_BYTES)


def _jpeg_step(header):
  """A JPEG segment: 0xFF, marker, big-endian length (counting itself), payload."""
  is_ff = tf.equal(header[0], 0xFF)
  marker = header[1]
  segment = header[2] * 256 + header[3]
  # Pillow's parser: a 0xFF fill byte re-starts the marker; 0x00, TEM and SOI/RSTn carry no
  # length; any other byte before a marker is junk, skipped one at a time.
  fill = is_ff & tf.equal(marker, 0xFF)
  standalone = is_ff & (tf.equal(marker, 0x00) | tf.equal(marker, 0x01)
                        | ((marker >= 0xD0) & (marker <= 0xD8)))
  stop = is_ff & (tf.equal(marker, 0xDA) | tf.equal(marker, 0xD9))  # start of scan, end of image
  found = (is_ff & tf.equal(marker, 0xE1) & (segment >= 8)
           & tf.reduce_all(tf.equal(header[4:10], tf.constant(_EXIF_HEADER, tf.int64))))
  advance = tf.where(~is_ff | fill, tf.constant(1, tf.int64),
                     tf.where(standalone, tf.constant(2, tf.int64), 2 + segment))
  advance = tf.where(~is_ff | fill | standalone | (segment >= 2), advance, 0)  # bad length: stop
  return found, stop, advance, tf.constant(10, tf.int64), segment - 8


def _png_step(header):
  """A PNG chunk: big-endian data length, type, data, CRC."""
  length = _big_endian(header[:4])
  kind = header[4:8]

  def is_kind(name):
    return tf.reduce_all(tf.equal(kind, tf.constant(tuple(name), tf.int64)))

  stop = is_kind(b"IDAT") | is_kind(b"IEND") | (length > 2**31 - 1)
  return is_kind(b"eXIf"), stop, 12 + length, tf.constant(8, tf.int64), length


def _webp_step(header):
  """A RIFF chunk of a WebP: four-character code, little-endian data length, data (padded to an
  even length)."""
  length = tf.reduce_sum(header[4:8] * 256 ** tf.range(4, dtype=tf.int64))
  found = tf.reduce_all(tf.equal(header[:4], tf.constant(tuple(b"EXIF"), tf.int64)))
  prefixed = tf.reduce_all(tf.equal(header[8:10], tf.constant(tuple(b"Ex"), tf.int64)))
  skip = tf.where(prefixed, tf.constant(6, tf.int64), 0)  # "Exif\0\0" before the TIFF block
  return found, tf.constant(False), 8 + length + length % 2, 8 + skip, length - skip


def _at(padded, n, offset, width):
  """Bytes [..., width] of ``padded`` (length n + 1) at ``offset``; those past n read as 0."""
  index = offset[..., None] + tf.range(width, dtype=tf.int64)
  inside = (offset >= 0) & (offset + width <= n)
  return tf.gather(padded, tf.clip_by_value(index, 0, n)), inside


def _tiff_orientation(tiff):
  """The Orientation of a TIFF block (uint8 [n]) as int64 scalar, 1 when absent or invalid."""
  tiff = tf.cast(tiff, tf.int64)
  n = tf.size(tiff, out_type=tf.int64)
  padded = tf.concat([tiff, tf.zeros([1], tf.int64)], 0)  # index n: a zero, for clipped reads
  order, order_ok = _at(padded, n, tf.constant(0, tf.int64), 2)
  little = order_ok & tf.reduce_all(tf.equal(order, 0x49))  # "II"
  big = order_ok & tf.reduce_all(tf.equal(order, 0x4D))  # "MM"

  def number(offset, width):
    """Unsigned integers of ``width`` bytes at ``offset`` (scalar or [k]), and which are inside."""
    values, inside = _at(padded, n, offset, width)
    weights = 256 ** tf.range(width, dtype=tf.int64)
    weights = tf.where(little, weights, tf.reverse(weights, [0]))
    return tf.reduce_sum(values * weights, -1), inside

  magic, magic_ok = number(tf.constant(2, tf.int64), 2)
  ifd, ifd_ok = number(tf.constant(4, tf.int64), 4)
  count, count_ok = number(ifd, 2)
  valid = (little | big) & magic_ok & tf.equal(magic, 42) & ifd_ok & count_ok
  # Entries wholly inside the block (Pillow keeps the entries read before a truncation).
  whole = tf.clip_by_value(tf.minimum(count, (n - ifd - 2) // 12), 0, 65535)
  entries = ifd + 2 + 12 * tf.range(tf.where(valid, whole, 0))
  tag, _ = number(entries, 2)
  kind, _ = number(entries + 2, 2)
  counts, _ = number(entries + 4, 4)
  # Pillow takes the first value (warning when there are more) of an integer type; the values
  # lie in the entry's 4-byte field when they fit, else at the offset it holds.
  value_width = tf.gather(tf.constant(_INTEGER_WIDTHS, tf.int64),
                          tf.clip_by_value(kind, 0, len(_INTEGER_WIDTHS) - 1))
  pointer, _ = number(entries + 8, 4)
  location = tf.where(value_width * counts <= 4, entries + 8, pointer)
  value = tf.zeros_like(entries)
  readable = tf.zeros_like(entries, tf.bool)
  for width in (1, 2, 4):
    first, inside = number(location, width)
    value = tf.where(tf.equal(value_width, width), first, value)
    readable |= tf.equal(value_width, width) & inside & (counts >= 1)
  matches = tf.where(tf.equal(tag, ORIENTATION_TAG) & readable)[:, 0]
  orientation = tf.reduce_sum(tf.gather(value, matches[:1]))  # a repeated tag: the first
  ok = valid & (tf.size(matches) > 0) & (orientation >= 1) & (orientation <= 8)
  return tf.where(ok, orientation, tf.constant(1, tf.int64))


def exif_orientation(encoded):
  """The EXIF Orientation (1..8) of one encoded photo (string scalar), as an int32 scalar.

  JPEG (APP1 "Exif"), PNG (eXIf chunk) and WebP (EXIF chunk) are read; any other format, a photo
  without the tag, and a malformed or truncated EXIF block give 1. TF ops only (servable by TF
  Serving).
  """
  encoded = tf.convert_to_tensor(encoded, tf.string)
  size = tf.cast(tf.strings.length(encoded), tf.int64)
  head = tf.strings.substr(encoded, 0, 8)
  webp = tf.equal(tf.strings.substr(head, 0, 4), b"RIFF") & tf.reduce_all(
      tf.equal(_read(encoded, size, tf.constant(8, tf.int64), 4),
               tf.constant(tuple(b"WEBP"), tf.int64)))
  start, length = tf.case(
      [(tf.equal(tf.strings.substr(head, 0, 2), b"\xff\xd8"),
        lambda: _walk(encoded, size, 2, _jpeg_step)),
       (tf.equal(head, _PNG_SIGNATURE), lambda: _walk(encoded, size, 8, _png_step)),
       (webp, lambda: _walk(encoded, size, 12, _webp_step))],
      default=lambda: (size, tf.constant(0, tf.int64)))
  tiff = tf.io.decode_raw(tf.strings.substr(encoded, start, length), tf.uint8)
  return tf.cast(_tiff_orientation(tiff), tf.int32)


def apply_orientation(image, orientation):
  """Turns decoded pixels [H, W, C] for display by their EXIF ``orientation``, as Pillow's
  ``ImageOps.exif_transpose`` does (5..8 swap height and width; 1 and other values: as is).

  2 flip left-right, 3 rotate 180, 4 flip top-bottom, 5 transpose (about the main diagonal),
  6 rotate 90 clockwise (Pillow's ROTATE_270), 7 transverse (about the other diagonal),
  8 rotate 90 counter-clockwise (Pillow's ROTATE_90).
  """
  image = tf.convert_to_tensor(image)
  orientation = tf.cast(orientation, tf.int32)
  branches = [
      lambda: image,
      lambda: image[:, ::-1],
      lambda: image[::-1, ::-1],
      lambda: image[::-1],
      lambda: tf.transpose(image, [1, 0, 2]),
      lambda: tf.image.rot90(image, k=3),
      lambda: tf.transpose(image[::-1, ::-1], [1, 0, 2]),
      lambda: tf.image.rot90(image, k=1),
  ]
  index = tf.where((orientation >= 1) & (orientation <= 8), orientation - 1, 0)
  return tf.switch_case(index, branches)
