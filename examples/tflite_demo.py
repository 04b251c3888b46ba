r"""Colorizes a photo with the exported TFLite pipeline, on LiteRT: the reference for a mobile app.

  python examples/tflite_demo.py \
      --model saved_models/divcolor_lfw/tflite/divcolor_pipeline_256_dynamic.tflite \
      --image photo.jpg --out colorized/

What an app does, step by step:
  1. decode the photo to uint8 RGB and resize it to the model's input size (the .tflite has a
     fixed [1, size, size, 3] uint8 input; a grey photo is given as three equal channels);
  2. run the "serving_default" signature: outputs ``colorizations`` uint8 [1, K, size, size, 3]
     (the input's own lightness with K predicted colourings), ``weights`` float32 [1, K] (the
     mixture weights, descending) and ``ab`` float32 [1, K, 64, 64, 2] (the colour fields,
     ab/128, should the app want to upsample them to the photo's own resolution itself);
  3. show the K colorizations, most probable first.

Writes OUT/<stem>_<i>.png (i = 1..K) and prints the weights. Needs ai-edge-litert
(``pip install divcolor_tf[deploy]``), numpy and Pillow; not TensorFlow.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image


def load_interpreter(model_path):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  interpreter = Interpreter(model_path=model_path)
  return interpreter


def colorize(model_path, photo):
  """Runs the pipeline .tflite on one photo.

  Args:
    model_path: a divcolor_pipeline_<size>_<q>.tflite.
    photo: uint8 RGB [H, W, 3] (any size: resized to the model's).

  Returns:
    (colorizations uint8 [K, size, size, 3], weights float32 [K], ab float32 [K, 64, 64, 2]).

  Raises:
    ValueError: the file is not a pipeline model (e.g. the decoder alone).
  """
  runner = load_interpreter(model_path).get_signature_runner("serving_default")
  inputs = runner.get_input_details()
  if "image" not in inputs:
    raise ValueError(f"{model_path}: not a colorize pipeline (inputs {sorted(inputs)}); use "
                     "divcolor_pipeline_*.tflite")
  _, height, width, _ = inputs["image"]["shape"]
  image = Image.fromarray(np.asarray(photo, np.uint8)).convert("RGB")
  if image.size != (width, height):
    image = image.resize((int(width), int(height)), Image.BILINEAR)
  out = runner(image=np.asarray(image, np.uint8)[None])
  return out["colorizations"][0], out["weights"][0], out["ab"][0]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", required=True, help="a divcolor_pipeline_*.tflite file")
  parser.add_argument("--image", required=True, help="a photo (JPEG/PNG/...)")
  parser.add_argument("--out", required=True, help="output directory")
  args = parser.parse_args(argv)
  try:
    with Image.open(args.image) as image:
      photo = np.asarray(image.convert("RGB"))
    colorizations, weights, _ = colorize(args.model, photo)
  except (OSError, ValueError) as e:
    print(f"tflite_demo: {' '.join(str(e).split())}", file=sys.stderr)
    return 1
  os.makedirs(args.out, exist_ok=True)
  stem = os.path.splitext(os.path.basename(args.image))[0]
  for i, colorization in enumerate(colorizations, start=1):
    Image.fromarray(colorization).save(os.path.join(args.out, f"{stem}_{i}.png"))
  print(f"{args.image}: {len(colorizations)} colorizations of {colorizations.shape[1]}x"
        f"{colorizations.shape[2]} in {args.out}; weights "
        + " ".join(f"{w:.3f}" for w in weights))
  return 0


if __name__ == "__main__":
  sys.exit(main())
