r"""LFW faces (the paper's first domain), 64x64 colour fields.

Run (from the repository root):
  divcolor-stats --images ../shared/data/lfw/train --out workdirs/lfw/stats.npz
  divcolor-train-vae --config configs/lfw.py --workdir workdirs/lfw
Tiny twin for tests: --config configs/lfw.py:tiny (uses ../shared/data/lfw/ci).
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "lfw"
  c.data.train = "../shared/data/lfw/train"
  if arg == "tiny":
    c.data.train = "../shared/data/lfw/ci"
    config_lib.tiny(c)
  elif arg:
    raise ValueError(f"configs/lfw.py: unknown variant {arg!r} (known: tiny)")
  return c
