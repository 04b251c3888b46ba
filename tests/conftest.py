"""Shared fixtures: the real photos in ../shared/data, skipping only when that folder is missing."""

import os
import pathlib
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("DIVCOLOR_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _need(path):
  if not path.exists():
    pytest.skip(f"{path} is missing: the real photos of ../shared/data are not on this machine")
  return path


@pytest.fixture(scope="session")
def shared_data():
  return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def lfw_ci():
  """200 LFW faces (identities disjoint from lfw/train)."""
  return _need(SHARED_DATA / "lfw" / "ci")


@pytest.fixture(scope="session")
def imagenet_ci():
  return _need(SHARED_DATA / "imagenet_val" / "ci")


@pytest.fixture(scope="session")
def color_prior():
  return _need(SHARED_DATA / "color_prior")


@pytest.fixture(scope="session")
def repo_root():
  return ROOT


@pytest.fixture(scope="module")
def small_stats(lfw_ci):
  """Colour statistics (20 components) of 32 LFW CI faces: enough for tiny trainers."""
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import stats  # pylint: disable=g-import-not-at-top
  return stats.compute(data.list_images(str(lfw_ci))[:32], n_components=20)


def tool_env():
  """The environment a tool runs in from the tests (TensorFlow's C++ logging quiet)."""
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def start_tool(args):
  """Starts a command line without waiting (collect it with finish_tool)."""
  return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=tool_env())


def finish_tool(process):
  stdout, stderr = process.communicate(timeout=300)
  return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def console_script(name):
  """The command line of an installed tool (e.g. 'divcolor-stats') in this interpreter's env."""
  script = pathlib.Path(sys.executable).parent / name
  if script.exists():
    return [str(script)]
  module = name.removeprefix("divcolor-").replace("-", "_")
  return [sys.executable, "-m", f"divcolor_tf.bin.{module}"]
