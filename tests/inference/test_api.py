"""The notebook entry point: ``import divcolor_tf as dc; dc.load(...)`` (issue 13 item 8)."""

import subprocess
import sys

import numpy as np

from conftest import ROOT
from divcolor_tf import data


def test_importing_the_package_does_not_import_tensorflow():
  done = subprocess.run(
      [sys.executable, "-c", "import sys, divcolor_tf as dc; dc.load; "
       "print('tensorflow' in sys.modules)"], capture_output=True, text=True, timeout=120)
  assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]


def test_load_colorize_and_sample_the_bundled_model(lfw_ci):
  import divcolor_tf as dc  # pylint: disable=g-import-not-at-top
  rgb = data.load_rgb(data.list_images(str(lfw_ci))[0])
  model = dc.load(ROOT / "saved_models" / "divcolor_lfw")
  result = model.colorize(rgb, k=5)
  assert result.colorizations.shape == (5,) + rgb.shape and result.colorizations.dtype == np.uint8
  assert np.all(np.diff(result.weights) <= 0) and 0 < result.weights.sum() <= 1 + 1e-6
  draws = model.sample(rgb, 3, seed=7)
  again = model.sample(rgb, 3, seed=7)
  assert draws.colorizations.shape == (3,) + rgb.shape
  np.testing.assert_array_equal(draws.z, again.z)
  np.testing.assert_array_equal(draws.colorizations, again.colorizations)
  other = model.sample(rgb, 3, seed=8)
  assert not np.allclose(draws.z, other.z)
