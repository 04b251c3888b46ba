"""Every installed divcolor-* tool answers --help with its description and its own flags, exit 0."""

import re
import subprocess

import pytest

from conftest import ROOT
from conftest import console_script
from conftest import tool_env

TOOLS = re.findall(r'"(divcolor-[a-z-]+)": "', (ROOT / "setup.py").read_text())


def test_setup_lists_every_tool():
  assert len(TOOLS) == 12 and "divcolor-colorize" in TOOLS and "divcolor-figure" in TOOLS


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
