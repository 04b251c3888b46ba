"""A corpus of awkward files through every path that reads a photo (issue 12 item 10).

The corpus is built here, in a temporary folder, from scikit-image's own sample photos (they ship
inside the package; no ../shared/data, no random pixels): broken files (truncated, empty, text
named .jpg, a symlink loop), files too small or too large (1x1, 3x20000, a decompression bomb),
every storage a photo can have (16-bit grey and RGB PNG, RGBA, palette with transparency, an
animated GIF, CMYK JPEG, TIFF, still and animated WebP, BMP, a PNG named .jpg), every EXIF
orientation 1..8 (JPEG, and one WebP), names that are not UTF-8, hold spaces, non-ASCII letters
or a newline, a folder named photo.jpg, one stem with two extensions, and a photo whose output
already exists.

Each file goes through (a) the divcolor-colorize command line over the whole folder (one run),
(b) divcolor_tf.data.stats.compute over the folder (the training pipeline's reader) and (c) the
exported SavedModel's ``colorize_bytes`` with the file's bytes. Each test checks every file and
fails listing every file that did not behave as specified; the module prints how many
(file, path) pairs were tried and how many held (``pytest -s`` shows it).

The model is tests/tiny_models.py's tiny untrained one (only shapes and lightness matter here),
its config pointed at a few other crops of the same sample photos.
"""

import io
import os
import re
import struct
import zlib

import numpy as np
import pytest
import skimage.color
import skimage.data
import tensorflow as tf
from PIL import Image

from conftest import console_script
from conftest import finish_tool
from conftest import start_tool
import tiny_models
from divcolor_tf import data
from divcolor_tf import export
from divcolor_tf.data import stats as stats_lib

PROG = "divcolor-colorize"
K = 2  # colorizations per photo
UPRIGHT_SIZE = (40, 64)  # (height, width) of every orientation test photo once turned upright
L_MATCH = 3.0  # mean |L| difference (L units) of an output from the upright photo's, at most
NOT_UTF8 = os.fsdecode(b"caf\xe9.jpg")  # a Latin-1 camera's name
BAD_NOT_UTF8 = os.fsdecode(b"bad\xff name.jpg")
PILLOW_FORMATS = re.escape(f"not an image Pillow can read ({data.FORMATS})")
NOT_ENCODED = r"not an encoded JPEG, PNG, GIF, BMP or WebP image"
TOO_SMALL_BYTES = r"height and width must be at least 8 pixels"
# Pillow's exif_transpose method for each orientation, and the method that undoes it (the
# stored pixels of a photo that displays as UPRIGHT).
_UNDO = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
         6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
         8: Image.Transpose.ROTATE_270}

_TALLY = {}  # (file, path) -> None when it held, else what went wrong


def _sample(name, width, height, box=None):
  """A scikit-image sample photo (astronaut, chelsea, coffee, rocket), cropped to ``box`` and
  resized to width x height, uint8 RGB."""
  image = Image.fromarray(getattr(skimage.data, name)())
  if box:
    image = image.crop(box)
  return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


def _upright():
  return _sample("astronaut", UPRIGHT_SIZE[1], UPRIGHT_SIZE[0], box=(0, 60, 512, 380))


def _encode(image, fmt, **options):
  out = io.BytesIO()
  image.save(out, format=fmt, **options)
  return out.getvalue()


def _png16(pixels):
  """A 16-bit PNG by hand (Pillow writes 16-bit grey but not 48-bit RGB): uint16 [H, W, C]."""
  height, width, channels = pixels.shape
  colour_type = {1: 0, 3: 2}[channels]

  def chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

  rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)
  return (b"\x89PNG\r\n\x1a\n"
          + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0))
          + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _oriented(orientation, fmt="JPEG", **options):
  """The UPRIGHT photo stored as a camera stores it for ``orientation``, tag included."""
  stored = Image.fromarray(_upright())
  if _UNDO[orientation] is not None:
    stored = stored.transpose(_UNDO[orientation])
  tag = Image.Exif()
  tag[0x0112] = orientation
  return _encode(stored, fmt, exif=tag, **options)


class Case:
  """One corpus entry and what each path must do with it.

  ``content``: the file's bytes, or "loop" (a symlink to another loop_*.jpg) or "folder" (a
  directory); ``size``: (height, width) of the photo as displayed (EXIF applied) when the
  command line and the training reader use it, None when they must refuse it; ``problem``: a
  regex the command line's and the reader's one-line error must match (None: a good photo);
  ``served``: a regex of colorize_bytes's error, None when it must colorize the bytes; ``stem``:
  the output stem (under the output folder) of a good photo; ``upright``: check the outputs'
  lightness against the upright photo (EXIF orientation).
  """

  def __init__(self, name, content, size=None, problem=None, served=None, stem=None,
               upright=False):
    self.name, self.content, self.size, self.problem = name, content, size, problem
    self.served = served
    self.stem = stem or os.path.splitext(name)[0]
    self.upright = upright

  @property
  def shown(self):
    return data.display_path(self.name)


def _cases():
  coffee = _sample("coffee", 64, 48)
  truncated_jpeg = _encode(Image.fromarray(coffee), "JPEG", quality=90)
  truncated_png = _encode(Image.fromarray(_sample("chelsea", 64, 48)), "PNG")
  rgba = np.dstack([_sample("chelsea", 40, 28), np.tile(np.linspace(0, 255, 40), (28, 1))])
  palette = Image.fromarray(_sample("coffee", 33, 22)).quantize(32)
  palette.info["transparency"] = 0
  frames = [Image.fromarray(_sample("astronaut", 28, 20)),
            Image.fromarray(_sample("chelsea", 28, 20))]
  webp_frames = [Image.fromarray(_sample("rocket", 30, 22)),
                 Image.fromarray(_sample("coffee", 30, 22))]
  grey16 = skimage.color.rgb2gray(_sample("coffee", 36, 24))
  tiff16 = skimage.color.rgb2gray(_sample("rocket", 38, 26))
  cases = [
      Case("astronaut.jpg", _encode(Image.fromarray(_sample("astronaut", 48, 40)), "JPEG"),
           (40, 48)),
      Case("chelsea.png", _encode(Image.fromarray(_sample("chelsea", 45, 30)), "PNG"),
           (30, 45)),
      Case("grey16.png", _encode(Image.fromarray(np.round(grey16 * 65535).astype(np.uint16)),
                                 "PNG"), (24, 36)),
      Case("rgb16.png", _png16(_sample("astronaut", 30, 20).astype(np.uint16) * 257), (20, 30)),
      Case("rgba.png", _encode(Image.fromarray(rgba.astype(np.uint8), "RGBA"), "PNG"), (28, 40)),
      Case("palette.png", _encode(palette, "PNG", transparency=0), (22, 33)),
      Case("anim.gif", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
           (20, 28), stem="anim_gif"),
      Case("cmyk.jpg", _encode(Image.fromarray(_sample("coffee", 44, 30)).convert("CMYK"),
                               "JPEG", quality=95), (30, 44)),
  ] + [Case(f"orient_{n}.jpg", _oriented(n, quality=95), UPRIGHT_SIZE, upright=True)
       for n in range(1, 9)] + [
      Case("phone_6.webp", _oriented(6, "WEBP", lossless=True), UPRIGHT_SIZE, upright=True),
      Case(NOT_UTF8, _encode(Image.fromarray(_sample("chelsea", 50, 34)), "JPEG"), (34, 50)),
      Case("Ünïcödé 写真 photo.jpg", _encode(Image.fromarray(_sample("coffee", 52, 36)), "JPEG"),
           (36, 52)),
      Case("beans.tif", _encode(Image.fromarray(_sample("coffee", 46, 32)), "TIFF",
                                 compression="tiff_lzw"), (32, 46), served=r"a TIFF image"),
      Case("scan.TIFF", _encode(Image.fromarray(np.round(tiff16 * 65535).astype(np.uint16)),
                                "TIFF"), (26, 38), served=r"a TIFF image"),
      Case("coffee.webp", _encode(Image.fromarray(_sample("coffee", 42, 28)), "WEBP",
                                  quality=90), (28, 42)),
      Case("anim.WEBP", _encode(webp_frames[0], "WEBP", save_all=True,
                                append_images=webp_frames[1:], lossless=True), (22, 30),
           served=r"an animated WebP", stem="anim_WEBP"),
      Case("face.jpg", _encode(Image.fromarray(_sample("astronaut", 26, 34)), "JPEG"), (34, 26),
           stem="face_jpg"),
      Case("face.png", _encode(Image.fromarray(_sample("chelsea", 34, 26)), "PNG"), (26, 34),
           stem="face_png"),
      Case("photo.jpg/inside.png", _encode(Image.fromarray(_sample("rocket", 24, 24)), "PNG"),
           (24, 24)),
      Case("kept.jpg", _encode(Image.fromarray(_sample("astronaut", 32, 32)), "JPEG"), (32, 32),
           problem=r"kept\.jpg: 1 of its \d+ output files exist \(\S*kept_1\.png: an interrupted"),
      Case("cat.bmp", _encode(Image.fromarray(_sample("chelsea", 36, 28)), "BMP"), (28, 36)),
      Case("misnamed.jpg", _encode(Image.fromarray(_sample("rocket", 40, 26)), "PNG"), (26, 40)),
      # Photos no path can use.
      Case("truncated.jpg", truncated_jpeg[:len(truncated_jpeg) // 2],
           problem=r"cannot decode: image file is truncated", served=r"Invalid JPEG data"),
      Case("empty.jpg", b"", problem=PILLOW_FORMATS, served=NOT_ENCODED),
      Case("notes.jpg", b"shopping list: milk, eggs\n", problem=PILLOW_FORMATS,
           served=NOT_ENCODED),
      Case("dot.png", _encode(Image.fromarray(_sample("coffee", 1, 1)), "PNG"),
           problem=r"too small \(1x1\)", served=TOO_SMALL_BYTES),
      Case("thin.png", _encode(Image.fromarray(_sample("coffee", 3, 20000)), "PNG"),
           problem=r"too small \(3x20000\)", served=TOO_SMALL_BYTES),
      Case("bomb.png", _encode(Image.new("1", (30000, 30000)), "PNG"),
           problem=r"too large to decode safely", served=r"over the limit of 64 megapixels"),
      Case(BAD_NOT_UTF8, truncated_png[:len(truncated_png) // 3],
           problem=r"cannot decode: ", served=r"Invalid PNG data"),
      Case("line\nbreak.png", truncated_png[:200], problem=r"cannot decode: ",
           served=r"Invalid PNG data"),
      Case("loop_a.jpg", "loop", problem=r"cannot read: Too many levels of symbolic links"),
      Case("loop_b.jpg", "loop", problem=r"cannot read: Too many levels of symbolic links"),
      # Not a photo at all: a folder (holding photo.jpg/inside.png) is searched, not read.
      Case("photo.jpg", "folder"),
  ]
  return cases


def _photos(cases):
  """The cases a folder search lists (every file; not the folder)."""
  return [c for c in cases if c.content != "folder"]


@pytest.fixture(scope="module", autouse=True)
def tally():
  """Prints how many (file, path) pairs were tried and held, once the module's tests are done."""
  yield _TALLY
  held = sum(problem is None for problem in _TALLY.values())
  paths = sorted({path for _, path in _TALLY})
  print(f"\nfault corpus: tried {len(_TALLY)} (files x paths: {', '.join(paths)}), held {held}")
  for (name, path), problem in sorted(_TALLY.items()):
    if problem is not None:
      print(f"  not held: {data.display_path(name)} via {path}: {problem}")


def _record(case, path, problem):
  _TALLY[case.name, path] = problem
  return [] if problem is None else [f"{case.shown} via {path}: {problem}"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  """The corpus folder (cases written), and its cases."""
  root = tmp_path_factory.mktemp("corpus")
  cases = _cases()
  for case in cases:
    path = root / case.name
    if case.content == "folder":
      path.mkdir(exist_ok=True)
    elif case.content == "loop":
      os.symlink("loop_b.jpg" if case.name == "loop_a.jpg" else "loop_a.jpg", path)
    else:
      path.parent.mkdir(exist_ok=True)
      path.write_bytes(case.content)
  return root, cases


@pytest.fixture(scope="module")
def tiny_config(repo_root, tmp_path_factory):
  """The tiny config, its data.train a folder of other crops of the sample photos."""
  train = tmp_path_factory.mktemp("train")
  for i, name in enumerate(("astronaut", "chelsea", "coffee", "rocket")):
    for j, box in enumerate(((0, 0, 200, 200), (100, 100, 300, 300))):
      Image.fromarray(_sample(name, 64, 64, box)).save(train / f"{name}_{i}{j}.png")
  return tiny_models.tiny_config(repo_root, train)


@pytest.fixture(scope="module")
def cli_run(corpus, colorizer, tiny_config, tmp_path_factory):
  """divcolor-colorize over the corpus folder (one run), into an output folder holding one file
  already: kept_1.png, not a PNG."""
  root, _ = corpus
  model_dir = tiny_models.write_model_dir(
      tmp_path_factory.mktemp("model"), (colorizer.trunk, colorizer.mdn, colorizer.decoder),
      tiny_config, tiny_config.data.train)
  out = tmp_path_factory.mktemp("colorized")
  (out / "kept_1.png").write_bytes(b"precious: not to be overwritten")
  process = start_tool(console_script(PROG) + [
      "--model", str(model_dir), "--input", str(root), "--output", str(out), "--k", str(K)])
  yield process, out
  if process.poll() is None:
    process.kill()
    process.communicate()


@pytest.fixture(scope="module")
def colorize_bytes(colorizer, tmp_path_factory):
  path = export.export_saved_model(colorizer, tmp_path_factory.mktemp("saved") / "tiny")
  return tf.saved_model.load(path).signatures["colorize_bytes"]


def _lightness(rgb):
  return skimage.color.rgb2lab(np.asarray(rgb))[..., 0]


def _size_problem(image, case):
  height, width = case.size
  if image.size != (width, height):
    return f"{image.size[0]}x{image.size[1]}, not {width}x{height}"
  if image.mode != "RGB":
    return f"mode {image.mode}, not RGB"
  return None


def _upright_problem(rgb):
  """Why ``rgb`` (an output of an orientation photo) is not the upright photo's lightness: the
  upright photo must match best of the photo's flips and turns of that shape, and closely."""
  upright = _upright()
  light = _lightness(rgb)
  turns = {name: _lightness(turn) for name, turn in (
      ("upright", upright), ("flipped left-right", upright[:, ::-1]),
      ("flipped top-bottom", upright[::-1]), ("turned 180", upright[::-1, ::-1]),
      ("transposed", upright.transpose(1, 0, 2)), ("turned 90", np.rot90(upright)),
      ("turned 270", np.rot90(upright, 3))) if turn.shape[:2] == light.shape}
  errors = {name: np.abs(light - turn).mean() for name, turn in turns.items()}
  best = min(errors, key=errors.get)
  if best != "upright" or errors[best] > L_MATCH:
    return f"lightness closest to the photo {best} ({errors[best]:.2f} L units from it)"
  return None


# (a) The command line over the whole folder.

def test_the_command_line_colorizes_the_good_photos_and_names_each_bad_one_once(corpus, cli_run):
  root, cases = corpus
  process, out = cli_run
  done = finish_tool(process)
  errors = [line for line in done.stderr.splitlines() if line.startswith(f"{PROG}:")]
  failures = []
  for case in cases:
    shown = data.display_path(str(root / case.name))
    naming = [line for line in errors
              if f"{PROG}: {shown}: " in line or f"(skipped {shown})" in line]
    if case.content == "folder":
      failures += _record(case, "command line", f"named in errors: {naming}" if naming else None)
      continue
    if case.problem:
      if len(naming) != 1:
        problem = f"{len(naming)} error lines name it, not 1: {naming}"
      elif not re.search(case.problem, naming[0]):
        problem = f"error {naming[0]!r} does not match {case.problem!r}"
      else:
        problem = None
      failures += _record(case, "command line", problem)
      continue
    problem = f"named in errors: {naming}" if naming else None
    for i in range(1, K + 1):
      output = out / f"{case.stem}_{i}.png"
      if problem:
        break
      if not output.is_file():
        problem = f"no {output.name}"
        break
      with Image.open(output) as image:
        problem = _size_problem(image, case)
        if not problem and case.upright:
          problem = _upright_problem(image.convert("RGB"))
    failures += _record(case, "command line", problem)
  # The pre-existing file survives whole; its photo's set was not begun.
  assert (out / "kept_1.png").read_bytes() == b"precious: not to be overwritten"
  assert not (out / "kept_2.png").exists()
  # The rest of the batch was done; the exit status is 1 because of the failures alone.
  good = [c for c in _photos(cases) if not c.problem]
  bad = [c for c in cases if c.problem]
  summary = done.stdout.strip().splitlines()[-1]
  assert summary.startswith(f"{PROG}: colorized {len(good)} of {len(good) + len(bad)} photo(s)"), (
      summary)
  assert summary.endswith(f"; {len(bad)} failed"), summary
  assert done.returncode == 1
  assert len(errors) == len(bad), errors
  assert not failures, "\n".join(failures)


# (b) The training reader: divcolor_tf.data.stats.compute over the folder.

def test_the_colour_statistics_use_the_good_photos_and_report_each_bad_one_once(corpus, caplog):
  root, cases = corpus
  skip_log = data.SkipLog()
  with caplog.at_level("WARNING"):
    result = stats_lib.compute(str(root), n_components=2, batch_size=8, skip_log=skip_log)
  warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped ")]
  listed = data.list_images(str(root))
  failures = []
  for case in cases:
    path = os.fsdecode(os.path.join(os.fsencode(root), os.fsencode(case.name)))
    naming = [w for w in warnings if w.startswith(f"skipped {data.display_path(path)}: ")]
    if case.content == "folder":
      problem = "listed as a photo" if path in listed or path in skip_log.skipped else None
    elif case.size:  # a good photo (kept.jpg too)
      problem = (f"skipped: {skip_log.skipped[path]}" if path in skip_log.skipped
                 else None if path in listed else "not listed")
    elif path not in skip_log.skipped:
      problem = "not reported as skipped"
    elif len(naming) != 1 or len(naming[0].splitlines()) != 1:
      problem = f"{len(naming)} warnings name it, not one one-line warning: {naming}"
    elif not re.search(case.problem, skip_log.skipped[path]):
      problem = f"problem {skip_log.skipped[path]!r} does not match {case.problem!r}"
    else:
      problem = None
    failures += _record(case, "colour statistics", problem)
  good = [c for c in cases if c.size]
  assert result.image_count == len(good)
  assert skip_log.count == len(_photos(cases)) - len(good)
  assert len(skip_log.report().splitlines()) == 1
  assert not failures, "\n".join(failures)


# (c) The SavedModel's colorize_bytes with each file's bytes.

def test_colorize_bytes_colorizes_what_it_can_decode_and_refuses_the_rest_clearly(
    corpus, colorize_bytes, colorizer):
  _, cases = corpus
  failures = []
  for case in cases:
    if not isinstance(case.content, bytes):  # a symlink loop or a folder: no bytes to send
      continue
    try:
      out = colorize_bytes(image_bytes=tf.constant([case.content]))
    except tf.errors.InvalidArgumentError as e:
      expected = case.served or case.problem
      if case.size and not case.served:
        problem = f"refused: {' '.join(e.message.split())[:300]}"
      elif not re.search(expected, e.message):
        problem = f"error does not match {expected!r}: {' '.join(e.message.split())[:300]}"
      else:
        problem = None
      failures += _record(case, "colorize_bytes", problem)
      continue
    if not case.size or case.served:
      failures += _record(case, "colorize_bytes", "colorized, not refused")
      continue
    pngs = out["png_bytes"].numpy()
    expected = (1, colorizer.num_components)  # all M means
    problem = None if pngs.shape == expected else f"png_bytes of shape {pngs.shape}, not {expected}"
    for encoded in pngs[0]:
      if problem:
        break
      with Image.open(io.BytesIO(encoded)) as image:
        problem = _size_problem(image, case)
        if not problem and case.upright:
          problem = _upright_problem(image.convert("RGB"))
    failures += _record(case, "colorize_bytes", problem)
  assert not failures, "\n".join(failures)
