"""Deployment: a SavedModel in TF Serving's layout, and TFLite models for phones (LiteRT).

Both exports trace the one definition of "colorize a photo" in :mod:`divcolor_tf.inference.colorizer`
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
  decode_each       z: float32 [batch, K, d], a photo's K       ab: float32 [batch, K, F, F, 2]
                    codes (+skip: lightness: float32 [batch,    (a +skip decoder's grey path run
                    F, F, 1], each photo's L once)              once per photo, not per code)
  mixture           image: uint8 [batch, height, width, 3]      means: float32 [batch, M, d];
                                                                weights: float32 [batch, M]
                                                                (component order, not sorted)
  grey_mixture      grey: float32 [batch, S, S, 1] (L in        as mixture (for evaluation on the
                    [0, 100] at the trunk's size S)             training pipeline's own inputs)
  encode            colour_field: float32 [batch, F, F, 2]      mean: float32 [batch, d] (the VAE
                    (ab/128; only when the workdir had the      encoder's; Table 1 and the
                    encoder and not ``encoder=False``)          evaluation's reconstruction row)
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

Two options make an export smaller, each recorded in ``export.json`` when used:

* ``weights="float16"`` (``divcolor-export --weights float16``) stores every variable in
  float16, half the bytes, under its Keras path as a float32 export names it; the signatures,
  their inputs and outputs unchanged, read each variable through a Cast to float32 and compute
  in float32 as the default export does (:mod:`.weights`: a ``keras.StatelessScope`` maps the
  Keras variables to the casts, so the archive saves only the float16 copies). The session
  loader, ``exported.unpack`` and ``config.init_from`` read them as before (unpacking gives
  float32 models holding the float16-rounded weights). Such an export is sharded in whole
  tensors, as TF restores no slice of a float16 tensor. The baselines' exports (CVAE, cGAN)
  take it alike. ``"weights": "float16"``.
* ``encoder=False`` (``divcolor-export --noencoder``) leaves out the ``encode`` signature and so
  the VAE encoder's weights; only Table 1 (``divcolor-evaluate-vae``, which then refuses the
  export in one line) and the reconstruction row of ``divcolor-evaluate`` need them, and the VAE
  stage's ``config.init_from`` (refused in one line: the decoder would start under a fresh
  encoder).
  ``"encoder": false``.

The default export (float32, with the encoder) is what it was, and its export.json has neither
key.

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

The package's modules:

  image_bytes  an encoded photo's format and declared size from its header; the image checks
  signatures   the signatures above as traced functions of one Colorizer; the ExportArchive
  weights      float16 storage of the variables, float32 computation; whole-tensor shards
  saved_model  export_saved_model (TF Serving's layout), export_metadata, as_colorizer
  tflite       export_tflite, tflite_filename, check_convertible
"""

from divcolor_tf.export.image_bytes import MIN_SIZE, rgb_over_white
from divcolor_tf.export.saved_model import (
    FILE_CAP_BYTES, MAX_SHARD_BYTES, STATS_FILE, as_colorizer, export_metadata, export_saved_model)
from divcolor_tf.export.signatures import OPTIONAL_SIGNATURES, SIGNATURES, archive
from divcolor_tf.export.tflite import (
    PARTS, QUANTIZATIONS, TFLITE_SETTINGS, check_convertible, export_tflite, smaller_advice,
    tflite_filename)
from divcolor_tf.export.weights import WEIGHTS

__all__ = [
    "MIN_SIZE", "rgb_over_white", "FILE_CAP_BYTES", "MAX_SHARD_BYTES", "STATS_FILE", "as_colorizer",
    "export_metadata", "export_saved_model", "OPTIONAL_SIGNATURES", "SIGNATURES", "archive", "PARTS",
    "QUANTIZATIONS", "TFLITE_SETTINGS", "check_convertible", "export_tflite", "tflite_filename",
    "smaller_advice", "WEIGHTS",
]
