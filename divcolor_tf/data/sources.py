"""Photos on disk: where they are (:func:`list_images`), how they decode (:func:`load_rgb`), the
train/validation split, and how a file is named in a message (:func:`display_path`).

Sources (:func:`list_images`): a directory tree (searched recursively for .jpg/.jpeg/.png/.bmp/
.gif/.tif/.tiff/.webp, any case), a list file (one path per line, relative paths taken from the
list file's folder, blank lines and '#' comments ignored), a glob ('photos/*/*.jpg'), or a Python
list.

Decoding (:func:`load_rgb`) uses Pillow: JPEG, PNG, BMP, GIF, TIFF and WebP (of an animation or a
multi-page TIFF, the first frame); grey, palette, 16-bit, CMYK and RGBA images all become 8-bit
RGB (transparency composited over white); the EXIF orientation is honoured. A file that cannot be
read raises :class:`ImageError`, whose message is one line, "<path>: <problem>".

Any file name the OS allows works, not only UTF-8 ones: Python holds a name that is not valid
UTF-8 (Linux names are bytes, e.g. b'caf\\xe9.jpg' from a Latin-1 camera) as a str with
surrogate escapes (``os.fsdecode``), which neither ``tf.constant`` nor a UTF-8 stream accepts.
Paths therefore enter tf.data as their bytes (``os.fsencode``; a tf.string is bytes), come back
with ``os.fsdecode``, and every message names a file through :func:`display_path` (undecodable
bytes and control characters backslash-escaped), so logging or printing one never raises.
"""

import glob
import hashlib
import os
import stat
import threading
import unicodedata
import warnings

from absl import logging
import numpy as np

from divcolor_tf.io import photos


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
FORMATS = "JPEG, PNG, BMP, GIF, TIFF, WebP"  # what load_rgb reads (Pillow), for messages
MIN_SIDE = 8  # smaller photos carry no colour field worth learning: skipped as "too small"
# The training and statistics reader's pixel limit, read from a photo's header before it is
# decoded (a colorizer's default budget, the same 64): a larger photo, or a decompression bomb,
# is skipped as "over the limit" at the cost of a small one.
TRAINING_MAX_MEGAPIXELS = photos.MAX_MEGAPIXELS

# Mean chroma (ab/128 units) below which a photo counts as black-and-white, calibrated on the
# near_gray.txt lists of ../shared/data (64x64 fields; tests/io/test_data.py pins it): listed photos
# reach at most 0.0094 (LFW, 40), 0.0071 (ImageNet-val, 5), 0.0112 (Tiny-ImageNet, 247); the
# other photos start at 0.0420 (lfw/ci), 0.0122 (imagenet_val/ci) and 0.0097 (Tiny-ImageNet:
# 3 of the first 2,000 lie below the threshold).
NEAR_GREY_THRESHOLD = 0.0115
_LINE_BREAKING = ("Cc", "Zl", "Zp")  # Unicode categories display_path escapes
# The bidirectional controls (LRM, RLM, ALM, the embeddings and overrides, the isolates): one in
# a name (U+202E, RIGHT-TO-LEFT OVERRIDE) makes 'gpj.exe' print as 'exe.jpg' and reverses the rest
# of the message line; display_path escapes them too.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")

# A named source: "shared:lfw/train" is lfw/train under the project's shared data folder
# (:func:`shared_data`), wherever that is on the machine reading it. Configs name their photos
# this way, so a resolved config.json (and the bundled model's) holds no path of one machine.
SHARED = "shared:"
_REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shared_data(*parts):
  """A path under the project's ../shared/data (or $DIVCOLOR_SHARED_DATA), absolute."""
  root = os.environ.get("DIVCOLOR_SHARED_DATA") or os.path.join(
      _REPOSITORY, os.pardir, "shared", "data")
  return os.path.normpath(os.path.join(root, *parts))


def shared_source(*parts):
  """The named source of ``parts`` under the shared data folder: ``"shared:lfw/train"``."""
  return SHARED + "/".join(p.strip("/") for p in parts)


def resolve_source(source):
  """The path a source names: a ``shared:`` name resolved by :func:`shared_data`; else as is."""
  if isinstance(source, str) and source.startswith(SHARED):
    return shared_data(*source[len(SHARED):].split("/"))
  return source


def source_name(path):
  """How a path is recorded in a file the project writes: ``shared:REL`` for a path under the
  shared data folder, otherwise the path as given."""
  text = os.fsdecode(path)
  root = shared_data()
  absolute = os.path.normpath(os.path.abspath(text))
  if absolute == root or absolute.startswith(root + os.sep):
    return shared_source(os.path.relpath(absolute, root).replace(os.sep, "/"))
  return text


def display_path(path):
  """``path`` (str or bytes) as printable one-line text: its bytes decoded as UTF-8, with bytes
  that are not UTF-8 and control characters (a newline is legal in a Linux file name)
  backslash-escaped ('caf\\xe9.jpg', 'a\\nb.jpg'; also U+2028 and U+2029, which
  ``str.splitlines`` breaks on, and the bidirectional controls such as U+202E, which reorder what
  a terminal shows). A UTF-8 name without control characters is returned unchanged."""
  try:
    raw = os.fsencode(path)
  except UnicodeEncodeError:  # a lone surrogate no file name decodes to: escape it as well
    raw = path.encode("utf-8", "backslashreplace")
  text = raw.decode("utf-8", "backslashreplace")
  return "".join(c.encode("unicode_escape").decode("ascii")
                 if unicodedata.category(c) in _LINE_BREAKING or c in _BIDI_CONTROLS else c
                 for c in text)


class DataPathError(ValueError):
  """A photo source (a config's data.train / data.val, --images, --input) that does not exist or
  holds no photos; str(error) is one line naming it. The command lines end with that line."""


class ImageError(ValueError):
  """A photo that cannot be used; str(error) is one line naming the file and the problem.

  ``path`` is the file's path as the OS names it (str, surrogate-escaped when not UTF-8); the
  message shows it through :func:`display_path`.
  """

  def __init__(self, path, problem):
    self.path = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
    self.problem = " ".join(str(problem).split())
    super().__init__(f"{display_path(self.path)}: {self.problem}")


def _is_image(name):
  return name.lower().endswith(IMAGE_EXTENSIONS)


def list_images(source):
  """Paths of the photos in ``source``, sorted for directories and globs, in order for lists.

  Args:
    source: a directory (searched recursively), a ``shared:`` name (:data:`SHARED`), an image file, a list file of paths (UTF-8;
      names that are not UTF-8 are read as the bytes the file holds), a glob pattern, or a
      list/tuple of paths (returned as a list of str).

  Returns:
    A list of str paths; a name that is not UTF-8 is surrogate-escaped (``os.fsdecode``), as
    ``os.listdir`` gives it.

  Raises:
    DataPathError (a ValueError): one line naming ``source``: it does not exist, or holds no
      images.
  """
  if isinstance(source, (list, tuple)):
    return [os.fsdecode(p) for p in source]
  source = resolve_source(os.fsdecode(source))
  shown = display_path(source)
  if os.path.isdir(source):
    paths = _walk_images(source)
    if not paths:
      raise DataPathError(f"{shown}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this directory")
    return paths
  if os.path.isfile(source):
    if _is_image(source):
      return [source]
    try:
      paths = _read_list_file(source)
    except (ValueError, OSError) as e:
      raise DataPathError(f"{shown}: not an image and not a readable list file ({e})") from None
    if not paths:
      raise DataPathError(f"{shown}: the list file names no images")
    return paths
  if os.path.exists(source):  # a FIFO, socket or device named as the source
    raise DataPathError(f"{shown}: {file_kind(os.stat(source).st_mode)}, not a photo, a list "
                        "file or a directory")
  if glob.has_magic(source):
    # Files of every kind but folders: a FIFO among them is named by load_rgb, not dropped. A
    # symlink loop under '**' reaches the same folder by ever longer names: each name in a folder
    # is listed once (two links to one photo in a folder stay two photos).
    matches = [p for p in glob.glob(source, recursive=True) if not os.path.isdir(p)]
    first = {}
    for p in sorted(matches, key=lambda p: (p.count(os.sep), p)):
      first.setdefault((os.path.realpath(os.path.dirname(p) or "."), os.path.basename(p)), p)
    paths = sorted(first.values())
    if not paths:
      raise DataPathError(f"{shown}: the pattern matches no files")
    return paths
  raise DataPathError(f"{shown}: no such file or directory")


# A list file is sniffed from its first bytes (a NUL there: a binary file, e.g. a video, refused
# without reading the rest), then read a line at a time, each at most this long (no path is:
# PATH_MAX is 4096), so memory stays bounded by the list, whatever file is named (issue 47, row
# 11: a 3 GB video was read whole to look for a NUL byte).
SNIFF_BYTES = 64 * 1024
MAX_LIST_LINE = 64 * 1024


def _read_list_file(source):
  """The paths a list file names (relative ones from its folder); ValueError when it is none."""
  base = os.path.dirname(os.path.abspath(source))
  paths = []
  with open(source, "rb") as f:
    if b"\0" in f.read(SNIFF_BYTES):  # no path holds a NUL byte: binary, not a list of paths
      raise ValueError("binary content")
    f.seek(0)
    for number, raw in enumerate(iter(lambda: f.readline(MAX_LIST_LINE + 1), b""), 1):
      if b"\0" in raw:
        raise ValueError(f"binary content at line {number}")
      if len(raw) > MAX_LIST_LINE:
        raise ValueError(f"line {number} is longer than any path")
      # Names that are not UTF-8 (written by `find` in a Latin-1 folder) keep their bytes.
      line = raw.decode("utf-8", "surrogateescape").strip()
      if line and not line.startswith("#"):
        paths.append(line if os.path.isabs(line) else os.path.join(base, line))
  return paths


def _walk_images(top):
  """The image files under ``top``, sorted, following symlinked folders but never into a folder
  already walked: a loop (``in/self -> .``) or a second link to the same folder is walked once,
  with a warning naming it."""
  paths, seen = [], set()
  for root, dirs, files in os.walk(top, followlinks=True):
    try:
      info = os.stat(root)
    except OSError:
      dirs[:] = []
      continue
    if (info.st_dev, info.st_ino) in seen:  # reached again through a symlink
      logging.warning("skipped %s: the same folder as one already listed (%s; reached again "
                      "through a link)", display_path(root), display_path(os.path.realpath(root)))
      dirs[:] = []
      continue
    seen.add((info.st_dev, info.st_ino))
    dirs.sort()
    paths.extend(os.path.join(root, f) for f in sorted(files) if _is_image(f))
  return paths


def load_rgb(path, min_side=MIN_SIDE, max_megapixels=None, budget_name=photos.BUDGET_NAME):
  """Decodes one photo to uint8 RGB [H, W, 3] with Pillow (EXIF orientation applied).

  The file is opened without blocking and must be a regular file, so a FIFO named ``a.png`` (or a
  device) fails at once instead of waiting forever for a writer. With ``max_megapixels`` (a
  colorizer's pixel budget), the size the file's header declares is checked before any pixel is
  decoded: a refused photo, a decompression bomb among them, costs what opening a small one does.
  Pillow's own DecompressionBombWarning is silenced (the budget speaks instead); its error, at
  twice its MAX_IMAGE_PIXELS, still refuses a photo when no budget is set.

  ``budget_name`` is what the message calls the limit (the setting that changes it).

  Raises:
    ImageError: the file is missing, not a regular file, not an image, truncated, smaller than
      min_side or over max_megapixels.
  """
  from PIL import Image, ImageOps, UnidentifiedImageError  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  if max_megapixels:
    _quiet_pillow_bomb_warning()
  path = os.fspath(path)
  try:
    with _open_regular(path) as f:
      with Image.open(f) as image:
        problem = photos.over_budget(*image.size, max_megapixels, budget_name)
        if problem:
          raise ImageError(path, f"{problem}; not decoded")
        image.seek(0)  # GIF / multi-frame: the first frame
        image.load()
        try:
          image = ImageOps.exif_transpose(image)
        except Exception:  # pylint: disable=broad-except  (a corrupt EXIF block: keep the pixels)
          pass
        rgb = _to_rgb(image)
  except ImageError:
    raise
  except FileNotFoundError:
    raise ImageError(path, "no such file") from None
  except IsADirectoryError:
    raise ImageError(path, "is a directory, not an image") from None
  except UnidentifiedImageError:
    raise ImageError(path, f"not an image Pillow can read ({FORMATS})") from None
  except Image.DecompressionBombError as e:
    raise ImageError(path, f"too large to decode safely ({e})") from None
  except OSError as e:
    if e.filename is not None:  # the OS refused the file (a symlink loop, no permission, ...)
      raise ImageError(path, f"cannot read: {e.strerror}") from None  # the message names it
    raise ImageError(path, f"cannot decode: {e}") from None
  except (SyntaxError, ValueError) as e:
    raise ImageError(path, f"cannot decode: {e}") from None
  height, width = rgb.shape[:2]
  if min(height, width) < min_side:
    raise ImageError(path, f"too small ({width}x{height}); need at least {min_side}x{min_side}")
  return rgb


def _quiet_pillow_bomb_warning():
  """Ignores Pillow's DecompressionBombWarning once a pixel budget is in force (load_rgb with
  ``max_megapixels``): the budget refuses such photos in one line before decoding, and Pillow's
  two-line warning leaked into the command lines' output. A filter appended to the process's
  list (put back if something reset the filters since), so a program's own choice for the
  warning, e.g. ``simplefilter("error")``, still wins; not ``warnings.catch_warnings``, which is
  not thread-safe (load_rgb runs in tf.data's threads)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  if ("ignore", None, Image.DecompressionBombWarning, None, 0) not in warnings.filters:
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning, append=True)


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def file_kind(mode):
  """What a non-regular file of ``os.stat`` mode ``mode`` is, in words ("a FIFO (named pipe)")."""
  if stat.S_ISDIR(mode):
    return "a directory"
  return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refuse_irregular(path, mode):
  if stat.S_ISDIR(mode):
    raise IsADirectoryError(path)
  if not stat.S_ISREG(mode):
    raise ImageError(path, f"{file_kind(mode)}, not a regular file: not read")


def _open_regular(path):
  """A binary file object for ``path``; IsADirectoryError / ImageError when it is not a regular
  file. A FIFO, socket or device is refused from its ``stat``, never opened (opening a FIFO would
  release a writer waiting on it; opening a device can act); the open itself does not block
  (O_NONBLOCK) and is checked again (``fstat``), in case the name was replaced meanwhile."""
  _refuse_irregular(path, os.stat(path).st_mode)
  fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
  try:
    _refuse_irregular(path, os.fstat(fd).st_mode)
  except BaseException:
    os.close(fd)
    raise
  return os.fdopen(fd, "rb")


def _to_rgb(image):
  """Any Pillow image -> uint8 RGB array; 16-bit scaled down, alpha composited over white."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  mode = image.mode
  if mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit / 32-bit grey
    grey = np.asarray(image, dtype=np.float64)
    if mode != "F" and grey.max(initial=0) > 255:
      grey = grey / 257.0  # 65535 -> 255
    elif mode == "F" and grey.max(initial=0) <= 1.0:
      grey = grey * 255.0
    grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)
  if mode == "P" and "transparency" in image.info:
    image, mode = image.convert("RGBA"), "RGBA"
  if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    image = Image.alpha_composite(white, rgba)
  rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
  return np.ascontiguousarray(rgb)


class SkipLog:
  """Counts the photos a pipeline left out; warns once per file. Thread-safe (tf.data maps)."""

  def __init__(self, warn=True):
    self._lock = threading.Lock()
    self._reasons = {}  # path -> problem
    self.warn = warn

  def add(self, path, problem):
    """Records ``path`` (str, or the bytes a tf.string holds) as left out for ``problem``."""
    path = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    with self._lock:
      if path in self._reasons:
        return
      self._reasons[path] = problem
    if self.warn:
      logging.warning("skipped %s: %s", display_path(path), problem)

  @property
  def count(self):
    return len(self._reasons)

  @property
  def skipped(self):
    """{path: problem} of every photo left out so far (paths as :func:`list_images` gives them)."""
    with self._lock:
      return dict(self._reasons)

  def report(self):
    """One line: how many photos were left out and why; "" when none was."""
    skipped = self.skipped
    if not skipped:
      return ""
    grey = sum(1 for p in skipped.values() if p.startswith("near-grey"))
    unreadable = len(skipped) - grey
    parts = []
    if unreadable:
      parts.append(f"{unreadable} unreadable")
    if grey:
      parts.append(f"{grey} near-grey")
    first = next(iter(skipped.items()))
    return (f"{len(skipped)} photo(s) skipped ({', '.join(parts)}); e.g. "
            f"{display_path(first[0])}: {first[1]}")


def split(paths, val_fraction, seed=0):
  """Deterministic train/validation split by a hash of each path's last two components.

  Hashing 'folder/file' (not the absolute path) keeps the split the same on every machine and
  for every checkout location; for LFW's Person/Person_0001.jpg layout a person's photos may
  fall on both sides (the paper's LFW split is by image too).

  Returns:
    (train_paths, val_paths), each in the input order.
  """
  if not 0 <= val_fraction < 1:
    raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
  train, val = [], []
  for p in paths:
    key = "/".join(os.path.normpath(os.fsdecode(p)).replace(os.sep, "/").split("/")[-2:])
    digest = hashlib.sha256(f"{seed}:".encode() + os.fsencode(key)).digest()  # any file name
    (val if int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction else train).append(p)
  return train, val


def config_paths(data_config, flag_hint=None):
  """(train_paths, val_paths) of a config's ``data`` block (see divcolor_tf.config).

  Args:
    data_config: the config's ``data`` section.
    flag_hint: what the calling tool's user should pass instead (e.g. "pass --images PHOTOS");
      None: the trainers' ``--config.data.<field>=PHOTOS``.

  Raises:
    DataPathError: one line naming the source, the config field that gave it and the flag.
  """
  def listed(field):
    try:
      return list_images(data_config[field])
    except DataPathError as e:
      hint = flag_hint or f"set --config.data.{field}=PHOTOS"
      raise DataPathError(f"{e} (config data.{field}: {hint})") from None

  paths = listed("train")
  if data_config.get("val"):
    train, val = paths, listed("val")
  else:
    train, val = split(paths, data_config.val_fraction, data_config.split_seed)
  if data_config.get("max_images"):
    train = train[:data_config.max_images]
    val = val[:max(1, int(round(data_config.max_images * max(data_config.val_fraction, 0.05))))]
  return train, val


def near_grey_list(list_file, root=None):
  """Absolute paths named by a near_gray.txt (paths relative to its folder, or to root)."""
  root = root or os.path.dirname(os.path.abspath(list_file))
  with open(list_file, encoding="utf-8") as f:
    return [os.path.join(root, line.strip()) for line in f if line.strip()]
