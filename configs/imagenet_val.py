r"""ImageNet validation photos (the paper's ImageNet-Val domain), 64x64 colour fields.

The paper trains on ImageNet-Val itself. Here the 10,100 Tiny-ImageNet validation photos (already
64x64, ImageNet domain) are the training pool and ../shared/data/imagenet_val/ci the test photos:
  divcolor-train-vae --config configs/imagenet_val.py --workdir workdirs/imagenet_val
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "imagenet_val"
  c.data.train = "../shared/data/tiny_imagenet_val/images"
  c.data.val = "../shared/data/imagenet_val/ci"
  if arg == "tiny":
    c.data.train = "../shared/data/imagenet_val/ci"
    c.data.val = ""
    config_lib.tiny(c)
  elif arg:
    raise ValueError(f"configs/imagenet_val.py: unknown variant {arg!r} (known: tiny)")
  return c
