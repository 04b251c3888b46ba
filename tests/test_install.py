"""A normal install (not editable) colorizes with the bundled models (issue 47, the first hour).

``pip install .``, ``pip wheel .`` and ``pip install git+URL`` build a wheel; setup.py's build
step copies the newest version of each bundled model into it (divcolor_tf/saved_models/). The
wheel is built from this clone and installed with ``--target`` (its files exactly as a venv would
get them, without reinstalling TensorFlow), then loaded from a folder outside the clone. An
installation without them says in one line how to get them.
"""

import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

from divcolor_tf.inference import bundled

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
  out = tmp_path_factory.mktemp("wheel")
  subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps",
                  "--no-build-isolation", "-q", "-w", str(out)], check=True, capture_output=True)
  (path,) = out.glob("divcolor_tf-*.whl")
  return path


def test_the_wheel_carries_the_newest_version_of_each_bundled_model_and_no_tflite(wheel):
  names = zipfile.ZipFile(wheel).namelist()
  for folder in bundled.BUNDLED.values():
    versions = [v for v in os.listdir(REPO / "saved_models" / folder) if v.isdigit()]
    newest = max(versions, key=int)
    assert f"divcolor_tf/saved_models/{folder}/{newest}/saved_model.pb" in names
    assert f"divcolor_tf/saved_models/{folder}/{newest}/assets.extra/export.json" in names
  assert not [n for n in names if n.endswith(".tflite")]
  assert not [n for n in names if n.startswith("divcolor_tf/saved_models/cvae_lfw")]


def test_an_installed_wheel_colorizes_with_the_bundled_model_outside_the_clone(wheel, tmp_path):
  target = tmp_path / "site"
  subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                  str(target), str(wheel)], check=True, capture_output=True)
  script = ("import numpy as np, divcolor_tf as dc\n"
            "m = dc.load()\n"
            "r = m.colorize(np.full((40, 56, 3), 128, np.uint8), k=2)\n"
            "print(dc.__file__, m.path, 'x'.join(map(str, r.colorizations.shape)))\n")
  env = dict(os.environ, PYTHONPATH=str(target), TF_CPP_MIN_LOG_LEVEL="2")
  run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
  assert run.returncode == 0, run.stderr
  package, model, shape = run.stdout.split()[-3:]
  assert pathlib.Path(package).resolve().is_relative_to(target.resolve())
  assert pathlib.Path(model).resolve().is_relative_to(target / "divcolor_tf" / "saved_models")
  assert shape == "2x40x56x3"


def test_an_installation_without_the_models_says_how_to_get_them(tmp_path, monkeypatch):
  monkeypatch.setattr(bundled, "SAVED_MODELS", str(tmp_path))
  with pytest.raises(FileNotFoundError) as raised:
    bundled.resolve_model("imagenet")
  message = str(raised.value)
  assert "\n" not in message
  assert "divcolor_imagenet" in message and "pip install" in message and "clone" in message
