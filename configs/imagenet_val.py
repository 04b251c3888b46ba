r"""ImageNet validation photos (the paper's ImageNet-Val domain), 64x64 colour fields.

The paper trains on ImageNet-Val itself. Here the 10,100 Tiny-ImageNet validation photos (already
64x64, ImageNet domain) are the training pool and ../shared/data/imagenet_val/ci the test photos:
  divcolor-train-vae --config configs/imagenet_val.py --workdir workdirs/imagenet_val
Variants after a colon: tiny, l2, mah, all, skip, authors (see divcolor_tf.config.apply_variants).
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "imagenet_val"
  c.data.train = config_lib.shared_data("tiny_imagenet_val/images")
  c.data.val = config_lib.shared_data("imagenet_val/ci")
  return config_lib.apply_variants(
      c, arg, {"data.train": config_lib.shared_data("imagenet_val/ci"), "data.val": ""})
