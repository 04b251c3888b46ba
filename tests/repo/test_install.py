"""A normal install (not editable) colorizes with the bundled models (issue 47, the first hour).

``pip install .``, ``pip wheel .`` and ``pip install git+URL`` build a wheel; setup.py's build
step copies the newest version of each bundled model into it (divcolor_tf/saved_models/). The
wheel is built from this clone and installed with pip into a fresh virtual environment
(``python -m venv``), then loaded by that environment's python from a folder outside the clone. An
installation without them says in one line how to get them.

Nothing is downloaded: the fresh environment sees this one's packages (TensorFlow, numpy, pip)
through a ``.pth`` file naming this environment's site-packages folder. A folder named in a
``.pth`` file goes on ``sys.path`` but is no site folder, so the ``.pth`` files it holds (this
clone's editable install, ``__editable__.divcolor_tf-*.pth``, which puts the clone on the path) are
not run there: before the install the fresh python finds no divcolor_tf at all (tested), and after
it imports the package from its own site-packages (tested).
"""

import os
import pathlib
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from conftest import ROOT as REPO
from divcolor_tf.inference import bundled



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


def _fresh_venv(folder):
  """A new virtual environment at ``folder`` that sees this one's packages, but not this clone.

  Returns (its python, its own site-packages folder).
  """
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                 capture_output=True)
  python = folder / "bin" / "python"
  ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
  site = subprocess.run([str(python), "-c", ask], check=True, capture_output=True,
                        text=True).stdout.strip()
  ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
  (pathlib.Path(site) / "_divcolor_test_deps.pth").write_text("".join(p + "\n" for p in ours))
  return python, pathlib.Path(site)


def test_an_installed_wheel_colorizes_with_the_bundled_model_outside_the_clone(wheel, tmp_path):
  python, site = _fresh_venv(tmp_path / "fresh")
  env = {k: v for k, v in os.environ.items()
         if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
  env.update(TF_CPP_MIN_LOG_LEVEL="2", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
  work = tmp_path / "elsewhere"
  work.mkdir()
  ask = ("import importlib.util as u, sys\n"
         "print(u.find_spec('divcolor_tf'), u.find_spec('tensorflow') is not None, sys.prefix)\n")
  before = subprocess.run([str(python), "-c", ask], cwd=work, env=env, check=True,
                          capture_output=True, text=True).stdout.split()
  assert before[:2] == ["None", "True"], before  # this clone does not leak in; TensorFlow is seen
  assert pathlib.Path(before[2]).resolve() == (tmp_path / "fresh").resolve()
  # --ignore-installed: pip never touches this environment's (editable) divcolor_tf it can see.
  subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index",
                  "--ignore-installed", "-q", str(wheel)],
                 cwd=work, env=env, check=True, capture_output=True)
  script = ("import numpy as np, divcolor_tf as dc\n"
            "m = dc.load()\n"
            "r = m.colorize(np.full((40, 56, 3), 128, np.uint8), k=2)\n"
            "print(dc.__file__, m.path, 'x'.join(map(str, r.colorizations.shape)))\n")
  run = subprocess.run([str(python), "-c", script], cwd=work, env=env,
                       capture_output=True, text=True, timeout=600)
  assert run.returncode == 0, run.stderr
  package, model, shape = run.stdout.split()[-3:]
  assert pathlib.Path(package).resolve().is_relative_to(site.resolve())
  bundled_models = (site / "divcolor_tf" / "saved_models").resolve()
  assert pathlib.Path(model).resolve().is_relative_to(bundled_models)
  assert shape == "2x40x56x3"


def test_an_installation_without_the_models_says_how_to_get_them(tmp_path, monkeypatch):
  monkeypatch.setattr(bundled, "SAVED_MODELS", str(tmp_path))
  with pytest.raises(FileNotFoundError) as raised:
    bundled.resolve_model("imagenet")
  message = str(raised.value)
  assert "\n" not in message
  assert "divcolor_imagenet" in message and "pip install" in message and "clone" in message
