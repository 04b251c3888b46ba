"""TFLite models for phones (LiteRT): the whole pipeline at a fixed size, or the decoder alone;
builtin ops only (the package docstring says which step changes for that).
"""

import os
import tempfile

from absl import logging
import tensorflow as tf

from divcolor_tf import methods
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


def batch_of_one(function, specs):
  """(guarded function, input signature) of a TFLite model with a fixed batch of 1 that refuses
  any other input shape when it runs.

  TFLite has no Assert op, and a converter given the fixed input shapes ``specs`` folds every
  shape computation to constants: an interpreter resized to a batch of 2 (LiteRT's signature
  runner resizes to whatever it is given) then ran and returned the first photo's result alone,
  and a batch of 0 returned a whole set of weights. So the model is traced with an unknown batch
  and each input first goes through a RESHAPE to its fixed shape, which refuses at run time every
  input of another element count ("num_input_elements != num_output_elements ... (RESHAPE)
  failed to prepare"), and a SLICE of the fixed shape, which refuses one with a side too short
  (a [2, 128, 256, 3] batch has the element count of [1, 256, 256, 3]); the converter can fold
  neither, the batch being unknown when it runs. :func:`state_batch_of_one` then marks
  the inputs' batch as fixed in the file again, so the model states the batch of 1 it takes.
  """
  fixed = [tuple(spec.shape) for spec in specs]
  unknown = [tf.TensorSpec([None] + list(spec.shape[1:]), spec.dtype, name=spec.name)
             for spec in specs]

  def exact(tensor, shape):
    # RESHAPE checks the element count, SLICE that no side is short of the fixed one; together,
    # the shape itself ([2, 128, 256, 3] has the count of [1, 256, 256, 3]). Their maximum is the
    # input (both are it when the shape is right), which the converter cannot fold away.
    # (TFLite's MAXIMUM has no uint8 kernel: an image is compared as float32, exact for 0..255.)
    both = [tf.cast(t, tf.float32) for t in (tf.reshape(tensor, shape),
                                              tf.slice(tensor, [0] * len(shape), shape))]
    return tf.cast(tf.maximum(*both), tensor.dtype)

  def guarded(*inputs):
    return function(*[exact(tensor, shape) for tensor, shape in zip(inputs, fixed)])

  return guarded, unknown


def state_batch_of_one(flatbuffer):
  """The .tflite bytes with every input whose batch is unknown (shape signature -1) marked as a
  fixed batch of 1, as :func:`batch_of_one`'s guard enforces."""
  from tensorflow.lite.tools import flatbuffer_utils  # pylint: disable=g-import-not-at-top  (this module loads without TensorFlow)
  model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
  for subgraph in model.subgraphs:
    for index in subgraph.inputs:
      tensor = subgraph.tensors[index]
      if tensor.shapeSignature is not None and len(tensor.shapeSignature) \
          and tensor.shapeSignature[0] == -1:
        tensor.shapeSignature[0] = 1
  return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


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
  check_convertible(colorizer, out_path)
  endpoints = signatures.Endpoints(colorizer)
  if part == "pipeline":
    specs = [signatures.image_spec(size, size, batch=1)]
    function = endpoints.colorize
  else:
    specs = signatures.decode_signature(colorizer, batch=1)
    function = signatures.decode_fn(endpoints)
  endpoint = ("serving_default",) + batch_of_one(function, specs)
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
      problem = atomic.brief(e, 300)
      raise ValueError(f"{out_path}: TFLite conversion failed ({type(e).__name__}: "
                       f"{problem})") from None
  flatbuffer = state_batch_of_one(flatbuffer)
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  atomic.write_bytes(out_path, flatbuffer)
  info = {"path": out_path, "bytes": len(flatbuffer), "part": part,
          "quantization": quantization, "size": int(size) if part == "pipeline" else None,
          "gamut": colorizer.gamut, "antialias": colorizer.antialias}
  logging.info("wrote %s (%d bytes; %s, %s)", out_path, len(flatbuffer), part, quantization)
  if len(flatbuffer) > saved_model_lib.FILE_CAP_BYTES:
    logging.warning("%s: %.1f MB, over the repository's %d MB cap on a file; %s", out_path,
                    len(flatbuffer) / 1e6, saved_model_lib.FILE_CAP_BYTES // 10**6,
                    smaller_advice(quantization))
  return info


def smaller_advice(quantization):
  """What to ship instead of a TFLite file over the cap: only quantisations smaller than it."""
  smaller = QUANTIZATIONS[QUANTIZATIONS.index(quantization) + 1:]
  if smaller:
    return f"ship {' or '.join(smaller)} instead"
  return "no smaller quantisation exists: keep it out of the repository (a release asset)"


def check_convertible(colorizer, out_path):
  """Raises a one-line ValueError naming ``out_path`` when ``colorizer``'s method has no TFLite
  files (the baselines): the command line asks before it writes anything."""
  method = methods.get(colorizer.method)
  if not method.tflite:
    raise ValueError(f"{out_path}: TFLite files are made for our VAE + MDN models; the "
                     f"{method.name} baseline exports as a SavedModel only (leave out --tflite)")
