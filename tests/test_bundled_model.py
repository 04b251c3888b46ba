"""The shipped model (saved_models/divcolor_lfw) colorizes out of the box, in TF and in LiteRT.

Needs nothing from ../shared: the photo is scikit-image's astronaut, as in the README's first
command. The bounds are loose multiples of what the bundled model measured (version 3,
2026-11-25, noted beside each; versions 4 and 5 are within them), so a broken, untrained or wrongly
exported model fails them.
"""

import importlib.util
import pathlib

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.transform

from divcolor_tf import colorize
from divcolor_tf.inference import saved_model

REPO = pathlib.Path(__file__).resolve().parent.parent
BUNDLED = REPO / "saved_models" / "divcolor_lfw"
TFLITE = BUNDLED / "tflite" / "divcolor_pipeline_256_dynamic.tflite"
K = 5


def _astronaut(height, width):
  rgb = skimage.transform.resize(skimage.data.astronaut(), (height, width), anti_aliasing=True)
  return (rgb * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def model():
  return colorize.load(str(BUNDLED))


def _check_colorizations(colorizations, ab, photo):
  """The photo's own lightness, real colour, and K colourings that differ from each other."""
  lab = skimage.color.rgb2lab(colorizations)
  lightness = skimage.color.rgb2lab(photo)[..., 0]
  assert np.abs(lab[..., 0] - lightness).max() < 1.0  # measured 0.25 (uint8 rounding)
  chroma = np.hypot(lab[..., 1], lab[..., 2]).mean(axis=(1, 2))
  assert chroma.min() > 2.0, chroma  # measured 8.9 .. 15.7 (a grey output has ~0)
  pairs = [np.abs(ab[i] - ab[j]).mean() for i in range(K) for j in range(i + 1, K)]
  assert min(pairs) > 0.01, pairs  # measured 0.029 (ab/128)


def test_the_bundled_savedmodel_gives_k_diverse_colorizations_at_the_photos_size(model):
  assert isinstance(model, saved_model.SavedModelColorizer)
  for height, width in ((256, 256), (200, 312)):  # any size and aspect
    photo = _astronaut(height, width)
    result = model.colorize(photo, k=K)
    assert result.colorizations.shape == (K, height, width, 3)
    assert result.colorizations.dtype == np.uint8
    assert result.ab.shape == (K, 64, 64, 2) and np.all(np.isfinite(result.ab))
    weights = np.asarray(result.weights)
    assert np.all(np.diff(weights) <= 0) and 0 < weights.sum() <= 1 + 1e-5
    _check_colorizations(result.colorizations, result.ab, photo)


def test_the_bundled_tflite_runs_in_litert_like_the_savedmodel(model):
  spec = importlib.util.spec_from_file_location("tflite_demo", REPO / "examples" /
                                                "tflite_demo.py")
  demo = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(demo)
  photo = _astronaut(256, 256)
  colorizations, weights, ab = demo.colorize(str(TFLITE), photo)
  m = len(weights)
  assert colorizations.shape == (m, 256, 256, 3) and ab.shape == (m, 64, 64, 2)
  assert np.all(np.diff(weights) <= 0) and weights.sum() == pytest.approx(1.0, abs=1e-4)
  _check_colorizations(colorizations[:K], ab[:K], photo)
  # The .tflite (fp16 weights, resizing without antialiasing) against the SavedModel.
  reference = model.colorize(photo, k=K)
  np.testing.assert_allclose(weights[:K], reference.weights, atol=0.03)  # measured 0.0039
  # The "+skip" decoder reads the 64x64 L itself, so the TFLite's builtin (halving, then bilinear)
  # shrink shows in ab: measured 0.0095 (ab/128; a plain 256 -> 64 bilinear shrink gave 0.019).
  assert np.abs(ab[:2] - reference.ab[:2]).mean() < 0.015


def corner_bias(ab):
  """Per corner, the systematic difference (ab units, averaged over fields) between its 2x2
  pixels and the ring of 32 pixels around them in its 6x6 block: [4, 2] for TL, TR, BL, BR."""
  out = []
  for flip_rows, flip_cols in ((False, False), (False, True), (True, False), (True, True)):
    f = np.asarray(ab, np.float64) * 128.0
    f = f[:, ::-1] if flip_rows else f
    f = f[:, :, ::-1] if flip_cols else f
    corner = f[:, :2, :2].mean(axis=(1, 2))
    ring = (f[:, :6, :6].sum(axis=(1, 2)) - f[:, :2, :2].sum(axis=(1, 2))) / 32.0
    out.append((corner - ring).mean(axis=0))
  return np.abs(np.array(out))


def test_no_corner_blotch(model):
  """Version 1 put b = -40 into the bottom-left pixel of every output (a zero-padded last
  convolution, models/vae.py): corner_bias 14.0 in b there. A smooth field has ~0."""
  fields = [model.colorize(photo, k=model.num_components).ab for photo in (
      skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
      skimage.data.camera())]
  bias = corner_bias(np.concatenate(fields))
  assert bias.max() < 6.0, bias  # ab units; v5: 2.9, v3: 2.8, v2: 3.1; v1: 14.0 (b, bottom left)


def test_corner_bias_catches_a_one_pixel_corner_artifact():
  fields = np.zeros((3, 64, 64, 2))
  fields[:, 63, 0, 1] = -40 / 128  # version 1's bottom-left pixel
  bias = corner_bias(fields)
  assert bias[2, 1] == np.float64(10.0) and bias.max() == bias[2, 1]  # -40 / 4 pixels
  assert corner_bias(np.full((2, 64, 64, 2), 0.3)).max() < 1e-9  # a tint has no corner bias
