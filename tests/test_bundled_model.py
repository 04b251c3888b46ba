"""The shipped model (saved_models/divcolor_lfw) colorizes out of the box, in TF and in LiteRT.

Needs nothing from ../shared: the photo is scikit-image's astronaut, as in the README's first
command. The bounds are loose multiples of what the bundled model measured (2026-11-23, noted
beside each), so a broken, untrained or wrongly exported model fails them.
"""

import importlib.util
import pathlib

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.transform

from divcolor_tf import colorize
from divcolor_tf import serving

REPO = pathlib.Path(__file__).resolve().parent.parent
BUNDLED = REPO / "saved_models" / "divcolor_lfw"
TFLITE = BUNDLED / "tflite" / "divcolor_pipeline_256_fp16.tflite"
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
  assert chroma.min() > 2.0, chroma  # measured 5.5 .. 19 (a grey output has ~0)
  pairs = [np.abs(ab[i] - ab[j]).mean() for i in range(K) for j in range(i + 1, K)]
  assert min(pairs) > 0.01, pairs  # measured 0.041 (ab/128)


def test_the_bundled_savedmodel_gives_k_diverse_colorizations_at_the_photos_size(model):
  assert isinstance(model, serving.SavedModelColorizer)
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
  np.testing.assert_allclose(weights[:K], reference.weights, atol=0.03)  # measured 0.014
  assert np.abs(ab[:2] - reference.ab[:2]).mean() < 0.01  # measured 0.0032 (ab/128)
