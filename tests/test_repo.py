"""The repository's promises: CI runs the README's test command; importing the package is cheap."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_commands():
  return re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_ci_runs_exactly_the_readme_test_command():
  test_command = [c for c in _readme_commands() if "pytest" in c]
  assert len(test_command) == 1, "the README should give one test command"
  ci = (ROOT / ".ci" / "run").read_text().splitlines()
  assert test_command[0].strip() in [line.strip() for line in ci]


def test_import_does_not_load_tensorflow():
  code = ("import sys, divcolor_tf, divcolor_tf.config, divcolor_tf.metrics; "
          "print('tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "False"


def test_every_console_script_points_at_a_bin_module():
  setup = (ROOT / "setup.py").read_text()
  modules = re.findall(r'"divcolor-[\w-]+": "(\w+)"', setup)
  assert modules
  for module in modules:
    source = (ROOT / "bin" / f"{module}.py").read_text()
    assert "def run():" in source and "cli.run(main, __name__, __doc__)" in source, module
