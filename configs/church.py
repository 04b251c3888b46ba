r"""Church exteriors (the paper's LSUN church_outdoor domain), 64x64 colour fields.

LSUN is not available offline here: ../shared/data/church_demo holds only 9 photos, enough for
the tiny twin and demos. Point data.train at your own LSUN church_outdoor export to train:
  divcolor-train-vae --config configs/church.py --workdir workdirs/church \
      --config.data.train=/path/to/church_outdoor_train
Variants after a colon: tiny, l2, mah, all, skip, authors (divcolor_tf.config.VARIANTS).
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "church"
  c.data.train = config_lib.shared_source("church_demo")
  return config_lib.apply_variants(c, arg, {"data.val_fraction": 0.2})
