r"""LFW faces (the paper's first domain), 64x64 colour fields.

Run (from the repository root):
  divcolor-stats --images ../shared/data/lfw/train --out workdirs/lfw/stats.npz
  divcolor-train-vae --config configs/lfw.py --workdir workdirs/lfw
Variants after a colon, comma-separated: tiny (test twin on ../shared/data/lfw/ci), l2 / mah / all
(Table 1-2 loss ablations), skip ("Ours+skip"), authors (the authors' code's choices), e.g.
  --config configs/lfw.py:l2,tiny
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "lfw"
  c.data.train = config_lib.shared_data("lfw/train")
  return config_lib.apply_variants(c, arg, {"data.train": config_lib.shared_data("lfw/ci")})
