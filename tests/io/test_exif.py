"""divcolor_tf.io.exif: the EXIF orientation read and applied in TF ops, against Pillow.

Photos are a real LFW face cropped to 100x160 (non-square, so a wrong turn changes the shape or
visibly moves the face), saved with each orientation; Pillow's ``ImageOps.exif_transpose`` (what
``data.load_rgb`` and so the command line apply) is the reference.
"""

import contextlib
import io
import struct
import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from PIL import ImageOps

from divcolor_tf import data
from divcolor_tf.io import exif

# TF's JPEG decoder (decode_image: the fast integer IDCT) and Pillow's (the accurate one) differ
# a little: measured mean |difference| 1.34 levels on these photos (max 12).
JPEG_LEVELS_MEAN = 2.0


@pytest.fixture(scope="module")
def face(lfw_ci):
  """A real face, 100 rows x 160 columns."""
  return data.load_rgb(data.list_images(str(lfw_ci))[0])[20:120, 40:200]


@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def _orientation(encoded):
  """exif_orientation in a graph, as the exported signature runs it."""
  return exif.exif_orientation(encoded)


def _decode(encoded):
  """colorize_bytes's decoding: TF's decoder, then the EXIF orientation."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  return exif.apply_orientation(image, _orientation(encoded)).numpy()


def _pillow(encoded):
  """The command line's decoding: Pillow, then ImageOps.exif_transpose."""
  with warnings.catch_warnings():  # Pillow warns about the EXIF blocks broken here on purpose
    warnings.simplefilter("ignore")
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(encoded))).convert("RGB"))


def _encode(pixels, fmt="JPEG", orientation=None):
  """``pixels`` saved by Pillow, with an EXIF block holding ``orientation`` (None: no EXIF)."""
  options = {"quality": 95} if fmt == "JPEG" else {}
  if orientation is not None:
    options["exif"] = Image.Exif()
    options["exif"][exif.ORIENTATION_TAG] = orientation
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format=fmt, **options)
  return out.getvalue()


def _tiff(order, entries, ifd_offset=8):
  """A TIFF block by hand: byte order "II" or "MM", IFD0 of (tag, type, count, value bytes)."""
  e = "<" if order == b"II" else ">"
  block = order + struct.pack(e + "HI", 42, ifd_offset) + b"\0" * (ifd_offset - 8)
  block += struct.pack(e + "H", len(entries))
  for tag, kind, count, value in entries:
    block += struct.pack(e + "HHI", tag, kind, count) + value.ljust(4, b"\0")
  return block + struct.pack(e + "I", 0)


def _short(order, value):
  return struct.pack("<H" if order == b"II" else ">H", value)


def _with_segments(jpeg, *segments):
  """``jpeg`` (no EXIF of its own) with (marker, payload) segments inserted after SOI."""
  assert jpeg[:2] == b"\xff\xd8"
  inserted = b"".join(struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload
                      for marker, payload in segments)
  return jpeg[:2] + inserted + jpeg[2:]


def _assert_same_display(encoded, orientation):
  """TF's decoding + orientation against Pillow's: the same turn exactly, pixels within the
  decoders' difference."""
  got, expected = _decode(encoded), _pillow(encoded)
  assert int(_orientation(encoded)) == orientation
  assert got.shape == expected.shape  # exactly: 5..8 swap height and width
  error = np.abs(got.astype(int) - expected).mean()
  assert error <= JPEG_LEVELS_MEAN, (orientation, error)
  # Pillow's own turn of TF's decoded pixels is exactly what apply_orientation gave.
  stored = tf.io.decode_image(encoded, channels=3, expand_animations=False).numpy()
  np.testing.assert_array_equal(
      got, np.asarray(ImageOps.exif_transpose(_with_orientation(stored, orientation))))
  return got


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_every_orientation_is_displayed_as_pillow_displays_it(face, fmt):
  shown = {}
  for orientation in range(1, 9):
    encoded = _encode(face, fmt, orientation)
    shown[orientation] = _assert_same_display(encoded, orientation)
    if fmt == "PNG":  # lossless: the very pixels Pillow gives
      np.testing.assert_array_equal(shown[orientation], _pillow(encoded))
  assert shown[1].shape == face.shape and shown[6].shape == (160, 100, 3)
  # The eight are different pictures: no orientation passes for another one.
  for a in range(1, 9):
    for b in range(a + 1, 9):
      if shown[a].shape == shown[b].shape:
        assert np.abs(shown[a].astype(int) - shown[b]).mean() > 10, (a, b)
  if fmt == "PNG":  # 6 turns the stored photo 90 degrees clockwise for display
    np.testing.assert_array_equal(shown[6], np.rot90(face, k=-1))


@pytest.mark.parametrize("order", [b"II", b"MM"])
@pytest.mark.parametrize("kind", [3, 4])  # SHORT (what cameras write) and LONG
def test_both_byte_orders_by_hand(face, order, kind):
  plain = _encode(face)
  for orientation in (3, 6, 8):
    e = "<" if order == b"II" else ">"
    value = struct.pack(e + ("H" if kind == 3 else "I"), orientation)
    block = _tiff(order, [(0x010F, 2, 4, b"Cam\0"), (exif.ORIENTATION_TAG, kind, 1, value),
                          (0x0131, 2, 4, b"abc\0")], ifd_offset=12)
    encoded = _with_segments(plain, (0xE1, b"Exif\0\0" + block))
    assert Image.open(io.BytesIO(encoded)).getexif()[exif.ORIENTATION_TAG] == orientation
    _assert_same_display(encoded, orientation)


def test_integer_types_and_several_values_as_pillow_reads_them(face):
  """Pillow takes the first value of any integer type: inline, or at the offset the entry holds
  when the values need more than 4 bytes; of a repeated tag, the first."""
  plain = _encode(face)
  three = _tiff(b"MM", [(exif.ORIENTATION_TAG, 3, 3, struct.pack(">I", 26))])
  three += struct.pack(">HHH", 7, 1, 1)  # at offset 26, after IFD0 (8 + 2 + 12 + 4)
  cases = {
      "BYTE": (_tiff(b"II", [(exif.ORIENTATION_TAG, 1, 1, b"\x05")]), 1),  # Pillow: b"\x05"
      "SBYTE": (_tiff(b"II", [(exif.ORIENTATION_TAG, 6, 1, b"\x05")]), 5),
      "SSHORT": (_tiff(b"MM", [(exif.ORIENTATION_TAG, 8, 1, _short(b"MM", 2))]), 2),
      "two SHORTs inline": (_tiff(b"II", [(exif.ORIENTATION_TAG, 3, 2, b"\x06\0\x03\0")]), 6),
      "three SHORTs at an offset": (three, 7),
      "the tag twice": (_tiff(b"II", [(exif.ORIENTATION_TAG, 3, 1, _short(b"II", 3)),
                                      (exif.ORIENTATION_TAG, 3, 1, _short(b"II", 6))]), 3),
  }
  for name, (block, orientation) in cases.items():
    encoded = _with_segments(plain, (0xE1, b"Exif\0\0" + block))
    with pytest.warns(UserWarning) if "SHORTs" in name else contextlib.nullcontext():
      assert _pillow_orientation(encoded) == orientation, name
    _assert_same_display(encoded, orientation)


def _pillow_orientation(encoded):
  """The orientation Pillow's exif_transpose acts on (1 for a value it does not act on)."""
  value = Image.open(io.BytesIO(encoded)).getexif().get(exif.ORIENTATION_TAG, 1)
  return value if value in range(1, 9) else 1


def test_exif_after_other_segments_is_found(face):
  """The APP1 segment is found wherever it lies before the scan, here after 120 KiB of others."""
  block = b"Exif\0\0" + _tiff(b"MM", [(exif.ORIENTATION_TAG, 3, 1, _short(b"MM", 8))])
  filler = bytes(range(256)) * 240  # 60 KiB segments, holding 0xFF bytes too
  encoded = _with_segments(_encode(face), (0xE2, filler), (0xED, filler), (0xE1, block))
  _assert_same_display(encoded, 8)
  # Only the first Exif segment counts (Pillow appends later ones to it).
  second = b"Exif\0\0" + _tiff(b"II", [(exif.ORIENTATION_TAG, 3, 1, _short(b"II", 3))])
  _assert_same_display(_with_segments(_encode(face), (0xE1, block), (0xE1, second)), 8)


def test_malformed_exif_is_orientation_one_and_never_an_error(face):
  plain = _encode(face)
  good = _tiff(b"II", [(exif.ORIENTATION_TAG, 3, 1, _short(b"II", 6))])

  def app1(payload):
    return _with_segments(plain, (0xE1, payload))

  rng = np.random.default_rng(0)
  malformed = {
      "no exif": plain,
      "APP1 truncated": plain[:2] + b"\xff\xe1\x10\x00Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01",
      "APP1 cut inside the header": plain[:2] + b"\xff\xe1\x00",
      "garbage after the header": app1(b"Exif\0\0" + rng.integers(0, 256, 200, np.uint8)
                                       .tobytes()),
      "unknown byte order": app1(b"Exif\0\0" + b"XX" + good[2:]),
      "magic not 42": app1(b"Exif\0\0" + good[:2] + b"\x2b\0" + good[4:]),
      "IFD0 past the end": app1(b"Exif\0\0" + good[:4] + struct.pack("<I", 10_000) + good[8:]),
      "entries past the end": app1(b"Exif\0\0" + good[:8] + struct.pack("<H", 60_000)),
      "orientation 0": app1(b"Exif\0\0" + _tiff(b"II", [(0x0112, 3, 1, _short(b"II", 0))])),
      "orientation 9": app1(b"Exif\0\0" + _tiff(b"II", [(0x0112, 3, 1, _short(b"II", 9))])),
      "count 0": app1(b"Exif\0\0" + _tiff(b"II", [(0x0112, 3, 0, _short(b"II", 6))])),
      "values past the end": app1(b"Exif\0\0" + _tiff(b"II", [(0x0112, 3, 3, b"\xff\0\0\0")])),
      "ASCII type": app1(b"Exif\0\0" + _tiff(b"II", [(0x0112, 2, 2, b"6\0")])),
      "other tags only": app1(b"Exif\0\0" + _tiff(b"MM", [(0x0110, 2, 4, b"Cam\0")])),
      "APP1 that is XMP": app1(b"http://ns.adobe.com/xap/1.0/\0" + good),
      "segment length 0": plain[:2] + b"\xff\xe0\x00\x00" + plain[2:],
      "fill bytes only": b"\xff\xd8" + b"\xff" * 5000,
      "PNG without eXIf": _encode(face, "PNG"),
      "GIF": _encode(face, "GIF"),
      "not an image": b"this is not a photo",
      "empty": b"",
  }
  for name, encoded in malformed.items():
    assert int(_orientation(encoded)) == 1, name
  # Where TF's decoder reads the photo, it is left as stored (Pillow drops such EXIF as well).
  for name in ("garbage after the header", "magic not 42", "IFD0 past the end", "count 0",
               "orientation 9", "entries past the end", "values past the end"):
    _assert_same_display(malformed[name], 1)
  # A truncated entry list keeps the entries that are there (as Pillow does).
  cut = good[:8 + 2 + 12]  # IFD0 of one entry, its "next IFD" offset missing
  _assert_same_display(app1(b"Exif\0\0" + cut), 6)


def test_apply_orientation_on_a_small_array():
  """The eight turns on a 2x3 array, written out (Pillow's Transpose names in the comments)."""
  a = np.arange(6).reshape(2, 3, 1)
  expected = {
      1: [[0, 1, 2], [3, 4, 5]],
      2: [[2, 1, 0], [5, 4, 3]],  # FLIP_LEFT_RIGHT
      3: [[5, 4, 3], [2, 1, 0]],  # ROTATE_180
      4: [[3, 4, 5], [0, 1, 2]],  # FLIP_TOP_BOTTOM
      5: [[0, 3], [1, 4], [2, 5]],  # TRANSPOSE
      6: [[3, 0], [4, 1], [5, 2]],  # ROTATE_270: 90 degrees clockwise
      7: [[5, 2], [4, 1], [3, 0]],  # TRANSVERSE
      8: [[2, 5], [1, 4], [0, 3]],  # ROTATE_90: 90 degrees counter-clockwise
  }
  for orientation, rows in expected.items():
    got = exif.apply_orientation(a, orientation).numpy()[..., 0]
    np.testing.assert_array_equal(got, rows, err_msg=str(orientation))
    pillow = ImageOps.exif_transpose(_with_orientation(a[..., 0].astype(np.uint8), orientation))
    np.testing.assert_array_equal(np.asarray(pillow), rows, err_msg=str(orientation))
  for other in (0, 9, -1):
    np.testing.assert_array_equal(exif.apply_orientation(a, other), a)


def _with_orientation(pixels, orientation):
  image = Image.fromarray(pixels)
  image.getexif()[exif.ORIENTATION_TAG] = orientation
  return image


@pytest.mark.parametrize("kind", ["RGBA png", "LA png", "L png", "P+tRNS png", "RGBA webp"])
def test_colorize_bytes_composites_transparency_over_white_as_the_command_line(kind, tmp_path):
  """The serving graph's decode (export.rgb_over_white after tf.io.decode_image) gives the pixels
  the command line's data.load_rgb (Pillow) gives: grey to RGB, alpha over white."""
  import skimage.data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import export  # pylint: disable=g-import-not-at-top
  rgb = skimage.data.astronaut()[::4, ::4]
  alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
  mode, fmt = kind.split()
  image = {"RGBA": lambda: Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
           "LA": lambda: Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA"),
           "L": lambda: Image.fromarray(rgb[..., 0]),
           "P+tRNS": lambda: Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16),
           }[mode]()
  buffer = io.BytesIO()
  extra = {"transparency": 0} if mode == "P+tRNS" else {"lossless": True} if fmt == "webp" else {}
  image.save(buffer, format=fmt.upper(), **extra)
  path = tmp_path / f"photo.{fmt}"
  path.write_bytes(buffer.getvalue())
  decoded = tf.io.decode_image(buffer.getvalue(), channels=0, dtype=tf.uint8,
                               expand_animations=False)
  np.testing.assert_array_equal(export.rgb_over_white(decoded).numpy(),
                                data.load_rgb(str(path), min_side=1))
