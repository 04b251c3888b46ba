r"""Colorizes a photo with the exported TFLite pipeline, on LiteRT: the reference for a mobile app.

  python examples/tflite_demo.py            # the bundled model on scikit-image's astronaut
  python examples/tflite_demo.py \
      --model saved_models/divcolor_lfw/tflite/divcolor_pipeline_256_dynamic.tflite \
      --image photo.jpg --out colorized/

What an app does, step by step:
  1. decode the photo to uint8 RGB and resize it to the model's input size (the .tflite has a
     fixed [1, size, size, 3] uint8 input; a grey photo is given as three equal channels);
  2. run the "serving_default" signature: outputs ``colorizations`` uint8 [1, K, size, size, 3]
     (the resized input's lightness with K predicted colourings), ``weights`` float32 [1, K] (the
     mixture weights, descending) and ``ab`` float32 [1, K, 64, 64, 2] (the colour fields,
     ab/128);
  3. join each colour field with the photo's OWN lightness at its own size (:func:`full_resolution`:
     ab upsampled bilinearly, CIE Lab -> sRGB, out-of-gamut colours pulled towards grey at
     constant L and hue, as the SavedModel's ``gamut="chroma"`` does), so the output keeps every
     detail and the aspect of the photo; ``--model_size`` keeps the pipeline's own square output;
  4. show the K colorizations, most probable first.

Writes OUT/<stem>_<i>.png (i = 1..K) and prints the weights. Needs ai-edge-litert
(``pip install divcolor_tf[deploy]``), numpy and Pillow; not TensorFlow.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image


def load_interpreter(model_path):
  try:
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError("LiteRT is not installed: pip install ai-edge-litert (or "
                     "pip install -e '.[deploy]')") from None
  if not os.path.isfile(model_path):
    raise ValueError(f"{model_path}: no such .tflite file")
  return Interpreter(model_path=model_path)


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


# sRGB (D65) <-> CIE Lab in numpy, as divcolor_tf.color does in TF ops.
_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])  # D65, as divcolor_tf.color
_DELTA = 6 / 29


def _linear(srgb):
  return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _gamma(linear):
  linear = np.clip(linear, 0.0, 1.0)
  return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def lightness(photo):
  """CIE L in [0, 100] of uint8 sRGB [H, W, 3]."""
  y = _linear(np.asarray(photo, np.float64) / 255.0) @ _RGB_TO_XYZ[1]
  f = np.where(y > _DELTA ** 3, np.cbrt(y), y / (3 * _DELTA ** 2) + 4 / 29)
  return 116.0 * f - 16.0


def _lab_to_linear(lab):
  fy = (lab[..., 0] + 16.0) / 116.0
  f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
  xyz = np.where(f > _DELTA, f ** 3, 3 * _DELTA ** 2 * (f - 4 / 29)) * _WHITE
  return xyz @ _XYZ_TO_RGB.T


def full_resolution(photo, ab, steps=14):
  """The K colorizations at the photo's own size: its own L with each colour field.

  Args:
    photo: uint8 RGB [H, W, 3], the photo as given (any size).
    ab: float32 [K, F, F, 2], the pipeline's colour fields (ab/128).
    steps: bisection steps of the gamut fit.

  Returns:
    uint8 [K, H, W, 3].
  """
  light = lightness(photo)
  height, width = light.shape
  out = []
  for field in np.asarray(ab, np.float32):
    up = np.stack([np.asarray(Image.fromarray(field[..., c], mode="F").resize(
        (width, height), Image.BILINEAR)) for c in range(2)], axis=-1) * 128.0
    linear = _lab_to_linear(np.concatenate([light[..., None], up], axis=-1))
    outside = np.any((linear < 0.0) | (linear > 1.0), axis=-1)
    if outside.any():  # largest chroma scale in [0, 1] that is in gamut, same L and hue
      lo, hi = np.zeros(outside.sum()), np.ones(outside.sum())
      l_out, ab_out = light[outside][:, None], up[outside]
      for _ in range(steps):
        mid = (lo + hi) / 2
        rgb = _lab_to_linear(np.concatenate([l_out, ab_out * mid[:, None]], axis=-1))
        ok = np.all((rgb >= 0.0) & (rgb <= 1.0), axis=-1)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
      linear[outside] = _lab_to_linear(np.concatenate([l_out, ab_out * lo[:, None]], axis=-1))
    out.append(np.round(_gamma(linear) * 255.0).astype(np.uint8))
  return np.stack(out)


def _defaults():
  """The bundled model's .tflite and scikit-image's astronaut (when scikit-image is there)."""
  root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
  model = os.path.normpath(os.path.join(
      root, "saved_models", "divcolor_lfw", "tflite", "divcolor_pipeline_256_dynamic.tflite"))
  try:
    import skimage  # pylint: disable=g-import-not-at-top
    image = os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png")
  except ImportError:
    image = None
  return model, image


def main(argv=None):
  model, image = _defaults()
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", default=model,
                      help="a divcolor_pipeline_*.tflite file (default: the bundled model's)")
  parser.add_argument("--image", default=image, required=image is None,
                      help="a photo (JPEG/PNG/...; default: scikit-image's astronaut)")
  parser.add_argument("--out", default="tflite_output", help="output directory")
  parser.add_argument("--model_size", action="store_true",
                      help="write the pipeline's own square output instead of the photo's size")
  args = parser.parse_args(argv)
  try:
    with Image.open(args.image) as image:
      photo = np.asarray(image.convert("RGB"))
    colorizations, weights, ab = colorize(args.model, photo)
    if not args.model_size:
      colorizations = full_resolution(photo, ab)
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
