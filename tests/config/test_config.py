"""Configs: every dataset config loads, its tiny twin has the same schema, overrides and variants."""

import pathlib

import pytest

from conftest import ROOT
from divcolor_tf import config as config_lib

CONFIGS = sorted(str(p) for p in (ROOT / "configs").glob("*.py"))


def _keys(d, prefix=""):
  out = set()
  for k, v in d.items():
    out.add(prefix + k)
    if hasattr(v, "items"):
      out |= _keys(v, prefix + k + ".")
  return out


def test_there_is_a_config_per_paper_dataset():
  names = {pathlib.Path(p).stem for p in CONFIGS}
  assert {"lfw", "church", "imagenet_val"} <= names


@pytest.mark.parametrize("path", CONFIGS)
def test_tiny_twin_has_the_same_schema_and_is_small(path):
  full = config_lib.load(path)
  tiny = config_lib.load(path + ":tiny")
  assert _keys(full.to_dict()) == _keys(tiny.to_dict())
  assert tiny.vae.width < full.vae.width
  assert tiny.vae.batch_size <= 8 and tiny.data.max_images <= 64
  assert full.vae.width == 1.0 and full.vae.latent_dim == 64  # the paper's defaults


@pytest.mark.parametrize("path", CONFIGS)
def test_only_the_tiny_twin_is_a_smoke_test(path):
  assert config_lib.base_config().smoke_test is False
  assert config_lib.load(path).smoke_test is False
  assert config_lib.load(path + ":tiny").smoke_test is True
  assert config_lib.load(path + ":skip,tiny").smoke_test is True


@pytest.mark.parametrize("path", CONFIGS)
def test_paper_loss_weights_are_the_default(path):
  c = config_lib.load(path)
  assert (c.loss.hist_factor, c.loss.mah_factor, c.loss.grad_factor, c.loss.kl_factor) == (
      1.0, 0.1, 1e-3, 1e-2)
  assert c.mdn.components == 8 and c.mdn.variance == 0.1 and c.stats.n_components == 20


def test_ablation_variants_change_only_the_loss():
  base = config_lib.load("configs/lfw.py")
  l2 = config_lib.load("configs/lfw.py:l2")
  mah = config_lib.load("configs/lfw.py:mah")
  assert (l2.loss.mah_factor, l2.loss.grad_factor, l2.loss.colourfulness) == (0.0, 0.0, "uniform")
  assert (mah.loss.hist_factor, mah.loss.mah_factor) == (0.0, 1.0)
  l2.loss = base.loss
  assert l2.to_dict() == base.to_dict()


def test_overrides_keep_types():
  c = config_lib.load("configs/lfw.py:tiny", ["vae.epochs=3", "vae.skip=true",
                                               "vae.learning_rate=2e-4", "data.train=/x"])
  assert c.vae.epochs == 3 and isinstance(c.vae.epochs, int)
  assert c.vae.skip is True and c.vae.learning_rate == 2e-4 and c.data.train == "/x"


def test_unknown_variant_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown config variant 'huge'"):
    config_lib.load("configs/lfw.py:huge")
  with pytest.raises(FileNotFoundError, match="nope.py"):
    config_lib.load("configs/nope.py")


def test_resolved_config_round_trips(tmp_path):
  c = config_lib.load("configs/church.py:tiny,skip")
  path = config_lib.save_resolved(c, str(tmp_path))
  assert pathlib.Path(path).name == "config.json"
  assert config_lib.load_resolved(str(tmp_path)).to_dict() == c.to_dict()
  # Sequences stay tuples through the command line and the JSON file.
  c = config_lib.load("configs/lfw.py:cpu", ["vae.lr_decay_epochs=(6, 9)"])
  assert c.vae.lr_decay_epochs == (6, 9)
  config_lib.save_resolved(c, str(tmp_path))
  assert config_lib.load_resolved(str(tmp_path)).vae.lr_decay_epochs == (6, 9)


@pytest.mark.parametrize("path", CONFIGS)
def test_every_shipped_config_and_variant_is_valid(path):
  variants = ["", ":tiny", ":cpu", ":cpu_skip", ":authors"]
  variants += [f":{name}" for name in _module_variants(path)]
  for variant in variants:
    config_lib.validate(config_lib.load(path + variant))


def _module_variants(path):
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return list(getattr(module, "VARIANTS", {}))


@pytest.mark.parametrize("override, message", [
    ("vae.batch_size=0", "config field vae.batch_size=0: must be an integer >= 1"),
    ("mdn.batch_size=-4", "config field mdn.batch_size=-4: must be an integer >= 1"),
    ("vae.epochs=-1", "config field vae.epochs=-1: must be an integer >= 0"),
    ("vae.optimizer=adamx", "config field vae.optimizer='adamx': must be 'adam' or 'sgd'"),
    ("vae.learning_rate=-0.1", "config field vae.learning_rate=-0.1: must be a number >= 0"),
    ("vae.width=0.0", "config field vae.width=0.0: must be a number > 0"),
    ("cgan.dropout=1.0", "config field cgan.dropout=1.0: must be a number in [0, 1)"),
    ("loss.kl_factor=-1.0", "config field loss.kl_factor=-1.0: must be a number >= 0"),
    ("features.endpoints=('stride_16,stride_32',)",  # what the flag makes of a comma list
     "config field features.endpoints=('stride_16,stride_32',): must be a tuple of some of "
     "stride_2, stride_4, stride_8, stride_16, stride_32, e.g. "
     "--config.features.endpoints=\"('stride_16','stride_32')\""),
    ("vae.grey_trunk=resnet", "config field vae.grey_trunk='resnet': must be '' or "
     "'efficientnet_lite0'"),
])
def test_an_out_of_range_field_is_one_line_naming_it(override, message):
  """issue 29, row 7: checked when a stage starts (training.start_stage), before anything is
  written; the command lines end with this line."""
  config = config_lib.load("configs/lfw.py:tiny", [override])
  with pytest.raises(config_lib.ConfigError) as raised:
    config_lib.validate(config)
  assert str(raised.value) == message


def test_the_trainers_refuse_a_bad_config_or_an_unknown_field_before_writing(tmp_path):
  """The command line: one line, exit 1, no workdir created (epochs=-1 used to exit 0 and write
  untrained models; an unknown field, a batch size of 0 and an unknown optimizer gave tracebacks)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import conftest  # pylint: disable=g-import-not-at-top
  for override, says in (("--config.train.bogus=1", "--config.train.bogus: no such config field"),
                         ("--config.vae.epochs=-1", "config field vae.epochs=-1"),
                         ("--config.vae.batch_size=0", "config field vae.batch_size=0")):
    workdir = tmp_path / "run"
    result = subprocess.run(conftest.console_script("divcolor-train-vae") + [
        "--config", "configs/lfw.py:tiny", "--workdir", str(workdir), override],
        capture_output=True, text=True, env=conftest.tool_env(), timeout=300,
        cwd=ROOT)
    lines = [line for line in result.stderr.splitlines() if line.startswith("divcolor-train-vae:")]
    assert result.returncode == 1 and len(lines) == 1 and says in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not workdir.exists()
