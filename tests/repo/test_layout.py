"""The package's folders are its layers: no import cycle, no trainer imported where it must not be.

Imports are read from the source with ``ast``, module-level and inside functions alike (a lazy
import that closes a cycle is still a cycle); a package's ``__init__`` counts as a module, and
importing ``a.b`` also imports ``a`` (a module's own parent packages are loaded before it, so they
are no edge of its).
"""

import ast
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

PACKAGE = ROOT / "divcolor_tf"
LAYER_FOLDERS = ("config", "io", "data", "models", "methods", "training", "trainers", "inference", "export",
                 "evaluation", "web", "video")
TOP_LEVEL = {"__init__.py", "color.py", "losses.py", "workdir.py", "exported.py", "colorize.py"}


def _module_name(path):
  parts = list(path.relative_to(ROOT).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def _modules():
  return {_module_name(p): p for p in PACKAGE.rglob("*.py") if p.parent.name != "bin"}


def _imports(path, name, known):
  """The project modules ``name`` (at ``path``) imports, anywhere in its source."""
  tree = ast.parse(path.read_text())
  found = set()
  package = name if path.name == "__init__.py" else name.rpartition(".")[0]
  for node in ast.walk(tree):
    targets = []
    if isinstance(node, ast.Import):
      targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                        + ([base] if base else []))
      targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                 for alias in node.names]
    for target in targets:
      while target and target not in known:  # "divcolor_tf.data.stats.load" -> the module
        target = target.rpartition(".")[0]
      # importing a.b.c runs a/__init__ and a/b/__init__ too
      parts = target.split(".")
      for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in known and prefix != name and not name.startswith(prefix + "."):
          found.add(prefix)
  return found


def _graph():
  known = _modules()
  return {name: _imports(path, name, known) for name, path in known.items()}


def _cycles(graph):
  """Strongly connected components of more than one module (Tarjan), and self-loops."""
  index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

  def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1 or v in graph[v]:
        out.append(sorted(component))

  sys.setrecursionlimit(10000)
  for v in graph:
    if v not in index:
      visit(v)
  return out


def test_no_import_cycle_anywhere_in_the_package():
  assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
  assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path):
  src = tmp_path / "divcolor_tf" / "pkg"
  src.mkdir(parents=True)
  (src / "mod.py").write_text(
      "from divcolor_tf import color\n"
      "def f():\n"
      "  from divcolor_tf.data import stats  # lazy\n"
      "  from . import other\n")
  known = {"divcolor_tf", "divcolor_tf.color", "divcolor_tf.data", "divcolor_tf.data.stats",
           "divcolor_tf.pkg", "divcolor_tf.pkg.other", "divcolor_tf.pkg.mod"}
  global ROOT  # pylint: disable=global-statement
  saved, ROOT = ROOT, tmp_path
  try:
    found = _imports(src / "mod.py", "divcolor_tf.pkg.mod", known)
  finally:
    ROOT = saved
  # its own parent packages (divcolor_tf, divcolor_tf.pkg) are loaded before it: no edge
  assert found == {"divcolor_tf.color", "divcolor_tf.data", "divcolor_tf.data.stats",
                   "divcolor_tf.pkg.other"}


@pytest.mark.parametrize("layer", ["divcolor_tf.evaluation", "divcolor_tf.inference",
                                   "divcolor_tf.export"])
def test_evaluation_inference_and_export_import_no_trainer(layer):
  graph = _graph()
  for name, imported in graph.items():
    if name == layer or name.startswith(layer + "."):
      trainers = sorted(m for m in imported if m.startswith("divcolor_tf.trainers"))
      assert not trainers, f"{name} imports {trainers}"


def test_no_trainer_imports_another():
  graph = _graph()
  for name, imported in graph.items():
    if name.startswith("divcolor_tf.trainers."):
      others = sorted(m for m in imported
                      if m.startswith("divcolor_tf.trainers.") and m != name)
      assert not others, f"{name} imports {others}"


def test_folders_are_the_layers_and_stay_small():
  top = {p.name for p in PACKAGE.iterdir() if p.suffix == ".py"}
  assert top == TOP_LEVEL
  folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
  assert folders - {"bin"} == set(LAYER_FOLDERS)
  for folder in LAYER_FOLDERS:
    modules = [p for p in (PACKAGE / folder).glob("*.py") if p.name != "__init__.py"]
    assert 1 <= len(modules) <= 8, (folder, len(modules))


def test_bench_holds_timing_scripts_only():
  research = {"quality_study.py", "mcl_ceiling.py", "layout_filter.py"}
  assert not research & {p.name for p in (ROOT / "bench").glob("*.py")}
  assert research <= {p.name for p in (ROOT / "research").glob("*.py")}


def test_old_import_paths_of_the_documented_api_still_work():
  code = (
      "import sys\n"
      "import divcolor_tf\n"
      "from divcolor_tf import config, exported\n"
      "assert callable(divcolor_tf.load)\n"
      "for name in ('base_config', 'apply_variants', 'shared_data', 'load'):\n"
      "  assert callable(getattr(config, name)), name\n"
      "assert callable(exported.unpack)\n"
      "assert 'tensorflow' not in sys.modules, 'importing the config layer loaded TensorFlow'\n"
      "from divcolor_tf import colorize, export, color\n"
      "from divcolor_tf.models import zhang_weights\n"
      "assert colorize.load and colorize.Colorizer and colorize.Colorization\n"
      "assert export.export_saved_model and export.export_tflite\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)


# --- What the new layout must not change -------------------------------------------------------

BUNDLED = ROOT / "saved_models" / "divcolor_lfw"
# Outputs of the bundled model version 5 computed before the layout moved (main at 1cb5772):
# skimage's astronaut at 72x60, its top 5 and 2 draws with seed 7.
GOLDEN = ROOT / "tests" / "data" / "bundled_v5_outputs.npz"


def _within_one_level(actual, expected):
  diff = np.abs(np.asarray(actual).astype(np.int16) - np.asarray(expected).astype(np.int16))
  assert diff.max() <= 1, f"{diff.max()} uint8 levels off ({(diff > 1).mean():.2%} of values)"


def test_the_bundled_model_colorizes_as_before_the_layout_moved(tmp_path):
  import divcolor_tf as dc  # pylint: disable=g-import-not-at-top
  from divcolor_tf import exported  # pylint: disable=g-import-not-at-top
  golden = np.load(GOLDEN)
  served = dc.load(str(BUNDLED))
  result = served.colorize(golden["photo"], k=5)
  _within_one_level(result.colorizations, golden["topk"])
  np.testing.assert_allclose(result.weights, golden["weights"], rtol=1e-5)
  _within_one_level(served.sample(golden["photo"], 2, seed=7).colorizations, golden["samples"])
  # The same export as a workdir (exported.unpack): the in-memory Colorizer's path.
  exported.unpack(str(BUNDLED / "5"), str(tmp_path / "workdir"))
  workdir = dc.load(str(tmp_path / "workdir"))
  assert type(workdir).__name__ == "Colorizer"
  _within_one_level(workdir.colorize(golden["photo"], k=5).colorizations, golden["topk"])


def _strings_of(path):
  """The text a shipped file holds: a text file's, or an .npz's string arrays."""
  if path.suffix == ".npz":
    with np.load(path, allow_pickle=False) as z:
      return [str(z[k]) for k in z.files if z[k].dtype.kind in "SU"]
  blob = path.read_bytes()
  return [] if b"\0" in blob[:4096] else [blob.decode("utf-8", "replace")]


def test_no_shipped_file_holds_a_path_of_the_machine_it_was_made_on():
  pattern = re.compile(r"(?<![\w.])/(work|home|root|tmp|Users|mnt|data|var|opt)/")
  found = []
  for path in sorted((ROOT / "saved_models").rglob("*")):
    if path.is_file():
      found += [f"{path.relative_to(ROOT)}: {m.group(0)}..." for text in _strings_of(path)
                for m in [pattern.search(text)] if m]
  assert not found, found


def test_the_path_finder_sees_npz_strings(tmp_path):
  np.savez(tmp_path / "s.npz", source=np.asarray("first /work/shared/data/x.jpg"))
  assert _strings_of(tmp_path / "s.npz") == ["first /work/shared/data/x.jpg"]


def test_the_bundled_config_names_its_photos_by_a_shared_name():
  config = json.loads((BUNDLED / "5" / "assets.extra" / "config.json").read_text())
  assert config["data"]["train"] == "shared:lfw/train"
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  assert data.resolve_source("shared:lfw/train") == data.shared_data("lfw", "train")


def test_evaluating_without_the_training_photos_names_the_tools_own_flag(tmp_path):
  """divcolor-evaluate --model M without --images, where M's validation photos are not on the
  machine: one line that says to pass --images (not a trainer's --config.data.train)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", DIVCOLOR_SHARED_DATA=str(tmp_path / "none"))
  for tool, model_flag in (("divcolor-evaluate", "--model"), ("divcolor-evaluate-vae", "--workdir")):
    run = subprocess.run([tool, model_flag, str(BUNDLED)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "pass --images PHOTOS" in last and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "--config.data" not in last


def test_import_works_from_the_folder_above_a_clone_named_divcolor_tf(tmp_path):
  """A clone's root (setup.py, no __init__.py) in the working directory is not taken for the
  package: the install puts the project root on sys.path, where the real package is found."""
  clone = tmp_path / "divcolor_tf"
  clone.mkdir()
  (clone / "setup.py").write_text("# a clone's root\n")
  (clone / "README.md").write_text("a clone\n")
  code = ("import divcolor_tf, os; assert callable(divcolor_tf.load); "
          "print(os.path.dirname(os.path.abspath(divcolor_tf.__file__)))")
  run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, env=dict(os.environ, PYTHONPATH=""))
  assert run.returncode == 0, run.stderr[-2000:]
  assert pathlib.Path(run.stdout.strip()) == PACKAGE


def test_the_tests_mirror_the_layers():
  """tests/<layer>/test_*.py (docs/architecture.md, Tests): a layer's folder or repo/, no test
  file at tests/ root, and no two test files of one name (pytest imports them by file name)."""
  tests = ROOT / "tests"
  files = sorted(tests.rglob("test_*.py"))
  assert not [p for p in files if p.parent == tests]
  folders = {p.parent.relative_to(tests).as_posix() for p in files}
  assert folders <= set(LAYER_FOLDERS) | {"bin", "repo"}, folders
  names = [p.name for p in files]
  assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
