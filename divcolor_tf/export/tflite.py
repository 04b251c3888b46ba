"""TFLite models for phones (LiteRT): the whole pipeline at a fixed size, or the decoder alone;
builtin ops only (the package docstring says which step changes for that).
"""

import os
import tempfile

from absl import logging
import tensorflow as tf

from divcolor_tf.export import image_bytes
from divcolor_tf.export import saved_model as saved_model_lib
from divcolor_tf.export import signatures
from divcolor_tf.io import atomic


QUANTIZATIONS = ("fp32", "fp16", "dynamic")
PARTS = ("pipeline", "decoder")
TFLITE_SETTINGS = {"antialias": False}  # builtin ops only (module docstring); gamut is kept


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
    colorizer_or_workdir: a :class:`colorizer_lib.Colorizer` or a model directory.
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
  if isinstance(size, bool) or int(size) != size or size < image_bytes.MIN_SIZE:
    raise ValueError(f"size must be an integer >= {image_bytes.MIN_SIZE}, got {size!r}")
  out_path = os.fspath(out_path)
  if os.path.exists(out_path) and not overwrite:
    raise FileExistsError(f"{out_path}: exists; pass overwrite=True (divcolor-export "
                          "--overwrite) to replace it")
  colorizer = saved_model_lib.as_colorizer(colorizer_or_workdir, **TFLITE_SETTINGS)
  if colorizer.method != "divcolor":
    raise ValueError(f"{out_path}: TFLite files are made for our VAE + MDN models; the "
                     f"{colorizer.method} baseline exports as a SavedModel only")
  endpoints = signatures.Endpoints(colorizer)
  if part == "pipeline":
    endpoint = ("serving_default", endpoints.colorize, [signatures.image_spec(size, size, batch=1)])
  else:
    endpoint = ("serving_default", signatures.decode_fn(endpoints), signatures.decode_signature(colorizer, batch=1))
  with tempfile.TemporaryDirectory() as tmp:
    signatures.archive(colorizer, [endpoint]).write_out(tmp, verbose=False)
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
  if len(flatbuffer) > saved_model_lib.FILE_CAP_BYTES:
    logging.warning("%s: %.1f MB, over the repository's %d MB cap on a file; ship fp16 or "
                    "dynamic instead", out_path, len(flatbuffer) / 1e6, saved_model_lib.FILE_CAP_BYTES // 10**6)
  return info
