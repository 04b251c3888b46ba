"""Every installed divcolor-* tool answers --help with its description and its own flags, exit 0."""

import re
import subprocess

import pytest

from conftest import ROOT
from conftest import console_script
from conftest import tool_env

TOOLS = re.findall(r'"(divcolor-[a-z-]+)": "', (ROOT / "setup.py").read_text())


def test_setup_lists_every_tool():
  assert len(TOOLS) == 9 and "divcolor-colorize" in TOOLS and "divcolor-figure" in TOOLS


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
