"""tf.data input pipelines: photos on disk -> colour fields, lightness and the grey input.

Sources (:func:`list_images`): a directory tree (searched recursively for .jpg/.jpeg/.png/.bmp/
.gif/.tif/.tiff/.webp, any case), a list file (one path per line, relative paths taken from the
list file's folder, blank lines and '#' comments ignored), a glob ('photos/*/*.jpg'), or a Python
list.

Decoding (:func:`load_rgb`) uses Pillow: JPEG, PNG, BMP, GIF, TIFF and WebP (of an animation or a
multi-page TIFF, the first frame); grey, palette, 16-bit, CMYK and RGBA images all become 8-bit
RGB (transparency composited over white); the EXIF orientation is honoured. A file that cannot be
read raises :class:`ImageError`, whose message is one line, "<path>: <problem>".

Each dataset element (:func:`make_dataset`) is a dict:

  colour_field  float32 [F, F, 2]  the photo's ab channels at F x F (paper: 64), in ab/128 units
  lightness     float32 [F, F, 1]  L in [0, 100] at F x F (the "+skip" VAE's grey input)
  grey          float32 [G, G, 1]  L in [0, 100] at G x G (the feature network's input, paper 224)
  path          string  []         the source file's path, as bytes (``os.fsdecode`` gives the
                                   str of :func:`list_images`)

The photo is squashed to each square size (no crop; the authors' code resized whole photos to
64x64) with an antialiased bilinear resize of its sRGB values, then converted to CIE Lab with
:mod:`divcolor_tf.color` inside the graph.

A file that cannot be decoded is skipped with one warning naming it (once per file, however many
epochs), counted by a :class:`SkipLog`, and reported at the end; it never stops an epoch.
``drop_near_grey`` also leaves out black-and-white photos: those whose mean chroma
sqrt(a^2 + b^2)/128 over the F x F field is below ``near_grey_threshold``.

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
import threading
import unicodedata

from absl import logging
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
FORMATS = "JPEG, PNG, BMP, GIF, TIFF, WebP"  # what load_rgb reads (Pillow), for messages
MIN_SIDE = 8  # smaller photos carry no colour field worth learning: skipped as "too small"
# Mean chroma (ab/128 units) below which a photo counts as black-and-white, calibrated on the
# near_gray.txt lists of ../shared/data (64x64 fields; tests/test_data.py pins it): listed photos
# reach at most 0.0094 (LFW, 40), 0.0071 (ImageNet-val, 5), 0.0112 (Tiny-ImageNet, 247); the
# other photos start at 0.0420 (lfw/ci), 0.0122 (imagenet_val/ci) and 0.0097 (Tiny-ImageNet:
# 3 of the first 2,000 lie below the threshold).
NEAR_GREY_THRESHOLD = 0.0115
_LINE_BREAKING = ("Cc", "Zl", "Zp")  # Unicode categories display_path escapes


def display_path(path):
  """``path`` (str or bytes) as printable one-line text: its bytes decoded as UTF-8, with bytes
  that are not UTF-8 and control characters (a newline is legal in a Linux file name)
  backslash-escaped ('caf\\xe9.jpg', 'a\\nb.jpg'; also U+2028 and U+2029, which
  ``str.splitlines`` breaks on). A UTF-8 name without control characters is returned unchanged."""
  try:
    raw = os.fsencode(path)
  except UnicodeEncodeError:  # a lone surrogate no file name decodes to: escape it as well
    raw = path.encode("utf-8", "backslashreplace")
  text = raw.decode("utf-8", "backslashreplace")
  return "".join(c.encode("unicode_escape").decode("ascii")
                 if unicodedata.category(c) in _LINE_BREAKING else c for c in text)


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
    source: a directory (searched recursively), an image file, a list file of paths (UTF-8;
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
  source = os.fsdecode(source)
  shown = display_path(source)
  if os.path.isdir(source):
    paths = []
    for root, dirs, files in os.walk(source, followlinks=True):
      dirs.sort()
      paths.extend(os.path.join(root, f) for f in sorted(files) if _is_image(f))
    if not paths:
      raise DataPathError(f"{shown}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this directory")
    return paths
  if os.path.isfile(source):
    if _is_image(source):
      return [source]
    base = os.path.dirname(os.path.abspath(source))
    try:
      with open(source, "rb") as f:
        blob = f.read()
      if b"\0" in blob:  # no path holds a NUL byte: a binary file, not a list of paths
        raise ValueError("binary content")
      # Names that are not UTF-8 (written by `find` in a Latin-1 folder) keep their bytes.
      lines = [line.strip() for line in blob.decode("utf-8", "surrogateescape").split("\n")]
    except (ValueError, OSError) as e:
      raise DataPathError(f"{shown}: not an image and not a readable list file ({e})") from None
    paths = [l if os.path.isabs(l) else os.path.join(base, l)
             for l in lines if l and not l.startswith("#")]
    if not paths:
      raise DataPathError(f"{shown}: the list file names no images")
    return paths
  if glob.has_magic(source):
    paths = sorted(p for p in glob.glob(source, recursive=True) if os.path.isfile(p))
    if not paths:
      raise DataPathError(f"{shown}: the pattern matches no files")
    return paths
  raise DataPathError(f"{shown}: no such file or directory")


def load_rgb(path, min_side=MIN_SIDE):
  """Decodes one photo to uint8 RGB [H, W, 3] with Pillow (EXIF orientation applied).

  Raises:
    ImageError: the file is missing, not an image, truncated, or smaller than min_side.
  """
  from PIL import Image, ImageOps, UnidentifiedImageError  # pylint: disable=g-import-not-at-top
  path = os.fspath(path)
  try:
    with Image.open(path) as image:
      image.seek(0)  # GIF / multi-frame: the first frame
      image.load()
      try:
        image = ImageOps.exif_transpose(image)
      except Exception:  # pylint: disable=broad-except  (a corrupt EXIF block: keep the pixels)
        pass
      rgb = _to_rgb(image)
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


def _to_rgb(image):
  """Any Pillow image -> uint8 RGB array; 16-bit scaled down, alpha composited over white."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
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


def config_paths(data_config):
  """(train_paths, val_paths) of a config's ``data`` block (see divcolor_tf.config).

  Raises:
    DataPathError: one line naming the source and the config field that gave it.
  """
  def listed(field):
    try:
      return list_images(data_config[field])
    except DataPathError as e:
      raise DataPathError(f"{e} (config data.{field}: set --config.data.{field}=PHOTOS)") from None

  paths = listed("train")
  if data_config.get("val"):
    train, val = paths, listed("val")
  else:
    train, val = split(paths, data_config.val_fraction, data_config.split_seed)
  if data_config.get("max_images"):
    train = train[:data_config.max_images]
    val = val[:max(1, int(round(data_config.max_images * max(data_config.val_fraction, 0.05))))]
  return train, val


def _decoder(skip_log):
  """A numpy function path -> (uint8 RGB [H, W, 3], ok); unreadable files give ok=False."""

  def decode(path):
    path = os.fsdecode(path)  # the tf.string's bytes -> the OS's name for the file
    try:
      return load_rgb(path), True
    except ImageError as e:
      skip_log.add(path, e.problem)
      return np.zeros((MIN_SIDE, MIN_SIDE, 3), np.uint8), False

  return decode


def make_dataset(paths, field_size=64, grey_size=224, batch_size=32, shuffle=False, seed=0,
                 epoch=0, **kwargs):
  """A tf.data.Dataset of batched examples (see the module docstring for the features): one
  epoch of :func:`epoch_datasets` (its arguments; ``epoch`` picks the order when shuffling)."""
  return epoch_datasets(paths, field_size=field_size, grey_size=grey_size, batch_size=batch_size,
                        shuffle=shuffle, seed=seed, **kwargs)(epoch)


def epoch_seed(seed, epoch):
  """The shuffle seed of 0-based ``epoch`` of a run seeded ``seed``: a function of the two only."""
  return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0] >> 1)


def epoch_batches(examples, epoch, *, shuffle, seed, shuffle_buffer, repeat, batch_size,
                  drop_remainder):
  """Epoch ``epoch`` of unbatched ``examples``: a buffer shuffled with :func:`epoch_seed`, then
  repeated (steps_per_epoch training) and batched (``batch_size`` None: unbatched), prefetched."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  ds = examples
  if shuffle:
    ds = ds.shuffle(shuffle_buffer, seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False)
  if repeat:
    ds = ds.repeat()
  if batch_size:
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  return ds.prefetch(tf.data.AUTOTUNE)


def epoch_datasets(paths, field_size=64, grey_size=224, batch_size=32, shuffle=False, seed=0,
                   repeat=False, cache=False, drop_near_grey=False,
                   near_grey_threshold=NEAR_GREY_THRESHOLD, drop_remainder=False,
                   shuffle_buffer=2048, skip_log=None, num_parallel_calls=None):
  """A function ``epoch -> tf.data.Dataset`` of batched examples, each epoch's order a function
  of (seed, epoch) alone.

  So a run resumed at epoch e in a new process sees exactly the batches the uninterrupted run
  saw (tf.data's own ``reshuffle_each_iteration`` counts iterations within a process, so every
  resumed process replayed the first epoch's order). Without the cache, each epoch reads the
  file list in its own permutation, then shuffles a buffer of examples with the epoch's seed;
  with the cache, the file list is permuted once (seed), decoded into the in-memory cache in the
  first pass (shared by every epoch's dataset) and each epoch shuffles a buffer of it with the
  epoch's seed.

  Args:
    paths: a list of photo paths, or any source :func:`list_images` accepts.
    field_size: F, the colour field's side (paper 64).
    grey_size: G, the grey input's side (paper 224).
    batch_size: examples per batch; None: unbatched.
    shuffle: shuffle the photos (the file list, then a buffer of examples; see above).
    seed: the run's seed; with the epoch it fixes the order.
    repeat: repeat forever (for steps_per_epoch training).
    cache: keep decoded, resized examples in memory after the first pass.
    drop_near_grey: leave out black-and-white photos (counted in skip_log).
    near_grey_threshold: mean chroma, ab/128 units, below which a photo is near-grey.
    drop_remainder: drop a last partial batch (needed for a fixed global batch).
    shuffle_buffer: examples in the shuffle buffer.
    skip_log: a :class:`SkipLog` recording skipped photos; None: a private one that warns.
    num_parallel_calls: decode parallelism; None: tf.data.AUTOTUNE.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from divcolor_tf import color  # pylint: disable=g-import-not-at-top

  paths = list_images(paths)
  if not paths:
    raise ValueError("make_dataset: no photos given")
  skip_log = SkipLog() if skip_log is None else skip_log
  parallel = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
  decode = _decoder(skip_log)

  def load(path):
    rgb, ok = tf.numpy_function(decode, [path], (tf.uint8, tf.bool), stateful=False)
    rgb.set_shape([None, None, 3])
    ok.set_shape([])
    rgb = tf.image.convert_image_dtype(rgb, tf.float32)
    small = tf.clip_by_value(
        tf.image.resize(rgb, [field_size, field_size], antialias=True), 0.0, 1.0)
    lab = color.rgb_to_lab(small)
    if grey_size == field_size:
      grey = lab[..., :1]
    else:
      large = tf.clip_by_value(
          tf.image.resize(rgb, [grey_size, grey_size], antialias=True), 0.0, 1.0)
      grey = color.rgb_to_lab(large)[..., :1]
    chroma = tf.reduce_mean(tf.norm(lab[..., 1:], axis=-1)) / color.AB_SCALE
    return {
        "colour_field": lab[..., 1:] / color.AB_SCALE,
        "lightness": lab[..., :1],
        "grey": grey,
        "path": path,
    }, ok, chroma

  def keep(path, ok, chroma):
    if not ok:
      return False
    if drop_near_grey and chroma < near_grey_threshold:
      skip_log.add(path, f"near-grey (mean chroma {chroma:.4f} < {near_grey_threshold})")
      return False
    return True

  def keep_fn(example, ok, chroma):
    return tf.numpy_function(keep, [example["path"], ok, chroma], tf.bool, stateful=False)

  def examples(order):
    # As bytes: tf.constant refuses a str holding a surrogate-escaped (non-UTF-8) name.
    names = tf.constant([os.fsencode(paths[i]) for i in order], tf.string)
    ds = tf.data.Dataset.from_tensor_slices(names)
    ds = ds.map(load, num_parallel_calls=parallel, deterministic=True)  # seeded = reproducible
    ds = ds.filter(keep_fn)
    return ds.map(lambda example, ok, chroma: example)

  def permutation(*key):
    return np.random.default_rng(list(key)).permutation(len(paths))

  cached = examples(permutation(seed) if shuffle else range(len(paths))).cache() if cache else None

  def dataset(epoch=0):
    if cached is not None:
      ds = cached
    else:
      ds = examples(permutation(seed, epoch) if shuffle else range(len(paths)))
    return epoch_batches(ds, epoch, shuffle=shuffle, seed=seed, shuffle_buffer=shuffle_buffer,
                         repeat=repeat, batch_size=batch_size, drop_remainder=drop_remainder)

  return dataset


def near_grey_list(list_file, root=None):
  """Absolute paths named by a near_gray.txt (paths relative to its folder, or to root)."""
  root = root or os.path.dirname(os.path.abspath(list_file))
  with open(list_file, encoding="utf-8") as f:
    return [os.path.join(root, line.strip()) for line in f if line.strip()]

