"""The repository's promises: CI runs the README's test command at the tested versions; setup.py
declares ranges that hold them; importing the package is cheap."""

import re
import runpy
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
import setuptools

from conftest import ROOT


def _readme_commands():
  return re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_ci_runs_exactly_the_readme_test_command():
  test_command = [c for c in _readme_commands() if "pytest" in c]
  assert len(test_command) == 1, "the README should give one test command"
  ci = (ROOT / ".ci" / "run").read_text().splitlines()
  assert test_command[0].strip() in [line.strip() for line in ci]


def test_readme_installs_the_tested_versions():
  installs = [c for c in _readme_commands() if "pip install -q -e" in c]
  assert len(installs) == 2, "the quick start and the test command"
  for command in installs:
    assert "-c constraints.txt" in command, command


def _setup_arguments(monkeypatch):
  arguments = {}
  monkeypatch.setattr(setuptools, "setup", arguments.update)
  monkeypatch.chdir(ROOT)
  runpy.run_path(str(ROOT / "setup.py"))
  return arguments


def test_setup_ranges_hold_the_exact_versions_of_constraints_txt(monkeypatch):
  arguments = _setup_arguments(monkeypatch)
  requirements = [*arguments["install_requires"],
                  *(r for extra in arguments["extras_require"].values() for r in extra)]
  assert {"test", "deploy", "gpu"} <= set(arguments["extras_require"])
  pins = {}
  for line in (ROOT / "constraints.txt").read_text().splitlines():
    line = line.split("#")[0].strip()
    if line:
      name, exact, version = line.partition("==")
      assert exact and version, f"constraints.txt: {line!r} is not an exact version"
      pins[canonicalize_name(name)] = version
  for text in requirements:
    requirement = Requirement(text)
    # An exact version in setup.py would replace an environment's own TensorFlow (Colab).
    assert not any(s.operator in ("==", "===") for s in requirement.specifier), text
    name = canonicalize_name(requirement.name)
    assert name in pins, f"setup.py requires {requirement.name}; constraints.txt has no version"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"constraints.txt: {requirement.name}=={pins[name]} is outside setup.py's {text}")


def test_import_does_not_load_tensorflow():
  code = ("import sys, divcolor_tf, divcolor_tf.config, divcolor_tf.evaluation.metrics; "
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
