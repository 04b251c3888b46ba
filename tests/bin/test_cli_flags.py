"""Flags checked once, before any work, in one line (issue 47 row 18): an empty path flag names
nothing, a negative --seed is the flag's fault (not every photo's), and a --config that is no config
file, is missing or names an unknown variant is one line, not a traceback."""

from absl import flags
import pytest

from conftest import console_script
from conftest import finish_tool
from conftest import start_tool
from divcolor_tf.bin import cli


def _cases(repo_root, tmp_path):
  lfw = str(repo_root / "configs" / "lfw.py")
  photo = tmp_path / "photo.png"
  photo.write_bytes(b"")  # never read: the flags are refused first
  out = str(tmp_path / "out")
  train = console_script("divcolor-train-vae")
  return [
      (train + ["--config", f"{lfw}:tiny", "--workdir="],
       "divcolor-train-vae: --workdir is empty: it must name a file or folder"),
      (console_script("divcolor-export") + ["--model=", "--out", out],
       "divcolor-export: --model is empty: it must name a file or folder"),
      (console_script("divcolor-colorize") + ["--model=", "--input", str(photo), "--output", out],
       "divcolor-colorize: --model is empty: it must name a file or folder"),
      (console_script("divcolor-colorize") + ["--seed", "-1", "--samples", "2", "--input",
                                              str(photo), "--output", out],
       "divcolor-colorize: --seed must be a non-negative integer, got -1"),
      (train + ["--config", "/dev/null", "--workdir", out],
       "divcolor-train-vae: --config=/dev/null: not a config file (it defines no get_config(); "
       "configs/*.py are)"),
      (train + ["--config", f"{lfw}:nosuch", "--workdir", out],
       f"divcolor-train-vae: --config={lfw}:nosuch: unknown config variant 'nosuch' (known: tiny,"),
      (train + ["--config", str(tmp_path / "nosuch.py"), "--workdir", out],
       "divcolor-train-vae: --config: the config file cannot be loaded ([Errno 2] No such file or "
       f"directory: '{tmp_path / 'nosuch.py'}')"),
  ]


def test_bad_flags_are_one_line_before_any_work(repo_root, tmp_path):
  cases = _cases(repo_root, tmp_path)
  runs = [start_tool(args) for args, _ in cases]  # together: each is a start-up and one line
  for (args, expected), process in zip(cases, runs):
    result = finish_tool(process)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, (args, result.stderr)
    assert len(lines) == 1 and lines[0].startswith(expected), (args, result.stderr)
    assert "Traceback" not in result.stderr
  assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("value", ["0", "7"])
def test_a_good_seed_passes_the_check(value):
  values = flags.FlagValues()
  flags.DEFINE_integer("seed", None, "", flag_values=values)
  flags.DEFINE_string("model", "imagenet", "", flag_values=values)
  values(["prog", f"--seed={value}", "--model=lfw"])
  assert cli.flag_value_problem(values) is None
  values(["prog", "--seed=-3"])
  assert cli.flag_value_problem(values) == "--seed must be a non-negative integer, got -3"


def test_usage_errors_in_a_tools_main_are_one_line(tmp_path):
  """issue 47 row 21: app.UsageError raised in a tool's main (unexpected arguments, a negative
  --samples, figure's range checks) went through absl's usage printer: "USAGE: prog [flags]", a
  blank line, then the problem. Now one line, exit 1, as every flag error."""
  out = str(tmp_path / "out")
  colorize = console_script("divcolor-colorize")
  cases = [
      (colorize + ["extra_arg", "--input", "x", "--output", out],
       "divcolor-colorize: unexpected arguments: ['extra_arg']; --help lists the flags"),
      (colorize + ["--samples", "-1", "--input", "x", "--output", out],
       "divcolor-colorize: --samples must be >= 0; --help lists the flags"),
      (console_script("divcolor-figure") + ["--model", "lfw", "--input", "x", "--output",
                                            f"{out}.png", "--cell", "8"],
       "divcolor-figure: --samples and --max_photos must be >= 0, --cell >= 16; --help lists "
       "the flags"),
  ]
  runs = [start_tool(args) for args, _ in cases]
  for (args, expected), process in zip(cases, runs):
    result = finish_tool(process)
    assert result.returncode == 1 and result.stderr.splitlines() == [expected], (args,
                                                                                result.stderr)
  assert not list(tmp_path.iterdir())
