"""The cGAN baseline's discriminator: Isola et al.'s PatchGAN on (grey, colour) pairs.

pix2pix's default discriminator (``n_layers=3``, a 70x70 receptive field), in the notation of
models/unet.py:

  [(L - 50) / 50, C]  (64x64x3)  ->  C_LReLU(4,2,64) - C(4,2,128)-B-LReLU - C(4,2,256)-B-LReLU -
                                     C(4,1,512)-B-LReLU - C(4,1,1)

giving an 8x8 map of logits, one per overlapping patch: "real pair" where > 0. At 64x64 a 70x70
patch spans the whole field, so each logit judges the colorization as a whole, centred on its
own cell. ``width`` scales 64..512 (the generator's ``cgan.width``).

``cgan.disc_layers`` is pix2pix's ``n_layers_D`` (3 above): n stride-2 convolutions in all but
the last of the first n + 1 layers, channels 64 * min(2^i, 8). At 1 it is pix2pix's 16x16
PatchGAN, C_LReLU(4,2,64) - C(4,1,128)-B-LReLU - C(4,1,1), a 32x32 map of logits: the patch's
share of a 64x64 field (1/4) is that of pix2pix's 70x70 patch in its 256x256 images.
"""

import keras

from divcolor_tf import config as config_lib
from divcolor_tf.models import unet
from divcolor_tf.models import vae


def build_discriminator(cgan_config, field_size=64):
  """D(L, C).

  Returns:
    keras.Model 'cgan_discriminator': {'lightness' [B, S, S, 1] L in [0, 100], 'colour_field'
    [B, S, S, 2] ab/128} -> logits [B, S/2^n, S/2^n, 1] (n = cgan.disc_layers; 8x8 at 3).
  """
  width = float(config_lib.field(cgan_config, "cgan", "width"))
  layers = int(config_lib.field(cgan_config, "cgan", "disc_layers"))
  if not 1 <= layers <= 5:
    raise ValueError(f"cgan.disc_layers must be in 1..5 (pix2pix's n_layers_D), got {layers}")
  n = lambda c: unet.channels(width, c)
  plan = [(64 * min(2 ** i, 8), 2) for i in range(layers)] + [(64 * min(2 ** layers, 8), 1)]
  lightness = keras.Input((field_size, field_size, 1), name="lightness")
  colour_field = keras.Input((field_size, field_size, 2), name="colour_field")
  grey = keras.layers.Rescaling(1 / 50, offset=-1.0, name="disc_grey_scale")(lightness)
  x = keras.layers.Concatenate(name="disc_pair")([grey, colour_field])
  for i, (c, s) in enumerate(plan, start=1):
    x = vae.C(x, 4, s, n(c), None, f"disc_conv{i}")
    if i > 1:
      x = vae.B(x, f"disc_bn{i}")
    x = keras.layers.LeakyReLU(unet.LEAK, name=f"disc_lrelu{i}")(x)
  logits = vae.C(x, 4, 1, 1, None, "disc_logits")
  return keras.Model({"lightness": lightness, "colour_field": colour_field}, logits,
                     name="cgan_discriminator")
