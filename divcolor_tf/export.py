"""Deployment: a SavedModel in TF Serving's layout, and TFLite models for phones (LiteRT).

Both exports trace the one definition of "colorize a photo" in :mod:`divcolor_tf.colorize`
(``Colorizer.colorize_tensor``), so a served or on-device colorization is the in-memory one.

SavedModel (``export_saved_model``), written as ``OUT/<version>/`` (TF Serving scans ``OUT`` for
numeric version folders; ``OUT/<version>/assets.extra/`` holds the model's ``config.json``,
``export.json``, ``baselines.npz`` (the photo-blind rows of ``divcolor-evaluate``) and
``stats.npz`` (the colour statistics: Table 2's weights, fine-tuning's loss), files TF Serving
ignores). An export can be turned back into Keras models (``divcolor_tf.exported``), so every
tool that reads a workdir also reads an export. Signatures (K = M, the number of mixture components;
colorizations and weights in descending order of mixture weight):

  ================  ==========================================  ===================================
  signature         inputs                                      outputs
  ================  ==========================================  ===================================
  serving_default   image: uint8 [batch, height, width, 3]      colorizations: uint8 [batch, K,
                    (only its lightness is used; a grey photo   height, width, 3] (the input's own
                    has three equal channels)                   L at full resolution);
                                                                ab: float32 [batch, K, F, F, 2]
                                                                (ab/128, F = 64);
                                                                weights: float32 [batch, K]
  colorize_bytes    image_bytes: string [batch] (encoded        png_bytes: string [batch, K]
                    JPEG/PNG/GIF/BMP/WebP, not TIFF; sizes      (encoded PNGs, upright);
                    may differ; EXIF orientation applied, as    weights: float32 [batch, K]
                    the CLI does)
  decode            z: float32 [batch, d]                       ab: float32 [batch, F, F, 2]
                    (+skip decoders also: lightness: float32
                    [batch, F, F, 1], L in [0, 100])
  mixture           image: uint8 [batch, height, width, 3]      means: float32 [batch, M, d];
                                                                weights: float32 [batch, M]
                                                                (component order, not sorted)
  grey_mixture      grey: float32 [batch, S, S, 1] (L in        as mixture (for evaluation on the
                    [0, 100] at the trunk's size S)             training pipeline's own inputs)
  encode            colour_field: float32 [batch, F, F, 2]      mean: float32 [batch, d] (the VAE
                    (ab/128; only when the workdir had the      encoder's; Table 1 and the
                    encoder)                                    evaluation's reconstruction row)
  ================  ==========================================  ===================================

The PNG output is named ``png_bytes``, not ``png``: TF Serving's REST API base64-encodes a string
output ({"b64": ...}) only when its name ends in ``_bytes`` (its api_rest.md, "Output of binary
values"); any other name would put raw PNG bytes into the JSON response.

Bad requests: a wrong dtype is refused by the signature itself; a wrong rank or channel count
(checked at run time with ``EnsureShape``: "... is not compatible with expected shape
[?,?,?,3]"), an image smaller than :data:`MIN_SIZE` pixels on a side, an empty batch, bytes
that are not an encoded image, TIFF or animated WebP bytes (no TF op decodes them), or a header
declaring more than the Colorizer's ``max_megapixels`` fail with an ``InvalidArgumentError``
whose message names the input and the problem (graph asserts), and the model goes on serving the
next request.

Keras 3 models held in a plain ``tf.Module`` and saved with ``tf.saved_model.save`` load with
``tf.saved_model.load`` but not with the session-based loader that TF Serving and
``saved_model_cli run`` use ("Could not find variable ..."); ``keras.export.ExportArchive``
writes variables that loader finds, so it is used here. Variables are sharded so that each file
is at most ``max_shard_bytes`` (default 20 MiB; the repository's cap on a file is 25 MB).

TFLite (``export_tflite``): ``part="pipeline"`` is the whole colorize pipeline at a fixed input
size (``image`` uint8 [1, size, size, 3] -> ``colorizations`` uint8 [1, K, size, size, 3],
``ab`` float32 [1, K, F, F, 2], ``weights`` float32 [1, K]); ``part="decoder"`` is the decoder
alone (``z`` [1, d] -> ``ab`` [1, F, F, 2]). Quantisation: "fp32" (none), "fp16" (float16
weights) or "dynamic" (int8 weights, dynamic-range). Only TFLite builtin ops are allowed (LiteRT's
interpreter has no Flex delegate). One step of the SavedModel's pipeline is not a builtin: the
antialiased shrink of L to the grey and colour-field sizes (``tf.image.resize(antialias=True)``
lowers to ``ScaleAndTranslate``, which the converter refuses). The TFLite pipeline therefore uses
the plain bilinear shrink (``antialias=False``, TFLite's ``RESIZE_BILINEAR``); the
chroma-preserving gamut fit (``gamut="chroma"``: WHERE / GATHER_ND / SCATTER_ND over the
out-of-gamut pixels) converts to builtins and is kept, as is "clip". :data:`TFLITE_SETTINGS` is
that one change; the parity tests compare each .tflite with a ``Colorizer`` built with the same
settings (``as_colorizer(..., **TFLITE_SETTINGS)``).
"""

import json
import os
import shutil
import tempfile

from absl import logging
import tensorflow as tf

from divcolor_tf import atomic
from divcolor_tf import colorize
from divcolor_tf import config as config_lib
from divcolor_tf import exif
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf.models import vae

MIN_SIZE = 8  # smallest height / width a signature accepts
MAX_SHARD_BYTES = 20 * 2**20  # variable files stay under the repository's 25 MB cap
FILE_CAP_BYTES = 25 * 10**6  # the repository's cap on one file: larger exports are warned about
QUANTIZATIONS = ("fp32", "fp16", "dynamic")
PARTS = ("pipeline", "decoder")
SIGNATURES = ("serving_default", "colorize_bytes", "decode", "mixture", "grey_mixture")
OPTIONAL_SIGNATURES = ("encode",)  # when the Colorizer has the VAE encoder
STATS_FILE = "stats.npz"  # the workdir's colour statistics, kept in assets.extra/
TFLITE_SETTINGS = {"antialias": False}  # builtin ops only (module docstring); gamut is kept

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_HEADER_BYTES = 32  # the bytes of an encoded photo read for its format and its declared size


def as_colorizer(colorizer_or_workdir, **settings):
  """A :class:`colorize.Colorizer` from a model directory or a Colorizer, with ``settings``.

  Args:
    colorizer_or_workdir: a Colorizer, or a model directory (``Colorizer.load``).
    **settings: ``gamut`` / ``antialias``; a Colorizer whose settings differ is rebuilt over the
      same Keras models.
  """
  if isinstance(colorizer_or_workdir, colorize.Colorizer):
    c = colorizer_or_workdir
    if all(getattr(c, key) == value for key, value in settings.items()):
      return c
    kwargs = {"gamut": c.gamut, "antialias": c.antialias, "encoder": c.encoder,
              "max_megapixels": c.max_megapixels, **settings}
    rebuilt = colorize.Colorizer(c.trunk, c.mdn, c.decoder, c.config, **kwargs)
    rebuilt.workdir = c.workdir
    return rebuilt
  return colorize.Colorizer.load(colorizer_or_workdir, **settings)


def _header(encoded):
  """The first _HEADER_BYTES bytes of ``encoded`` as int64 [_HEADER_BYTES] (zeros past its end)."""
  head = tf.strings.join([tf.strings.substr(encoded, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES])
  return tf.cast(tf.io.decode_raw(tf.strings.substr(head, 0, _HEADER_BYTES), tf.uint8), tf.int64)


def _uint(header, start, n, little):
  """The unsigned integer in header bytes [start, start + n), little- or big-endian."""
  weights = [256**i for i in range(n)]
  return tf.reduce_sum(header[start:start + n]
                       * tf.constant(weights if little else weights[::-1], tf.int64))


def _starts(header, start, magic):
  """Whether header bytes [start, start + len(magic)) are ``magic``."""
  return tf.reduce_all(tf.equal(header[start:start + len(magic)],
                                tf.constant(tuple(magic), tf.int64)))


def _declared_size(encoded, header, is_jpeg):
  """[height, width] (int64) the header of a JPEG, PNG, GIF, BMP or WebP declares; [0, 0] for
  other bytes. Read before decoding, so that a small file claiming a huge image (a decompression
  bomb) is refused before its pixels are allocated."""
  png = tf.stack([_uint(header, 20, 4, False), _uint(header, 16, 4, False)])  # IHDR
  gif = tf.stack([_uint(header, 8, 2, True), _uint(header, 6, 2, True)])  # logical screen
  bmp = tf.stack([_uint(header, 22, 4, True), _uint(header, 18, 4, True)])  # BITMAPINFOHEADER
  bmp = tf.abs(tf.where(bmp >= 2**31, bmp - 2**32, bmp))  # signed; a negative height: top-down
  vp8x = tf.stack([_uint(header, 27, 3, True), _uint(header, 24, 3, True)]) + 1  # canvas
  bits = _uint(header, 21, 4, True)  # VP8L: 14 bits width - 1, then 14 bits height - 1
  vp8l = tf.stack([bits // 2**14 % 2**14, bits % 2**14]) + 1
  vp8 = tf.stack([_uint(header, 28, 2, True), _uint(header, 26, 2, True)]) % 2**14  # key frame
  webp = tf.where(_starts(header, 12, b"VP8X"), vp8x,
                  tf.where(_starts(header, 12, b"VP8L"), vp8l, vp8))
  size = tf.zeros([2], tf.int64)
  for kind, declared in ((_starts(header, 0, _PNG_MAGIC), png), (_starts(header, 0, b"GIF"), gif),
                         (_starts(header, 0, b"BM"), bmp),
                         (_starts(header, 0, b"RIFF") & _starts(header, 8, b"WEBP"), webp)):
    size = tf.where(kind, declared, size)
  return tf.cond(is_jpeg, lambda: tf.cast(tf.io.extract_jpeg_shape(encoded)[:2], tf.int64),
                 lambda: size)


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


def _checked_image(image, name="image"):
  """The uint8 image batch, after asserting it is non-empty and at least MIN_SIZE a side."""
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
  with tf.control_dependencies(checks):
    return tf.identity(image)


class _Endpoints:
  """The exported functions, over one Colorizer (TF ops only)."""

  def __init__(self, colorizer):
    self.c = colorizer
    self.k = colorizer.num_components

  def colorize(self, image):
    """uint8 [B, H, W, 3] -> {colorizations, ab, weights}: all K = M means, descending."""
    colorizations, ab, weights = self.c.colorize_tensor(_checked_image(image), k=self.k)
    return {"colorizations": colorizations, "ab": ab, "weights": weights}

  def colorize_bytes(self, image_bytes):
    """string [B] -> {png_bytes: string [B, K], weights [B, K]}; photos may differ in size.

    Each photo is decoded as the command line decodes it (grey to RGB, transparency over white:
    :func:`rgb_over_white`; a GIF's transparency excepted, which TF's GIF decoder drops), then
    turned upright by its EXIF orientation (:mod:`divcolor_tf.exif`, graph ops),
    as the command line's Pillow decoding does, so a phone photo is not colorized sideways.
    JPEG, PNG, GIF, BMP and still WebP decode in TF ops; TIFF and animated WebP do not (TF has
    no TIFF decoder, and its WebP decoder fails on, or garbles, animations): they are refused
    with a message saying so, as is a photo whose header declares more pixels than the
    Colorizer's ``max_megapixels``, before it is decoded.
    """
    max_pixels = (self.c.max_megapixels or 0) * 1e6

    def one(encoded):
      header = _header(encoded)
      is_jpeg = tf.io.is_jpeg(encoded)
      webp = _starts(header, 0, b"RIFF") & _starts(header, 8, b"WEBP")
      tiff = _starts(header, 0, b"II*\0") | _starts(header, 0, b"MM\0*")
      animated = webp & _starts(header, 12, b"VP8X") & tf.equal(header[20] // 2 % 2, 1)
      known = tf.reduce_any(tf.stack([
          is_jpeg, _starts(header, 0, _PNG_MAGIC), _starts(header, 0, b"GIF"),
          _starts(header, 0, b"BM"), webp, tiff]))
      checks = [
          tf.debugging.Assert(
              known, ["image_bytes: not an encoded JPEG, PNG, GIF, BMP or WebP image"]),
          tf.debugging.Assert(
              ~tiff, ["image_bytes: a TIFF image, which the serving graph cannot decode (TF has "
                      "no TIFF decoder); send it as PNG or JPEG, or its decoded pixels to "
                      "serving_default"]),
          tf.debugging.Assert(
              ~animated, ["image_bytes: an animated WebP, which the serving graph cannot decode; "
                          "send its first frame as PNG or JPEG, or its decoded pixels to "
                          "serving_default"]),
      ]
      with tf.control_dependencies(checks):
        declared = _declared_size(encoded, header, is_jpeg)
      if max_pixels:
        checks = [tf.debugging.Assert(
            tf.cast(declared[0] * declared[1], tf.float64) <= max_pixels,
            [f"image_bytes: over the limit of {self.c.max_megapixels:g} megapixels (the "
             "exported Colorizer's max_megapixels); the header declares height, width",
             declared])]
      with tf.control_dependencies(checks):
        image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
      image = exif.apply_orientation(rgb_over_white(tf.ensure_shape(image, [None, None, None])),
                                     exif.exif_orientation(encoded))
      out = self.colorize(_checked_image(image[None], "image_bytes")[0][None])
      pngs = tf.stack([tf.io.encode_png(out["colorizations"][0, i]) for i in range(self.k)])
      return pngs, out["weights"][0]

    png, weights = tf.map_fn(
        one, image_bytes,
        fn_output_signature=(tf.TensorSpec([self.k], tf.string),
                             tf.TensorSpec([self.k], tf.float32)))
    return {"png_bytes": png, "weights": weights}

  def decode(self, z, lightness=None):
    """z [B, d] (and L [B, F, F, 1] for "+skip") -> {ab [B, F, F, 2]}."""
    return {"ab": vae.decode(self.c.decoder, z, lightness)}

  def grey_mixture(self, grey):
    """L [B, S, S, 1] at the trunk's size -> {means [B, M, d], weights [B, M]} (evaluation feeds
    the same squashed grey input the models were trained on)."""
    means, logits = self.c.mixture(grey)
    return {"means": means, "weights": tf.cast(mdn_lib.mixture_weights(logits), tf.float32)}

  def encode(self, colour_field):
    """colour field [B, F, F, 2] (ab/128) -> {mean [B, d]}: the VAE encoder's mean of Q(z | C)."""
    return {"mean": self.c.encode(colour_field)}

  def mixture(self, image):
    """uint8 [B, H, W, 3] -> {means [B, M, d], weights [B, M]} in component order."""
    lightness = self.c.lightness(_checked_image(image))
    grey = self.c.squash(lightness, self.c.grey_size)
    means, logits = self.c.mixture(grey)
    return {"means": means, "weights": tf.cast(mdn_lib.mixture_weights(logits), tf.float32)}


def _archive(colorizer, endpoints):
  """A keras ExportArchive with ``endpoints`` over the Colorizer's Keras models.

  The models are deliberately NOT passed to ``archive.track``: the archive already saves every
  variable its endpoints use (``_all_variables``, the underlying tf.Variables), and tracking the
  models adds their Keras variable wrappers as separate checkpoint objects, so each weight was
  written twice (measured: 59.9 MB of variables for the 7.5M-parameter LFW model instead of 30).
  Without ``track`` the session loader still finds every variable, BN statistics included
  (tests/test_export.py).

  Args:
    endpoints: list of (name, function, input_signature).
  """
  del colorizer  # its models are reached through the endpoints
  import keras  # pylint: disable=g-import-not-at-top
  archive = keras.export.ExportArchive()
  for name, fn, signature in endpoints:
    archive.add_endpoint(name, fn, input_signature=signature)
  return archive


def _image_spec(height=None, width=None, batch=None):
  return tf.TensorSpec([batch, height, width, 3], tf.uint8, name="image")


def _decode_signature(colorizer, batch=None):
  f = colorizer.field_size
  spec = [tf.TensorSpec([batch, colorizer.latent_dim], tf.float32, name="z")]
  if colorizer.skip:
    spec.append(tf.TensorSpec([batch, f, f, 1], tf.float32, name="lightness"))
  return spec


def _decode_fn(endpoints):
  if endpoints.c.skip:
    return lambda z, lightness: endpoints.decode(z, lightness)
  return lambda z: endpoints.decode(z)  # pylint: disable=unnecessary-lambda


def _save_options(max_shard_bytes):
  policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=int(max_shard_bytes))
  return tf.saved_model.SaveOptions(experimental_sharding_callback=policy)


def export_saved_model(colorizer_or_workdir, out_dir, version=1, overwrite=False,
                       max_shard_bytes=MAX_SHARD_BYTES):
  """Writes the SavedModel ``out_dir/<version>/`` for TF Serving (signatures: module docstring).

  The version folder is written under a temporary name in ``out_dir`` and renamed when complete,
  so a TF Serving instance watching ``out_dir`` never sees half a model.

  Args:
    colorizer_or_workdir: a :class:`colorize.Colorizer` or a model directory.
    out_dir: the model's base path (TF Serving's ``--model_base_path``).
    version: positive integer version.
    overwrite: replace an existing ``out_dir/<version>``.
    max_shard_bytes: the largest variables file.

  Returns:
    The version directory's path.

  Raises:
    FileExistsError: one line, when ``out_dir/<version>`` exists and not ``overwrite``.
    ValueError: a version that is not a positive integer.
  """
  if isinstance(version, bool) or int(version) != version or version < 1:
    raise ValueError(f"version must be a positive integer, got {version!r}")
  out_dir = os.fspath(out_dir)
  target = os.path.join(out_dir, str(int(version)))
  if os.path.exists(target) and not overwrite:
    raise FileExistsError(f"{target}: exists; pass overwrite=True (divcolor-export --overwrite) "
                          "to replace it")
  colorizer = as_colorizer(colorizer_or_workdir)
  baselines = None
  if colorizer.workdir:
    baselines = _workdir_baselines(colorizer.workdir, colorizer)
  endpoints = _Endpoints(colorizer)
  archive = _archive(colorizer, [
      ("serving_default", endpoints.colorize, [_image_spec()]),
      ("colorize_bytes", endpoints.colorize_bytes,
       [tf.TensorSpec([None], tf.string, name="image_bytes")]),
      ("decode", _decode_fn(endpoints), _decode_signature(colorizer)),
      ("mixture", endpoints.mixture, [_image_spec()]),
      ("grey_mixture", endpoints.grey_mixture,
       [tf.TensorSpec([None, colorizer.grey_size, colorizer.grey_size, 1], tf.float32,
                      name="grey")]),
  ] + ([("encode", endpoints.encode,
         [tf.TensorSpec([None, colorizer.field_size, colorizer.field_size, 2], tf.float32,
                        name="colour_field")])] if colorizer.can_encode else []))
  os.makedirs(out_dir, exist_ok=True)
  partial = tempfile.mkdtemp(prefix=f".{int(version)}.partial-", dir=out_dir)
  os.chmod(partial, 0o755)  # mkdtemp's 0700 would hide the model from a TF Serving user
  try:
    archive.write_out(partial, options=_save_options(max_shard_bytes), verbose=False)
    extra = os.path.join(partial, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    config_lib.save_resolved(colorizer.config, extra)
    if colorizer.workdir and os.path.isfile(os.path.join(colorizer.workdir, STATS_FILE)):
      shutil.copyfile(os.path.join(colorizer.workdir, STATS_FILE), os.path.join(extra, STATS_FILE))
    if baselines is not None:
      from divcolor_tf import baselines as baselines_lib  # pylint: disable=g-import-not-at-top
      baselines_lib.save(baselines, os.path.join(extra, baselines_lib.FILE))
    with open(os.path.join(extra, "export.json"), "w") as f:
      json.dump(export_metadata(colorizer), f, indent=2, sort_keys=True)
      f.write("\n")
    atomic.publish_dir(partial, target, overwrite=overwrite)  # exclusive unless overwrite
  finally:
    if os.path.exists(partial):
      shutil.rmtree(partial, ignore_errors=True)
  for name in sorted(os.listdir(os.path.join(target, "variables"))):
    size = os.path.getsize(os.path.join(target, "variables", name))
    if size > max_shard_bytes:
      logging.warning("%s: %d bytes, over the %d-byte shard cap (one variable larger than it?)",
                      os.path.join(target, "variables", name), size, max_shard_bytes)
  logging.info("wrote %s (signatures %s%s; K=%d)", target, ", ".join(SIGNATURES),
               ", encode" if colorizer.can_encode else "", colorizer.num_components)
  return target


def _workdir_baselines(workdir, colorizer):
  """The photo-blind baselines of a workdir (fitted now if it has none yet), for assets.extra/."""
  from divcolor_tf import baselines as baselines_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  stats = None
  if os.path.isfile(workdir_lib.path(workdir, workdir_lib.STATS)):
    stats = workdir_lib.load_stats(workdir)
  return baselines_lib.for_model(workdir, colorizer.config, stats,
                                 max_k=colorizer.num_components)


def export_metadata(colorizer, **extra):
  """What a client needs to know about an export (written to assets.extra/export.json)."""
  from divcolor_tf import __version__  # pylint: disable=g-import-not-at-top
  return {
      "divcolor_tf_version": __version__,
      "num_components": colorizer.num_components,
      "latent_dim": colorizer.latent_dim,
      "field_size": colorizer.field_size,
      "grey_size": colorizer.grey_size,
      "skip_decoder": colorizer.skip,
      "gamut": colorizer.gamut,
      "antialias": colorizer.antialias,
      "min_size": MIN_SIZE,
      "dataset": colorizer.dataset,
      **extra,
  }


def tflite_filename(part, quantization, size=256):
  """The file name ``divcolor-export`` gives a .tflite (``OUT/tflite/<name>``)."""
  stem = f"pipeline_{int(size)}" if part == "pipeline" else "decoder"
  return f"divcolor_{stem}_{quantization}.tflite"


def export_tflite(colorizer_or_workdir, out_path, quantization="fp32", size=256,
                  part="pipeline", overwrite=False):
  """Converts the colorize pipeline (fixed size) or the decoder alone to a .tflite file.

  The pipeline uses :data:`TFLITE_SETTINGS` (the plain bilinear shrink; module docstring) and
  the Colorizer's own gamut; only TFLite builtin ops are allowed.

  Args:
    colorizer_or_workdir: a :class:`colorize.Colorizer` or a model directory.
    out_path: the .tflite file to write.
    quantization: "fp32", "fp16" (float16 weights) or "dynamic" (int8 weights).
    size: the pipeline's input height and width.
    part: "pipeline" or "decoder".
    overwrite: replace an existing ``out_path``.

  Returns:
    dict: path, bytes, part, quantization, size, gamut, antialias, signature inputs/outputs.

  Raises:
    FileExistsError / ValueError: one line.
  """
  if quantization not in QUANTIZATIONS:
    raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got "
                     f"{quantization!r}")
  if part not in PARTS:
    raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
  if isinstance(size, bool) or int(size) != size or size < MIN_SIZE:
    raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
  out_path = os.fspath(out_path)
  if os.path.exists(out_path) and not overwrite:
    raise FileExistsError(f"{out_path}: exists; pass overwrite=True (divcolor-export "
                          "--overwrite) to replace it")
  colorizer = as_colorizer(colorizer_or_workdir, **TFLITE_SETTINGS)
  endpoints = _Endpoints(colorizer)
  if part == "pipeline":
    endpoint = ("serving_default", endpoints.colorize, [_image_spec(size, size, batch=1)])
  else:
    endpoint = ("serving_default", _decode_fn(endpoints), _decode_signature(colorizer, batch=1))
  with tempfile.TemporaryDirectory() as tmp:
    _archive(colorizer, [endpoint]).write_out(tmp, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization in ("fp16", "dynamic"):
      converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "fp16":
      converter.target_spec.supported_types = [tf.float16]
    try:
      flatbuffer = converter.convert()
    except Exception as e:  # pylint: disable=broad-except  (converter errors are verbose)
      problem = " ".join(str(e).split())[:300]
      raise ValueError(f"{out_path}: TFLite conversion failed ({type(e).__name__}: "
                       f"{problem})") from None
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  atomic.write_bytes(out_path, flatbuffer)
  info = {"path": out_path, "bytes": len(flatbuffer), "part": part,
          "quantization": quantization, "size": int(size) if part == "pipeline" else None,
          "gamut": colorizer.gamut, "antialias": colorizer.antialias}
  logging.info("wrote %s (%d bytes; %s, %s)", out_path, len(flatbuffer), part, quantization)
  if len(flatbuffer) > FILE_CAP_BYTES:
    logging.warning("%s: %.1f MB, over the repository's %d MB cap on a file; ship fp16 or "
                    "dynamic instead", out_path, len(flatbuffer) / 1e6, FILE_CAP_BYTES // 10**6)
  return info
