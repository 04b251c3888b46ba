"""Shared fixtures: the real photos in ../shared/data, skipping only when that folder is missing."""

import fcntl
import os
import pathlib
import subprocess
import sys
import textwrap

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
def tiny_config(repo_root, lfw_ci):
  """The tiny test twin of configs/lfw.py, trained on ../shared/data/lfw/ci (a module may
  override it, e.g. with photos of its own)."""
  import tiny_models  # pylint: disable=g-import-not-at-top
  return tiny_models.tiny_config(repo_root, lfw_ci)


@pytest.fixture(scope="session")
def skip_stages(repo_root, lfw_ci, tmp_path_factory):
  """A workdir with the tiny "+skip" VAE (the bundled recipe's decoder) and feature network
  trained, shared by the MDN and joint-stage tests: read it, never write into it (copy first)."""
  import tiny_models  # pylint: disable=g-import-not-at-top
  from divcolor_tf import train_features  # pylint: disable=g-import-not-at-top
  from divcolor_tf import train_vae  # pylint: disable=g-import-not-at-top

  def build(workdir):
    for stage in (train_vae, train_features):
      stage.train(tiny_models.tiny_config(repo_root, lfw_ci, "skip"), workdir, verbose=0)
  return once_per_run(tmp_path_factory, "skip_stages", build)


def once_per_run(tmp_path_factory, name, build):
  """A directory ``build(directory)`` fills once per test run: under pytest-xdist (the README's
  ``-n 2``) the first worker to ask builds it while the others wait on a file lock, then all read
  it; without xdist, a fresh temporary directory."""
  if not os.environ.get("PYTEST_XDIST_WORKER"):
    directory = str(tmp_path_factory.mktemp(name))
    build(directory)
    return directory
  shared = tmp_path_factory.getbasetemp().parent  # the run's, above each worker's own
  done = shared / name
  with open(shared / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not done.exists():  # built aside, then renamed: a worker that failed leaves no half
      partial = tmp_path_factory.mktemp(name + "_partial")
      build(str(partial))
      os.rename(partial, done)
  return str(done)


@pytest.fixture(scope="module")
def colorizer(tiny_config):
  """A Colorizer over freshly built (untrained) tiny networks of ``tiny_config``."""
  import tiny_models  # pylint: disable=g-import-not-at-top
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  return colorize.Colorizer(*tiny_models.build(tiny_config), tiny_config)


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


_TWO_DEVICES = """
import numpy as np
from divcolor_tf import training
training.split_cpu(2)
import keras, tensorflow as tf
{setup}
weights, after = None, {{}}
for n in (1, 2):
  strategy = training.get_strategy(n)
  with strategy.scope():
    trainer = {build}
    trainer.compile(optimizer=keras.optimizers.SGD({learning_rate}))
  assert strategy.num_replicas_in_sync == n
  if weights is None:
    weights = trainer.get_weights()
    trainable = [v.trainable for v in trainer.weights]
  trainer.set_weights(weights)
  trainer.fit({data}, epochs=1, verbose=0)
  after[n] = trainer.get_weights()
for group in (True, False):  # trainable weights, then BN moving statistics
  pick = [i for i, t in enumerate(trainable) if t == group]
  moved = max(np.abs(after[1][i] - weights[i]).max() for i in pick)
  diff = max(np.abs(after[1][i] - after[2][i]).max() for i in pick)
  print("RESULT", moved, diff)
"""


def tiny_batch_setup(lfw_ci):
  """Setup code for :func:`assert_two_devices_take_the_same_step_as_one`: seeds, colour statistics
  of 16 LFW CI faces (``stats``) and one batch of 8 of them without its paths (``batch``); needs
  ``data`` and ``stats_lib`` imported."""
  return textwrap.dedent(f"""
      keras.utils.set_random_seed(0)
      paths = data.list_images({str(lfw_ci)!r})[:16]
      stats = stats_lib.compute(paths, n_components=20)
      batch = next(iter(data.make_dataset(paths[:8], grey_size=64, batch_size=8)))
      batch = {{k: v for k, v in batch.items() if k != "path"}}
      """)


def assert_two_devices_take_the_same_step_as_one(setup, build, data, learning_rate=1e-3):
  """One SGD step of a trainer on 1 and on 2 logical CPUs (MirroredStrategy), from the same
  weights on the same batch, in a fresh process (the CPU is split before TensorFlow starts).

  ``setup`` is Python run first (it defines what ``build`` and ``data`` use); ``build`` an
  expression giving the trainer (evaluated inside the strategy scope); ``data`` the dataset
  expression for ``fit``. The trainable weights and the BN moving statistics are compared
  separately, each against its own move, so one group's large move cannot hide the other's error.
  """
  script = _TWO_DEVICES.format(setup=setup, build=build, data=data, learning_rate=learning_rate)
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=str(ROOT), timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  results = [tuple(map(float, line.split()[1:])) for line in out.stdout.splitlines()
             if line.startswith("RESULT")]
  assert len(results) == 2, out.stdout
  for (moved, diff), group in zip(results, ("trainable weights", "BN moving statistics")):
    assert moved > 1e-4, group  # the step did something
    assert diff < 1e-3 * moved, (group, moved, diff)
