"""The shipped models (saved_models/divcolor_lfw, the faces model, and saved_models/
divcolor_imagenet, the general model and the default) colorize out of the box, in TF and in LiteRT.

Needs nothing from ../shared: the photo is scikit-image's astronaut (the README's faces
example). The bounds are loose multiples of what the bundled models measured (the faces model's
version 3, 2026-11-25, noted beside each; its versions 4 and 5 and the general model's version 1
are within them: chroma 9.5 .. 30, pairs 0.046, TFLite weights 0.0051 and ab 0.0048, corner 1.7),
so a broken, untrained or wrongly exported model fails them.
"""

import functools
import importlib.util
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.io
import skimage.transform

from conftest import ROOT as REPO
from conftest import console_script
import divcolor_tf as dc
from divcolor_tf import colorize
from divcolor_tf.inference import saved_model

SAVED_MODELS = REPO / "saved_models"
NAMES = {"lfw": "divcolor_lfw", "imagenet": "divcolor_imagenet"}
TFLITE = pathlib.Path("tflite") / "divcolor_pipeline_256_dynamic.tflite"
K = 5
BUDGET_BYTES = 45_000_000  # issue 44: the general model v2, <= 45 MB with its TFLite file (if any)
TFLITE_SHIPPED = ("lfw",)  # the general model v2 ships without one: 33.0 + 14.4 MB is over budget


def _astronaut(height, width):
  rgb = skimage.transform.resize(skimage.data.astronaut(), (height, width), anti_aliasing=True)
  return (rgb * 255).round().astype(np.uint8)


@pytest.fixture(scope="module", params=sorted(NAMES))
def name(request):
  return request.param


@functools.lru_cache(maxsize=None)
def _load(name):
  return colorize.load(name)  # a bundled model by name, loaded once per test process


@pytest.fixture(scope="module")
def model(name):
  return _load(name)


def _check_colorizations(colorizations, ab, photo):
  """The photo's own lightness, real colour, and K colourings that differ from each other."""
  lab = skimage.color.rgb2lab(colorizations)
  lightness = skimage.color.rgb2lab(photo)[..., 0]
  assert np.abs(lab[..., 0] - lightness).max() < 1.0  # measured 0.25 (uint8 rounding)
  chroma = np.hypot(lab[..., 1], lab[..., 2]).mean(axis=(1, 2))
  assert chroma.min() > 2.0, chroma  # measured 8.9 .. 15.7 (a grey output has ~0)
  pairs = [np.abs(ab[i] - ab[j]).mean() for i in range(K) for j in range(i + 1, K)]
  assert min(pairs) > 0.01, pairs  # measured 0.029 (ab/128)


def test_the_bundled_savedmodel_gives_k_diverse_colorizations_at_the_photos_size(name, model):
  assert isinstance(model, saved_model.SavedModelColorizer)
  assert pathlib.Path(model.path).resolve().parent == (SAVED_MODELS / NAMES[name]).resolve()
  for height, width in ((256, 256), (200, 312)):  # any size and aspect
    photo = _astronaut(height, width)
    result = model.colorize(photo, k=K)
    assert result.colorizations.shape == (K, height, width, 3)
    assert result.colorizations.dtype == np.uint8
    assert result.ab.shape == (K, 64, 64, 2) and np.all(np.isfinite(result.ab))
    weights = np.asarray(result.weights)
    assert np.all(np.diff(weights) <= 0) and 0 < weights.sum() <= 1 + 1e-5
    _check_colorizations(result.colorizations, result.ab, photo)


def test_the_bundled_tflite_runs_in_litert_like_the_savedmodel(name, model):
  if name not in TFLITE_SHIPPED:
    pytest.skip(f"the bundled {name} model ships no TFLite file (divcolor-export --tflite makes it)")
  spec = importlib.util.spec_from_file_location("tflite_demo", REPO / "examples" /
                                                "tflite_demo.py")
  demo = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(demo)
  photo = _astronaut(256, 256)
  colorizations, weights, ab = demo.colorize(str(SAVED_MODELS / NAMES[name] / TFLITE), photo)
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
  # ab units; faces v5: 2.9, v3: 2.8, v2: 3.1; v1: 14.0 (b, bottom left); general v1: 1.7
  assert bias.max() < 6.0, bias


def test_corner_bias_catches_a_one_pixel_corner_artifact():
  fields = np.zeros((3, 64, 64, 2))
  fields[:, 63, 0, 1] = -40 / 128  # version 1's bottom-left pixel
  bias = corner_bias(fields)
  assert bias[2, 1] == np.float64(10.0) and bias.max() == bias[2, 1]  # -40 / 4 pixels
  assert corner_bias(np.full((2, 64, 64, 2), 0.3)).max() < 1e-9  # a tint has no corner bias


def test_the_general_model_fits_its_budget_as_one_version_and_one_tflite_file():
  """Issue 44: version 2 alone (replacing 1; TF Serving's layout, float16 weights, no encoder);
  no TFLite file (its 14.4 MB pipeline would take it past the 45 MB budget)."""
  root = SAVED_MODELS / NAMES["imagenet"]
  files = [p for p in root.rglob("*") if p.is_file()]
  assert sum(p.stat().st_size for p in files) <= BUDGET_BYTES
  assert sorted(p.name for p in root.iterdir()) == ["2"]
  metadata = json.loads((root / "2" / "assets.extra" / "export.json").read_text())
  assert metadata["weights"] == "float16" and metadata["encoder"] is False
  assert max(p.stat().st_size for p in files) < 25_000_000  # the repository's cap on a file


def test_the_general_model_is_the_default_of_the_api_and_the_command_line(tmp_path):
  default = dc.load()
  assert pathlib.Path(default.path).resolve().parent == (SAVED_MODELS / NAMES["imagenet"]).resolve()
  photo = tmp_path / "in" / "astronaut.png"
  photo.parent.mkdir()
  skimage.io.imsave(photo, _astronaut(96, 128))
  run = subprocess.run(console_script("divcolor-colorize") + [
      "--input", str(photo), "--output", str(tmp_path / "out"), "--k", "2"],
      capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert run.returncode == 0, run.stderr[-2000:]
  assert "colorized 1 of 1 photo(s) (top-2 means by mixture weight) with imagenet" in run.stdout
  written = skimage.io.imread(tmp_path / "out" / "astronaut_1.png")
  expected = default.colorize(_astronaut(96, 128), k=1).colorizations[0]
  assert np.abs(written.astype(int) - expected).max() <= 1


def test_a_bundled_name_beside_a_folder_of_that_name_is_the_bundled_model(tmp_path):
  """Issue 47, row 16: run from a folder holding a photo folder lfw/, --model lfw is still the
  bundled faces model (it used that folder, then advised training a VAE there), with one line
  saying which it took and how to name the folder (./lfw)."""
  from divcolor_tf.inference import bundled  # pylint: disable=g-import-not-at-top
  (tmp_path / "lfw").mkdir()
  skimage.io.imsave(tmp_path / "lfw" / "astronaut.png", _astronaut(96, 128))
  run = subprocess.run(console_script("divcolor-colorize") + [
      "--model", "lfw", "--input", "lfw", "--output", "out", "--k", "2"], cwd=tmp_path,
      capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert run.returncode == 0, run.stderr[-2000:]
  assert "colorized 1 of 1 photo(s)" in run.stdout
  notes = [l for l in run.stderr.splitlines() if "not the folder lfw here" in l]
  assert len(notes) == 1 and "./lfw" in notes[0], run.stderr[-2000:]
  written = skimage.io.imread(tmp_path / "out" / "astronaut_1.png")
  expected = _load("lfw").colorize(_astronaut(96, 128), k=1).colorizations[0]
  assert np.abs(written.astype(int) - expected).max() <= 1
  cwd = os.getcwd()
  try:
    os.chdir(tmp_path)
    assert bundled.named_path("lfw") == os.path.join(bundled.SAVED_MODELS, "divcolor_lfw")
    assert bundled.named_path("./lfw") == "./lfw"  # the folder, by a path
  finally:
    os.chdir(cwd)
