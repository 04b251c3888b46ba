r"""Church exteriors (the paper's LSUN church_outdoor domain), 64x64 colour fields.

LSUN is not available offline here: ../shared/data/church_demo holds only 9 photos, enough for
the tiny twin and demos. Point data.train at your own LSUN church_outdoor export to train:
  divcolor-train-vae --config configs/church.py --workdir workdirs/church \
      --config.data.train=/path/to/church_outdoor_train
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "church"
  c.data.train = "../shared/data/church_demo"
  if arg == "tiny":
    config_lib.tiny(c)
    c.data.val_fraction = 0.2
  elif arg:
    raise ValueError(f"configs/church.py: unknown variant {arg!r} (known: tiny)")
  return c
