"""divcolor-colorize's folder run: output names, complete sets, and writing a set whole.

Names. A photo found under an ``input_root`` folder, ``ROOT/sub/face.jpg``, gets the stem
``OUT/sub/face``; a photo named by a list file or a glob gets ``OUT/face``. Its set is
``<stem>_1.png`` .. ``<stem>_K.png`` (or ``.jpg``, ``.webp``: :data:`FORMATS`) and, with a grid,
``<stem>_grid.png`` (a figure with text: PNG whatever the format). When photos of one run
would share a stem (compared ignoring case, as a case-insensitive file system would), e.g.
``face.jpg`` and ``face.png`` in one folder, each of those photos gets its extension, as written,
added to its stem: ``face_jpg_1.png``, ``face_png_1.png``. Only colliding stems change, so a photo
keeps its plain name as long as no other photo of the run claims it (adding ``face.png`` to a
folder that had only ``face.jpg`` moves ``face.jpg``'s outputs to ``face_jpg_*`` from then on; the
old ``face_*`` files are left as they are). When the extension does not separate them either (the
same name in two folders of a list file, one photo listed twice, ``face.JPG`` beside
``face.jpg``), :func:`plan` raises ValueError naming both photos, before anything is written.

Writing. Each file of a set is rendered under a temporary name beside its final one
(:mod:`divcolor_tf.io.atomic`); then, holding the output folder's lock, the set is installed, one
rename (``overwrite``, ``skip_existing``) or exclusive link (otherwise) per file. So a file under a
final name is always complete, two runs never mix their files within a set (the second run to
install finds the first's files, and its own are dropped, including any of its files already
installed; it counts the photo as done by the other), and a kill can at worst leave a set with
some of its files missing, which ``skip_existing`` redoes.

Existing sets. By default nothing already there is touched: a photo whose files all exist is
already done (skipped, counted, not checked); one with only some of them (an interrupted run, or
a name taken by another file) gets a one-line error, and the other photos go on. ``overwrite``
replaces the set. ``skip_existing`` skips a
photo whose set is complete (:func:`set_problems`: every file there and decoding in its format,
the colorizations at the photo's size, the grid at the size K colorizations of it give) and renders an
incomplete or corrupt set again, replacing it whole.

Foreign files. Every file written here says so: a PNG in a text chunk ``Software: divcolor_tf``
(:data:`MARKER`), a JPEG or WebP in its EXIF Software tag. ``overwrite`` and ``skip_existing``
only ever replace such files (or empty ones): a file under an output's name that this project
did not write (the user's own ``face_1.png``, a photo of the input folder in an in-place run, a
folder, a FIFO) makes its photo fail with one line naming the file, and the file stays as it was.
"""

import collections
import concurrent.futures
import os
from typing import NamedTuple, Optional

from absl import logging
import numpy as np

from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf.io import atomic


# zlib level of the colorizations' PNGs: level 1 encoded a 4000x3000 colorization in 0.86 s against
# 3.1 s at Pillow's default 6, for a 32% larger file (7.0 against 5.3 MB), measured here.
PNG_COMPRESS_LEVEL = 1
MARKER = ("Software", "divcolor_tf")  # the text chunk of every PNG written here
EXIF_SOFTWARE = 0x0131  # the EXIF tag that carries MARKER's value in a JPEG or WebP written here
# The colorizations' formats, by extension: Pillow's name. PNG is lossless and the default; a JPEG
# or WebP at DEFAULT_QUALITY is a fraction of its size (docs: divcolor-colorize --format).
FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
DEFAULT_QUALITY = 92  # JPEG's and WebP's quality, 1..100
OVERLAP_PIXELS = 16_000_000  # up to this size, the next colorization is made while one is encoded
GRID_DPI = 100
GRID_PANEL_INCHES = 2.5  # the longer side of one panel
# A panel is GRID_PANEL_INCHES * GRID_DPI pixels: the images are shrunk to twice that first, so a
# 12-megapixel photo costs what a small one does (matplotlib would resample them anyway).
GRID_THUMBNAIL = 2 * int(GRID_PANEL_INCHES * GRID_DPI)


class PhotoSet(NamedTuple):
  """One photo of a run and the files it gets."""
  photo: str  # the input photo
  index: int  # its position in the run (seeds its --samples draws)
  stem: str  # OUT/<folder>/<name>: the outputs are <stem>_<i>.<format> and <stem>_grid.png
  files: tuple  # the colorizations, <stem>_1.png .. <stem>_K.png (or .jpg, .webp)
  grid: Optional[str]  # <stem>_grid.png, or None without a grid

  @property
  def all_files(self):
    return self.files + ((self.grid,) if self.grid else ())


class Summary(NamedTuple):
  """What a folder run did (the command line's last line)."""
  total: int  # photos in the run
  done: int  # colorized and written
  skipped: int  # already done: sets left as they were (every file there; complete with
  # skip_existing)
  failed: list  # photos not colorized (each named in an error)
  seed: Optional[int]  # the seed of sampled colorizations
  mode: str  # e.g. "top-5 means by mixture weight"
  existing: int = 0  # of ``skipped``: sets whose files all existed, not checked (no flag given)


def output_stem(path, input_root, output_dir):
  """OUT/<relative folder>/<stem> for a photo found under ``input_root`` (a directory), else
  OUT/<stem> (before the collision rule of :func:`plan`)."""
  stem = os.path.splitext(os.path.basename(path))[0]
  if input_root and os.path.isdir(input_root):
    folder = os.path.relpath(os.path.dirname(os.path.abspath(path)), os.path.abspath(input_root))
    if folder != os.curdir and folder != os.pardir and not folder.startswith(
        os.pardir + os.sep):  # a folder named '..dots' is inside
      return os.path.join(output_dir, folder, stem)
  return os.path.join(output_dir, stem)


def _display(path):
  return data.display_path(path)


def plan(paths, input_root, output_dir, count, grid=False, format="png"):  # pylint: disable=redefined-builtin
  """The :class:`PhotoSet` of each photo, with the collision rule of the module docstring; its
  colorizations are ``format`` files (a key of :data:`FORMATS`, their extension).

  Raises:
    ValueError: one line naming two photos that would write the same files.
  """
  stems = [output_stem(p, input_root, output_dir) for p in paths]
  groups = {}
  for i, stem in enumerate(stems):
    groups.setdefault(stem.casefold(), []).append(i)
  for members in groups.values():
    if len(members) > 1:
      for i in members:
        extension = os.path.splitext(paths[i])[1].lstrip(".")
        stems[i] = f"{stems[i]}_{extension}" if extension else stems[i]
  owner = {}
  for i, stem in enumerate(stems):
    other = owner.setdefault(stem.casefold(), i)
    if other != i:
      raise ValueError(
          f"{_display(paths[other])} and {_display(paths[i])} would both write "
          f"{_display(stem)}_*.{format}; rename one of them (nothing was written)")
  return [PhotoSet(str(path), index, stem,
                   tuple(f"{stem}_{i}.{format}" for i in range(1, count + 1)),
                   f"{stem}_grid.png" if grid else None)
          for index, (path, stem) in enumerate(zip(paths, stems))]


def _grid_inches(height, width, panels):
  side = max(height, width)
  return (panels * (GRID_PANEL_INCHES * width / side + 0.2),
          GRID_PANEL_INCHES * height / side + 0.6)


def _thumbnail(rgb, side):
  """uint8 RGB shrunk (antialiased) so that its longer side is at most ``side``."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  image = Image.fromarray(np.asarray(rgb, np.uint8))
  image.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
  return np.asarray(image)


def release_memory():
  """Hands the heap memory freed so far back to the OS (glibc's ``malloc_trim``; a no-op where
  there is none). TensorFlow's and Pillow's threads free a big photo's strips and copies in
  several malloc arenas, which glibc keeps: trimmed after each colorization, a 24-megapixel
  set's peak RSS fell from 1.52-1.56 GB to 1.41 GB (bench/photo_memory.py); trimming on every
  free instead (MALLOC_TRIM_THRESHOLD_=0) made the run 20% slower."""
  global _MALLOC_TRIM
  if _MALLOC_TRIM is None:
    try:
      import ctypes  # pylint: disable=g-import-not-at-top  (glibc's malloc_trim, where there is one)
      _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
      _MALLOC_TRIM = False
  if _MALLOC_TRIM:
    _MALLOC_TRIM(0)


_MALLOC_TRIM = None


def write_grid(path, rgb, result, sampled):
  """The grey input and its K colorizations side by side, titled with their mixture weights
  (a PNG, whatever ``path`` ends in)."""
  import matplotlib  # pylint: disable=g-import-not-at-top  (matplotlib on first use: a light import)
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top  (matplotlib on first use: a light import)
  from skimage import color as skcolor  # pylint: disable=g-import-not-at-top  (scikit-image on first use: a light import)
  height, width = rgb.shape[:2]
  side = GRID_THUMBNAIL
  grey = skcolor.rgb2lab(_thumbnail(rgb, side))[..., 0]
  panels = 1 + len(result.colorizations)
  fig, axes = plt.subplots(1, panels, figsize=_grid_inches(height, width, panels), squeeze=False)
  try:  # closed however it ends: a full disk failing savefig left one open figure per photo
    axes = axes[0]
    axes[0].imshow(grey, cmap="gray", vmin=0, vmax=100)
    axes[0].set_title("input (L)", fontsize=9)
    for i, (image, weight, component) in enumerate(zip(
        result.colorizations, result.weights, result.components), start=1):
      axes[i].imshow(_thumbnail(image, side))
      label = f"sample {i}, m={component}" if sampled else f"#{i}"
      axes[i].set_title(f"{label}: pi={weight:.3f}", fontsize=9)
    for ax in axes:
      ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=GRID_DPI, format="png", metadata=dict([MARKER]))
  finally:
    plt.close(fig)


def image_problem(path, size, tolerance=0, mode=None, format="png"):  # pylint: disable=redefined-builtin
  """Why ``path`` is not a whole ``format`` file (a key of :data:`FORMATS`) of ``size`` (width,
  height), or None when it is."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  expected = FORMATS[format]
  try:
    with Image.open(path) as image:
      if image.format != expected:
        return f"not a {expected} ({image.format})"
      image.verify()  # a PNG's chunk structure and CRCs (a no-op for the others)
    with Image.open(path) as image:
      image.load()  # every pixel decodes (a truncated file fails here)
      actual, actual_mode = image.size, image.mode
  except FileNotFoundError:
    return "missing"
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    return f"does not decode ({atomic.brief(e, None)})"
  if any(abs(a - b) > tolerance for a, b in zip(actual, size)):
    return f"{actual[0]}x{actual[1]}, not {round(size[0])}x{round(size[1])}"
  if mode and actual_mode != mode:
    return f"mode {actual_mode}, not {mode}"
  return None


def format_of(path):
  """The :data:`FORMATS` key of an output file: its extension."""
  return os.path.splitext(path)[1].lstrip(".").lower()


def set_problems(photo_set, height, width):
  """[(file, problem)] of a photo's set, for a photo of ``height`` x ``width``; [] when complete.

  Complete: every colorization a file of its extension's format that decodes, RGB, ``width`` x
  ``height``; the grid (when the set has one) a PNG that decodes at the size :func:`write_grid`
  gives K colorizations (within a pixel: matplotlib truncates the figure's size in pixels).
  """
  problems = []
  for path in photo_set.files:
    problem = image_problem(path, (width, height), mode="RGB", format=format_of(path))
    if problem:
      problems.append((path, problem))
  if photo_set.grid:
    inches = _grid_inches(height, width, 1 + len(photo_set.files))
    problem = image_problem(photo_set.grid, [GRID_DPI * x for x in inches], tolerance=1)
    if problem:
      problems.append((photo_set.grid, problem))
  return problems


def ours(path):
  """True when ``path`` may be replaced: an empty regular file, or a PNG whose text chunk (a JPEG
  or WebP whose EXIF Software tag) says this project wrote it (:data:`MARKER`); a missing path is
  ours too."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  if not os.path.lexists(path):
    return True
  if os.path.islink(path) or not os.path.isfile(path):
    return False
  if os.path.getsize(path) == 0:  # holds nothing of anyone's
    return True
  try:
    with Image.open(path) as image:
      if image.format == "PNG":
        return str(image.info.get(MARKER[0], "")).startswith(MARKER[1])
      return (image.format in FORMATS.values()
              and str(image.getexif().get(EXIF_SOFTWARE, "")).startswith(MARKER[1]))
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
    return False


class ForeignFileError(ValueError):
  """A file under an output's name that this project did not write: never replaced."""


def foreign_files(photo_set):
  """The files under ``photo_set``'s names that :func:`ours` would not replace."""
  return [f for f in photo_set.all_files if not ours(f)]


def _foreign_message(photo_set, foreign):
  return (f"{_display(foreign[0])}: exists and was not written by divcolor_tf; not replaced "
          f"(its photo {_display(photo_set.photo)} is left undone: move the file away or choose "
          "another --output)")


def save_image(path, rgb, format="png", quality=DEFAULT_QUALITY):  # pylint: disable=redefined-builtin
  """Writes uint8 RGB ``rgb`` to ``path`` as ``format`` (a key of :data:`FORMATS`), marked as
  this project's (:func:`ours`, so a later run may replace it): a PNG at
  :data:`PNG_COMPRESS_LEVEL`, a JPEG or WebP at ``quality`` (1..100)."""
  from PIL import Image, PngImagePlugin  # pylint: disable=g-import-not-at-top  (no TF, no PIL at import)
  image = Image.fromarray(np.asarray(rgb))
  if format == "png":
    info = PngImagePlugin.PngInfo()
    info.add_text(*MARKER)
    image.save(path, format="PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)
  else:
    exif = Image.Exif()
    exif[EXIF_SOFTWARE] = MARKER[1]
    image.save(path, format=FORMATS[format], quality=int(quality), exif=exif.tobytes())


def format_problem(format, quality):  # pylint: disable=redefined-builtin
  """Why ``format`` / ``quality`` cannot be written, in one line, or None."""
  if format not in FORMATS:
    return f"format {format!r}: must be one of {', '.join(FORMATS)}"
  if not 1 <= quality <= 100:
    return f"quality {quality}: must be in [1, 100] (JPEG and WebP)"
  return None


def write_set(photo_set, rgb, result, sampled, replace=False, keep_complete=False,
              quality=DEFAULT_QUALITY):
  """Writes a photo's set whole (module docstring): every file rendered under a temporary name,
  then all installed while holding the output folder's lock.

  Args:
    photo_set: the photo's :class:`PhotoSet`.
    rgb: the photo, uint8 [H, W, 3] (the grid's grey panel).
    result: its ``colorize.Colorization`` (one colorization per file of the set).
    sampled: the colorizations are samples (the grid's titles).
    replace: replace existing files; otherwise each file is created exclusively.
    keep_complete: leave the set alone when it is complete by the time the lock is held (another
      run finished it meanwhile).
    quality: of JPEG and WebP colorizations (their format is their files' extension).

  Returns:
    True when the set was installed, False when it was left alone (``keep_complete``).

  Raises:
    FileExistsError: not ``replace``, and a file of the set exists; none of this call's files is
      left behind.
    ForeignFileError: ``replace``, and a file of the set was not written by this project.
  """
  if len(result.colorizations) != len(photo_set.files):
    raise ValueError(f"{len(result.colorizations)} colorizations for {len(photo_set.files)} files")
  folder = os.path.dirname(photo_set.stem) or "."
  os.makedirs(folder, exist_ok=True)
  temps = {final: atomic.temp_path(final) for final in photo_set.files}
  try:
    thumbnails = _encode_all(photo_set, result, temps, rgb.shape[0] * rgb.shape[1], quality)
    if photo_set.grid:
      temps[photo_set.grid] = atomic.temp_path(photo_set.grid)
      write_grid(temps[photo_set.grid], rgb, result._replace(colorizations=thumbnails), sampled)
    return _install(photo_set, temps, folder, replace, keep_complete, rgb.shape[:2])
  except FileExistsError:
    raise
  except OSError as e:  # name the file the user asked for, not its hidden temporary name
    finals = {temp: final for final, temp in temps.items()}
    if e.filename in finals:
      raise OSError(e.errno, e.strerror, finals[e.filename]) from None
    raise
  finally:
    for temp in temps.values():
      atomic.remove(temp)


def save(result, prefix, *, photo=None, format="png", quality=DEFAULT_QUALITY,  # pylint: disable=redefined-builtin
         overwrite=False, sampled=False):
  """Writes one photo's ``colorize.Colorization`` as divcolor-colorize does (``Colorization.save``).

  ``prefix`` "out/face" gives out/face_1.png .. out/face_K.png; a folder (one that exists, or a
  path ending in a separator) gives FOLDER/colorization_1.png ..; with ``photo``, also the grid
  ``<prefix>_grid.png`` (:func:`write_grid`). The set is written whole, as :func:`write_set`
  does: each file complete or absent, none of a user's files replaced.

  Args:
    result: a ``Colorization`` (``model.colorize(photo, k)``).
    prefix: the files' path without ``_<i>.<format>``, or a folder.
    photo: the colorized photo, uint8 RGB [H, W, 3]: given, the grid is written too (its grey
      panel is the photo's lightness).
    format: png, jpg or webp (:data:`FORMATS`).
    quality: of a jpg or webp, 1..100.
    overwrite: replace files this project wrote earlier (never others).
    sampled: the colorizations are draws (``samples=``): the grid's titles say so.

  Returns:
    The paths written, the colorizations' first, then the grid's.

  Raises:
    ValueError: a bad format or quality; a file under one of the names that this project did not
      write.
    FileExistsError: a file exists under one of the names, and not ``overwrite``.
  """
  problem = format_problem(format, quality)
  if problem:
    raise ValueError(problem)
  prefix = os.fspath(prefix)
  if os.path.isdir(prefix) or prefix.endswith(os.sep):
    prefix = os.path.join(prefix, "colorization")
  count = len(result.colorizations)
  photo_set = PhotoSet("", 0, prefix, tuple(f"{prefix}_{i}.{format}" for i in range(1, count + 1)),
                       f"{prefix}_grid.png" if photo is not None else None)
  foreign = foreign_files(photo_set) if overwrite else []
  if foreign:
    raise ForeignFileError(f"{foreign[0]}: exists and was not written by divcolor_tf; not "
                           "replaced")
  existing = [f for f in photo_set.all_files if os.path.lexists(f)] if not overwrite else []
  exists = lambda path: FileExistsError(f"{path}: exists; pass overwrite=True to replace it")
  if existing:  # before any work (write_set would find it only when installing)
    raise exists(existing[0])
  rgb = np.asarray(photo if photo is not None else result.colorizations[0])
  try:
    write_set(photo_set, rgb, result, sampled, replace=overwrite, quality=quality)
  except FileExistsError as e:  # appeared meanwhile: nothing of this call's is left
    raise exists(e.filename) from None
  return list(photo_set.all_files)


def grid(result, photo, sampled=False):
  """The grid of :func:`write_grid` as uint8 RGB [h, w, 3] (``Colorization.grid``): the grey
  photo beside its colorizations, titled with their weights, e.g. to show in a notebook."""
  import io  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  encoded = io.BytesIO()
  write_grid(encoded, np.asarray(photo), result, sampled)
  encoded.seek(0)
  with Image.open(encoded) as image:
    return np.asarray(image.convert("RGB"))


def _encode_all(photo_set, result, temps, pixels, quality):
  """Encodes each colorization of ``result`` to its file's temporary name; returns the grid's
  thumbnails (none without a grid).

  zlib runs without the GIL: each file is encoded in a thread while the next colorization is
  made (a LazyColorizations joins it only now). At most ``workers`` wait to be encoded, so a big
  photo's set never has all K colorizations in memory at once; the grid keeps thumbnails. Above
  OVERLAP_PIXELS, one at a time: each colorization in flight costs 7 bytes a pixel (its uint8
  array and Pillow's 4-byte copy), and a 24-megapixel set with two in flight peaked over the
  1.5 GB bar (bench/photo_memory.py).
  """
  def encode(final, image):
    save_image(temps[final], image, format_of(final), quality)

  workers = 1 if pixels > OVERLAP_PIXELS else min(len(temps), os.cpu_count() or 1)
  thumbnails = []
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    pending = collections.deque()
    for final, image in zip(photo_set.files, result.colorizations):
      if photo_set.grid:
        thumbnails.append(_thumbnail(image, GRID_THUMBNAIL))
      pending.append(pool.submit(encode, final, image))
      del image
      while len(pending) >= workers:
        pending.popleft().result()
        release_memory()
    while pending:
      pending.popleft().result()
      release_memory()
  return thumbnails


def _install(photo_set, temps, folder, replace, keep_complete, size):
  """Renames the set's temporaries to their names under the output folder's lock (write_set's
  rules); False when ``keep_complete`` finds the set complete already."""
  with atomic.folder_lock(folder):
    if keep_complete and not set_problems(photo_set, *size):
      return False
    foreign = foreign_files(photo_set) if replace else []
    if foreign:  # appeared since the caller looked
      raise ForeignFileError(_foreign_message(photo_set, foreign))
    installed = []
    try:
      for final, temp in temps.items():
        atomic.publish(temp, final, exclusive=not replace)
        installed.append(final)
    except FileExistsError:
      for final in installed:  # created exclusively by this call, under the lock: ours
        atomic.remove(final)
      raise
  return True


def _existing(photo_set):
  """The files of ``photo_set`` that exist, read under the output folder's lock (a set is
  installed whole under it, so another run's set is seen whole or not at all)."""
  folder = os.path.dirname(photo_set.stem) or "."
  if not any(os.path.lexists(f) for f in photo_set.all_files):
    return []
  with atomic.folder_lock(folder):
    return [f for f in photo_set.all_files if os.path.lexists(f)]


def _partial_message(existing, photo_set):
  return (f"{_display(photo_set.photo)}: {len(existing)} of its {len(photo_set.all_files)} output "
          f"files exist ({_display(existing[0])}{', ...' if len(existing) > 1 else ''}: an "
          "interrupted run?); --skip_existing completes the set, --overwrite replaces it")


def sample_seed(seed, index):
  """The seed of photo ``index``'s draws in a run of ``seed``: its own stream, whatever else the
  run holds (divcolor-colorize and divcolor-figure draw the same samples)."""
  return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)


def _require_folder(output_dir):
  """ValueError (one line) when ``output_dir`` or the nearest folder above it that exists is not a
  folder or not writable: every photo's write would fail (issue 29, rows 4 and 13: "30 failed"
  and no reason, or a message naming a hidden temporary file, after every photo was colorized)."""
  output_dir = os.fspath(output_dir)
  target = folder = os.path.abspath(output_dir)
  while not os.path.lexists(folder):
    parent = os.path.dirname(folder)
    if parent == folder:
      return
    folder = parent
  above = folder != target  # the nearest existing folder above the output is the one at fault
  if not os.path.isdir(folder):
    raise ValueError(f"{output_dir}: the output is not a folder"
                     + (f" ({folder} is a file)" if above else ""))
  if not os.access(folder, os.W_OK | os.X_OK):
    raise ValueError(f"{output_dir}: the output folder is not writable"
                     + (f" ({folder})" if above else ""))


class _PhotoRun:
  """One photo's set at a time, for :func:`colorize_photos` (its arguments, named)."""

  def __init__(self, colorizer, count, sampled, seed, overwrite, skip_existing, on_error,
               quality):
    self.colorizer, self.count, self.sampled, self.seed = colorizer, count, sampled, seed
    self.overwrite, self.skip_existing, self.on_error = overwrite, skip_existing, on_error
    self.quality = quality

  def existing_outcome(self, photo_set):
    """Not overwriting: "existing" when every file of the set is there, "failed" (one error)
    when only some are, None when none is."""
    existing = _existing(photo_set)
    if not existing:
      return None
    if len(existing) == len(photo_set.all_files):
      return "existing"
    self.on_error(_partial_message(existing, photo_set))
    return "failed"

  def one(self, photo_set):
    """Colorizes one photo's set: "done", "skipped", "existing" or "failed"."""
    if not self.overwrite and not self.skip_existing:
      outcome = self.existing_outcome(photo_set)
      if outcome:
        return outcome
    else:
      foreign = foreign_files(photo_set)
      if foreign:
        self.on_error(_foreign_message(photo_set, foreign))
        return "failed"
    try:
      return self._colorize(photo_set)
    except data.ImageError as e:
      self.on_error(str(e))
    except FileExistsError:  # another run installed the set after the check above
      return self.existing_outcome(photo_set) or "failed"
    except ForeignFileError as e:
      self.on_error(str(e))
    except (OSError, ValueError) as e:
      self.on_error(f"{_display(photo_set.photo)}: {atomic.brief(e, None)}")
    return "failed"

  def _colorize(self, photo_set):
    # The budget is read from the header first: a refused photo is never decoded.
    rgb = data.load_rgb(photo_set.photo,
                        max_megapixels=getattr(self.colorizer, "max_megapixels", None))
    if self.skip_existing and not set_problems(photo_set, *rgb.shape[:2]):
      return "skipped"
    if self.sampled:
      result = self.colorizer.colorize(rgb, samples=self.count, lazy=True,
                                       seed=sample_seed(self.seed, photo_set.index))
    else:
      result = self.colorizer.colorize(rgb, k=self.count, lazy=True)  # one at a time: write_set
    installed = write_set(photo_set, rgb, result, self.sampled,
                          replace=self.overwrite or self.skip_existing,
                          keep_complete=self.skip_existing, quality=self.quality)
    return "done" if installed else "skipped"


def colorize_photos(colorizer, paths, output_dir, *, input_root=None, k=config_lib.DEFAULT_K,
                    samples=0, seed=None, grid=False, overwrite=False, skip_existing=False,
                    on_error=None, progress=None, format="png", quality=DEFAULT_QUALITY):  # pylint: disable=redefined-builtin
  """Colorizes ``paths`` into ``output_dir``, one set of files per photo (module docstring).

  A photo that cannot be read or written is named in a one-line ``on_error(message)`` (default:
  logged) and the others go on. Without ``overwrite`` or ``skip_existing``, a photo whose files
  all exist is already done: skipped, untouched and not checked; one with only some of them (an
  interrupted run, a name taken by another file) is an error, and its files are left alone.

  Args:
    colorizer: a ``colorize.Colorizer`` or ``saved_model.SavedModelColorizer``.
    paths: the photos (``data.list_images``).
    output_dir: where the sets go.
    input_root: the folder the photos were found under (their subfolders are kept), or None.
    k: colorizations per photo: the top-k means by mixture weight.
    samples: instead, this many draws from the mixture (0: top-k).
    seed: the draws' seed (None: a fresh one, returned in the summary). Photo i of ``paths`` draws
      from its own stream (seed, i), whatever else the run holds.
    grid: also write <stem>_grid.png.
    overwrite: replace existing sets.
    skip_existing: skip complete sets; redo incomplete or corrupt ones.
    on_error: called with each one-line error.
    progress: a ``progress.Progress`` advanced once per photo, or None.
    format: the colorizations' format, a key of :data:`FORMATS` (png, jpg, webp): their
      extension; the grid is a PNG.
    quality: of a jpg or webp, 1..100.

  Returns:
    A :class:`Summary`.

  Raises:
    ValueError: ``output_dir`` (or a folder above it) is a file, two photos would write the same
      files (:func:`plan`), or a bad ``format`` / ``quality``; nothing was written.
  """
  problem = format_problem(format, quality)
  if problem:
    raise ValueError(problem)
  _require_folder(output_dir)
  on_error = on_error or (lambda message: logging.error("%s", message))
  sampled = samples > 0
  count = samples if sampled else k
  if sampled and seed is None:
    seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
  sets = plan(paths, input_root, output_dir, count, grid, format)
  for folder in sorted({os.path.dirname(photo_set.stem) or "." for photo_set in sets}):
    removed = atomic.remove_stale_temps(folder)  # a killed run's (issue 29, row 13)
    if removed:
      logging.info("%s: removed %d temporary file(s) a killed run left", folder, len(removed))

  run = _PhotoRun(colorizer, count, sampled, seed, overwrite, skip_existing, on_error, quality)
  outcomes = {"done": [], "skipped": [], "existing": [], "failed": []}
  for photo_set in sets:
    outcomes[run.one(photo_set)].append(photo_set.photo)
    if progress is not None:
      progress.update()
  mode = (f"{count} samples from the mixture, seed {seed}" if sampled
          else f"top-{count} means by mixture weight")
  return Summary(len(sets), len(outcomes["done"]),
                 len(outcomes["skipped"]) + len(outcomes["existing"]), outcomes["failed"],
                 seed if sampled else None, mode, len(outcomes["existing"]))
