r"""divcolor-export: a trained model directory -> SavedModel for TF Serving, and TFLite files.

  divcolor-export --model workdirs/lfw --out saved_models/divcolor_lfw --version 1 \
      --tflite fp32,fp16,dynamic --tflite_size 256
  divcolor-export --model workdirs/imagenet --out saved_models/divcolor_imagenet \
      --weights float16 --noencoder --tflite fp16

Writes OUT/<version>/ (TF Serving's layout: saved_model.pb, variables/ sharded under 20 MiB a
file, assets.extra/{config.json, export.json, baselines.npz}) with the signatures
serving_default, colorize_bytes, decode, decode_each, mixture, grey_mixture and (when the workdir has the VAE
encoder, unless --noencoder) encode (docs/deploy.md, divcolor_tf/export). --weights float16
stores the variables in float16 (half the size; serving still computes in float32). With
--tflite, also OUT/tflite/divcolor_pipeline_<size>_<q>.tflite (uint8 [1, size, size, 3] -> K
colorizations) and OUT/tflite/divcolor_decoder_<q>.tflite (z [1, d] -> ab) for each
quantisation q.

Nothing is replaced without --overwrite: if any output exists, each is named in a one-line error
and nothing is written. Errors are one line on stderr; the exit status is 1.
"""

import os
import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli

flags.DEFINE_string("model", None, "A model directory (divcolor-train-vae, -features, -mdn).")
flags.DEFINE_string("out", None, "The model's base path, e.g. saved_models/divcolor_lfw.")
flags.DEFINE_integer("version", 1, "The SavedModel version folder (a positive integer).")
flags.DEFINE_list("tflite", [], "TFLite quantisations to write: fp32, fp16, dynamic.")
flags.DEFINE_integer("tflite_size", 256, "Input height and width of the TFLite pipeline.")
flags.DEFINE_enum("weights", "float32", ["float32", "float16"], "The SavedModel's variables: "
                  "float32, or float16 (half the bytes; the signatures cast them to float32 and "
                  "compute in float32).")
flags.DEFINE_bool("encoder", True, "Keep the VAE encoder (the encode signature) when the model "
                  "has it; --noencoder leaves it and its weights out (divcolor-evaluate-vae then "
                  "needs the model directory).")
flags.DEFINE_bool("overwrite", False, "Replace existing outputs.")
flags.mark_flags_as_required(["model", "out"])
FLAGS = flags.FLAGS

PROG = "divcolor-export"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.version < 1:  # before TensorFlow loads
    cli.error(PROG, f"--version must be a positive integer, got {FLAGS.version}")
    sys.exit(1)
  from divcolor_tf import export  # pylint: disable=g-import-not-at-top

  bad = [q for q in FLAGS.tflite if q not in export.QUANTIZATIONS]
  if bad:
    cli.error(PROG, f"--tflite: unknown quantisation {bad[0]!r} "
              f"(known: {', '.join(export.QUANTIZATIONS)})")
    sys.exit(1)
  if FLAGS.tflite and FLAGS.tflite_size < export.MIN_SIZE:
    cli.error(PROG, f"--tflite_size must be at least {export.MIN_SIZE}, got {FLAGS.tflite_size}")
    sys.exit(1)
  saved_model = os.path.join(FLAGS.out, str(FLAGS.version))
  tflite_dir = os.path.join(FLAGS.out, "tflite")
  tflites = [(part, q, os.path.join(tflite_dir, export.tflite_filename(part, q, FLAGS.tflite_size)))
             for q in FLAGS.tflite for part in export.PARTS]
  existing = [p for p in [saved_model] + [t[2] for t in tflites] if os.path.exists(p)]
  if existing and not FLAGS.overwrite:
    for path in existing:
      cli.error(PROG, f"{path}: exists; pass --overwrite to replace it")
    sys.exit(1)

  try:
    colorizer = export.as_colorizer(FLAGS.model)
    if tflites:  # a baseline has no TFLite files: refused before its SavedModel is written
      export.check_convertible(colorizer, tflite_dir)
    written = [export.export_saved_model(colorizer, FLAGS.out, FLAGS.version,
                                         overwrite=FLAGS.overwrite, weights=FLAGS.weights,
                                         encoder=FLAGS.encoder)]
    for part, quantization, path in tflites:
      info = export.export_tflite(colorizer, path, quantization, FLAGS.tflite_size, part,
                                  overwrite=FLAGS.overwrite)
      note = ""
      if info["bytes"] > export.FILE_CAP_BYTES:
        note = (f" - over the {export.FILE_CAP_BYTES // 10**6} MB cap on a repository file; "
                f"{export.smaller_advice(quantization)}")
      written.append(f"{path} ({info['bytes'] / 1e6:.1f} MB{note})")
  except (ValueError, OSError) as e:
    cli.error(PROG, e)
    sys.exit(1)
  print(f"{PROG}: wrote " + ", ".join(written))


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
