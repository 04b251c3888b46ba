"""Every installed divcolor-* tool answers --help with its description and its own flags, exit 0."""

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from conftest import console_script
from conftest import WITHOUT_TENSORFLOW
from conftest import tool_env

TOOLS = re.findall(r'"(divcolor-[a-z-]+)": "', (ROOT / "setup.py").read_text())


def test_setup_lists_every_tool():
  assert len(TOOLS) == 13 and "divcolor-colorize" in TOOLS and "divcolor-figure" in TOOLS


@pytest.mark.parametrize("tool", TOOLS)
def test_help_shows_the_tools_description_and_flags(tool):
  module = tool.removeprefix("divcolor-").replace("-", "_")
  doc_first_line = (ROOT / "bin" / f"{module}.py").read_text().split('"""')[1].splitlines()[0]
  for flag in ("--help", "-h"):
    done = subprocess.run(console_script(tool) + [flag], capture_output=True, text=True,
                          env=tool_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(doc_first_line.lstrip("r").strip()), done.stdout[:200]
    own_flags = re.findall(r"^  --(?:\[no\])?(\w+):", done.stdout, re.M)
    assert own_flags, done.stdout
    assert "helpfull" not in own_flags and len(done.stdout.splitlines()) < 80


@pytest.mark.parametrize("tool", [t for t in TOOLS if t.startswith("divcolor-train-")])
def test_every_trainers_help_names_the_strategy_and_precision_flags(tool):
  done = subprocess.run(console_script(tool) + ["--help"], capture_output=True, text=True,
                        env=tool_env(), timeout=120)
  text = " ".join(done.stdout.split())
  for flag in ("--config.train.strategy=default|mirrored|multi_worker", "TF_CONFIG",
               "--config.train.num_devices", "--config.train.cpu_devices",
               "--config.train.precision=float32|mixed_bfloat16|mixed_float16",
               "docs/training.md"):
    assert flag in text, (tool, flag)


def test_quiet_by_default_and_verbose_on_request(tmp_path):
  """A tool that loads TensorFlow and fails prints its one line and nothing of TensorFlow's
  start-up (oneDNN, CUDA stubs, cuInit); -v 1 lets every line through."""
  missing = tmp_path / "no_such_workdir"
  args = console_script("divcolor-evaluate-vae") + ["--workdir", str(missing)]
  quiet = subprocess.run(args, capture_output=True, text=True, env=tool_env(), timeout=120)
  assert quiet.returncode == 1
  lines = quiet.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith("divcolor-evaluate-vae: "), quiet.stderr
  assert str(missing) in lines[0]
  loud = subprocess.run(args + ["-v", "1"], capture_output=True, text=True, env=tool_env(),
                        timeout=120)
  assert loud.returncode == 1 and lines[0] in loud.stderr.splitlines()
  from divcolor_tf.bin import cli  # pylint: disable=g-import-not-at-top
  noise = [line for line in loud.stderr.splitlines() if cli.NOISE.match(line)]
  # What the filter drops is only ever TensorFlow's start-up lines (none at all on some builds).
  assert all(re.search(r"\.cc:\d+\]|absl::InitializeLog|rebuild TensorFlow", line) for line in noise)


@pytest.mark.parametrize("tool", ["divcolor-train-vae", "divcolor-train-features"])
def test_a_missing_photo_folder_is_one_line_and_writes_nothing(tool, tmp_path):
  """A config whose data.train does not exist (as configs/lfw.py's is on a machine without
  ../shared): one line naming it and the field to set, exit 1, no workdir."""
  workdir = tmp_path / "w"
  args = console_script(tool) + [
      "--config", str(ROOT / "configs" / "lfw.py") + ":tiny",
      f"--config.data.train={tmp_path / 'nowhere'}", "--workdir", str(workdir)]
  done = subprocess.run(args, capture_output=True, text=True, env=tool_env(), timeout=120)
  assert done.returncode == 1
  lines = [line for line in done.stderr.splitlines() if "smoke test" not in line]  # tiny's note
  assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
  assert lines[0] == (f"{tool}: {tmp_path / 'nowhere'}: no such file or directory (config "
                      "data.train: set --config.data.train=PHOTOS)")
  assert not workdir.exists()


def test_colorize_answers_bad_flags_in_one_line_before_importing_tensorflow(tmp_path):
  """issue 47, first hour: --k 0, --k 9 (the bundled model has 8 components), --model foo, a
  missing --input took TensorFlow's start-up before their error, and --samples 3 --k 2 ignored
  --k. Each is one line, exit 1, answered with TensorFlow not importable (so never imported)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  photo = tmp_path / "photo.png"
  Image.new("RGB", (32, 32), (200, 120, 40)).save(photo)
  out = tmp_path / "out"
  good = ["--input", str(photo), "--output", str(out)]
  cases = [
      (good + ["--k", "0"], "--k must be in [1, 8] (the mixture's components), got 0"),
      (good + ["--k", "9"], "--k must be in [1, 8] (the mixture's components), got 9"),
      (good + ["--samples", "3", "--k", "2"], "--k 2 and --samples 3: give one of them"),
      (good + ["--temporal", "1"], "--temporal must be in [0, 1) (0: off), got 1.0"),
      (good + ["--model", "foo"],
       "--model foo: neither a bundled model (imagenet, lfw) nor an existing path"),
      (good + ["--model", "prior:foo"],
       "--model prior:foo: neither a bundled model (imagenet, lfw) nor an existing path"),
      (["--input", str(tmp_path / "missing"), "--output", str(out)],
       f"{tmp_path / 'missing'}: no such file or directory"),
      (["--output", str(out)], "--input"),
  ]
  for args, says in cases:
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *args], cwd=tmp_path,
                          capture_output=True, text=True, env=tool_env(), timeout=120)
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and len(lines) == 1, (args, done.stderr[-2000:])
    assert lines[0].startswith("divcolor-colorize: ") and says in lines[0], (args, lines)
    assert not out.exists()
  # The same run with good flags does reach TensorFlow's import, which fails there: the check
  # above is not vacuous.
  done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *good, "--k", "2"],
                        cwd=tmp_path, capture_output=True, text=True, env=tool_env(), timeout=120)
  assert done.returncode == 1 and "import of tensorflow halted" in done.stderr, done.stderr[-2000:]


def _without_tensorflow(tool):
  """The command line of ``tool`` run with TensorFlow unimportable (as WITHOUT_TENSORFLOW)."""
  module = tool.removeprefix("divcolor-").replace("-", "_")
  script = WITHOUT_TENSORFLOW.replace("divcolor-colorize", tool).replace(
      "import colorize\ncolorize.run()", f"import {module}\n{module}.run()")
  return [sys.executable, "-c", script]


def test_figure_evaluate_and_export_answer_bad_flags_before_importing_tensorflow(tmp_path):
  """issue 47, first hour: the other tools that load a model checked --k, --model and their
  output only after TensorFlow's start-up; a figure whose --output is a folder failed after the
  whole run with a traceback, --overwrite or not (row 14). Each is one line, exit 1, answered
  with TensorFlow not importable; a missing required flag too."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  photo = tmp_path / "photo.png"
  Image.new("RGB", (32, 32), (200, 120, 40)).save(photo)
  folder = tmp_path / "a_folder"
  folder.mkdir()
  figure = ["--input", str(photo), "--output", str(tmp_path / "fig.png")]
  k_range = "--k must be in [1, 8] (the mixture's components; a baseline's clusters), got"
  cases = [
      ("divcolor-figure", figure + ["--model", "lfw", "--k", "0"], f"{k_range} 0"),
      ("divcolor-figure", figure + ["--model", "lfw", "--k", "9"], f"{k_range} 9"),
      ("divcolor-figure", figure + ["--model", "lfw", "--model", "foo"],
       "--model foo: neither a bundled model (imagenet, lfw) nor an existing path"),
      ("divcolor-figure", ["--model", "lfw", "--input", str(photo), "--output", str(folder),
                           "--overwrite"], f"{folder}: --output names a folder, not a file"),
      ("divcolor-figure", ["--model", "lfw", "--output", str(tmp_path / "fig.png")], "--input"),
      ("divcolor-evaluate", ["--model", "lfw", "--k", "9"], f"{k_range} 9"),
      ("divcolor-evaluate", ["--model", "nosuch"],
       "--model nosuch: neither a bundled model (imagenet, lfw) nor an existing path"),
      ("divcolor-evaluate", ["--k", "2"], "--model"),
      ("divcolor-export", ["--model", "lfw", "--out", str(tmp_path / "x"), "--version", "0"],
       "--version must be a positive integer, got 0"),
      ("divcolor-export", ["--model", "lfw"], "--out"),
  ]
  runs = [subprocess.Popen(_without_tensorflow(tool) + args, cwd=tmp_path, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tool_env())
          for tool, args, _ in cases]
  for (tool, args, says), run in zip(cases, runs):
    _, stderr = run.communicate(timeout=120)
    lines = stderr.splitlines()
    assert run.returncode == 1 and len(lines) == 1, (tool, args, stderr[-2000:])
    assert lines[0].startswith(f"{tool}: ") and says in lines[0], (tool, args, lines)
  assert sorted(os.listdir(tmp_path)) == ["a_folder", "photo.png"] and not os.listdir(folder)
