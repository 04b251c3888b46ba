"""divcolor-figure: the paper's figure layout for a folder of photos (divcolor_tf.evaluation.figures)."""

import shutil

import numpy as np
from PIL import Image

from conftest import ROOT as REPO
from conftest import console_script
from conftest import finish_tool
from conftest import start_tool
from divcolor_tf import data
from divcolor_tf.evaluation import figures
from divcolor_tf.inference import outputs

BUNDLED = REPO / "saved_models" / "divcolor_lfw"


def _cell(image, row, column, cell):
  y = figures.HEADER + figures.GAP + row * (cell + figures.CAPTION + figures.GAP)
  x = figures.GAP + column * (cell + figures.GAP)
  return image[y:y + cell, x:x + cell].astype(int)


def test_rows_hold_the_grey_input_the_k_colorizations_in_order_and_the_truth(colorizer, lfw_ci):
  paths = data.list_images(str(lfw_ci))[:3]
  errors = []
  rows = figures.colorized_rows(colorizer, paths + [str(lfw_ci / "missing.jpg")], 3,
                                on_error=errors.append)
  assert len(rows) == 3 and len(errors) == 1 and "missing.jpg" in errors[0]
  cell = 64
  image = figures.figure(rows, 3, cell=cell)
  assert image.shape == (figures.HEADER + 3 * (cell + figures.CAPTION + figures.GAP) + figures.GAP,
                         5 * cell + 6 * figures.GAP, 3)
  for r, (photo, result) in enumerate(rows):
    grey = _cell(image, r, 0, cell)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    for c in range(3):  # each colorization in its own column, by weight
      expected = np.asarray(figures._fit(result.colorizations[c], cell)).astype(int)  # pylint: disable=protected-access
      assert np.abs(_cell(image, r, 1 + c, cell) - expected).max() == 0
    truth = np.asarray(figures._fit(photo, cell)).astype(int)  # pylint: disable=protected-access
    assert np.abs(_cell(image, r, 4, cell) - truth).max() == 0
  assert figures.figure(rows, 3, cell=cell, truth=False).shape[1] == 4 * cell + 5 * figures.GAP


def test_samples_are_the_draws_divcolor_colorize_makes(colorizer, lfw_ci):
  path = data.list_images(str(lfw_ci))[1]
  rows = figures.colorized_rows(colorizer, [data.list_images(str(lfw_ci))[0], path], 2,
                                samples=2, seed=7)
  again = colorizer.colorize(data.load_rgb(path), samples=2, seed=outputs.sample_seed(7, 1))
  np.testing.assert_array_equal(rows[1][1].colorizations, again.colorizations)


def test_cli_draws_the_bundled_model_on_real_faces_and_names_a_bad_file(lfw_ci, tmp_path):
  folder = tmp_path / "photos"
  folder.mkdir()
  for path in data.list_images(str(lfw_ci))[:3]:
    shutil.copy(path, folder)
  (folder / "broken.jpg").write_bytes(b"not a photo")
  out = tmp_path / "figure.png"
  result = finish_tool(start_tool(console_script("divcolor-figure") + [
      "--model", str(BUNDLED), "--input", str(folder), "--output", str(out), "--k", "4",
      "--cell", "96"]))
  assert result.returncode == 1, result.stderr  # the broken file
  errors = [line for line in result.stderr.splitlines() if line.startswith("divcolor-figure:")]
  assert len(errors) == 1 and "broken.jpg" in errors[0], result.stderr
  assert "3 photos x 4 colorizations" in result.stdout
  image = np.asarray(Image.open(out))
  assert image.shape[1] == 6 * 96 + 7 * figures.GAP
  refused = finish_tool(start_tool(console_script("divcolor-figure") + [
      "--model", str(BUNDLED), "--input", str(folder), "--output", str(out)]))
  assert refused.returncode == 1 and "exists; pass --overwrite" in refused.stderr
