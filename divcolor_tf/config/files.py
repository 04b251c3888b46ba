"""Configs on disk: a ``configs/*.py`` file with its variants and ``key=value`` overrides
(:func:`load`), the resolved config written beside a run's outputs and read back
(:func:`save_resolved` / :func:`load_resolved`). Shared data (``shared_data``, ``shared:`` names) is
:mod:`divcolor_tf.data.sources`'.
"""

import ast
import importlib.util
import os

import ml_collections

from divcolor_tf.config import schema
from divcolor_tf.io import atomic

# The fields that shape each method's networks (config.method -> dotted names): the weights in a
# stage's checkpoints have these shapes, so a resumed run must keep them (:func:`check_resume`).
# The config fields that shape each stage's own networks (by the stage's name: training's
# StageDefinition.name). The MDN's inputs and the joint stage's networks come from the earlier
# stages' files, so only their own fields count; a VAE resumed under a config that differs in
# the grey trunk (configs/imagenet_val.py: cpu_general, then cpu_general_v2) is the same VAE.
SHAPE_FIELDS = {
    "VAE": ("data.field_size", "vae.latent_dim", "vae.width", "vae.skip", "vae.relu_before_bn",
            "vae.bn_before_tanh", "vae.grey_last_relu"),
    "feature network": ("data.grey_size", "features.width", "features.network",
                        "features.endpoints"),
    "MDN": ("mdn.components", "mdn.width"),
    "CVAE": ("data.field_size", "cvae.latent_dim", "cvae.width", "cvae.grey_last_relu"),
    "cGAN": ("data.field_size", "cgan.width", "cgan.disc_layers"),
}


def load(path, overrides=()):
  """Loads ``path[:arg]`` (a configs/*.py file) and applies ``key=value`` overrides.

  Tests and notebooks use this; command-line tools use absl's ``config_flags`` instead. An
  override of a field that moved (``train.epochs``) is a ConfigError saying where it went.
  """
  file_path, _, arg = path.partition(":")
  if not os.path.isfile(file_path):
    raise FileNotFoundError(f"{file_path}: no such config file")
  spec = importlib.util.spec_from_file_location("divcolor_config", file_path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg or None)
  for item in overrides:
    key, _, value = item.partition("=")
    set_path(config, key, value)
  return config


def set_path(config, key, text):
  """Sets the field ``key`` ("section.name") of ``config`` from the text ``text``, in the field's
  type. A field that moved (``schema.MOVED``) is a ConfigError saying where it went."""
  moved = schema.moved_problem(key)
  if moved:
    raise schema.ConfigError(f"{key}: {moved}")
  parts = key.split(".")
  node = config
  for part in parts[:-1]:
    node = node[part]
  old = node[parts[-1]]
  if isinstance(old, bool):
    value = text.lower() in ("1", "true", "yes")
  elif isinstance(old, tuple):
    value = tuple(ast.literal_eval(text)) if text.strip() not in ("", "()") else ()
  elif isinstance(old, (int, float)):
    value = type(old)(float(text)) if isinstance(old, int) else float(text)
  else:
    value = text
  node[parts[-1]] = value


def save_resolved(config, workdir, name="config.json"):
  """Writes the resolved config as JSON beside a run's outputs; returns the path."""
  os.makedirs(workdir, exist_ok=True)
  return atomic.write_text(os.path.join(workdir, name),
                           config.to_json(indent=2, sort_keys=True) + "\n")


def load_resolved(workdir, name="config.json"):
  """Reads a config written by :func:`save_resolved` back into a ConfigDict, an older layout's
  migrated to the current one (``schema.migrate``: the VAE's train.epochs is vae.epochs, ...)."""
  # JSON has no tuples; configs hold sequences as tuples (what the command line parses).
  values = schema.migrate(atomic.read_json(os.path.join(workdir, name)))
  return ml_collections.ConfigDict(_lists_to_tuples(values))


def check_resume(config, out_dir, stage, name="config.json"):
  """Before a resume writes anything: raises ConfigError (one line: the field, its old and new
  value, what to do) when ``config`` changes a field that shapes ``stage``'s networks
  (:data:`SHAPE_FIELDS`) from the one in ``out_dir``'s config.json. Without a readable
  config.json there is nothing to compare (the checkpoint's own check then speaks)."""
  path = os.path.join(out_dir, name)
  try:
    saved = load_resolved(out_dir, name)
  except (OSError, ValueError, atomic.UnreadableFileError):
    return
  for dotted in SHAPE_FIELDS.get(stage, ()):
    old, new = schema.lookup(saved, dotted, None), schema.lookup(config, dotted, None)
    if old is None or new is None or _lists_to_tuples(old) == _lists_to_tuples(new):
      continue
    raise schema.ConfigError(
        f"config field {dotted}={new!r}: {out_dir} holds checkpoints of a run with "
        f"{dotted}={old!r} ({path}), which shapes the networks; resume with "
        f"--config.{dotted}={old!r}, or train in a new workdir")


def _lists_to_tuples(value):
  if isinstance(value, dict):
    return {k: _lists_to_tuples(v) for k, v in value.items()}
  if isinstance(value, list):  # as json's object_hook did: dicts inside lists too, lists kept
    return tuple(_lists_to_tuples(v) if isinstance(v, dict) else v for v in value)
  return value
