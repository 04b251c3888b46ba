"""The paper's CVAE baseline (Sections 5 and 6.3, Figure 3 left), in the notation of models/vae.py.

Sohn et al.'s conditional VAE: an encoder Q(z | C, G) and a decoder f(z, G), trained with KL + L2;
at test time the encoder is dropped and z ~ N(0, I).

Colour encoder Q(z | C, G), 64x64 colour field and lightness -> (mean, log-variance) of z, each [d]:

  [C, (L - 50) / 50]  (64x64x3)  ->  C_ReLU(5,2,128)-B-C_ReLU(5,2,256)-B-C_ReLU(5,2,512)-B-
                                     C_ReLU(4,2,1024)-B-F(d)

"the color image encoder and the decoder are same as the VAE (Section 6.1)"; the paper says the
encoder takes G as well but not how, so the lightness enters as a third input channel beside the
two ab channels (the cheapest way to give every encoder unit both). Its F(d) heads and the
optional log-variance bound are the VAE's (``log_variance_limit``).

Grey encoder (Section 6.3), 64x64 lightness -> 4x4xd:

  C_ReLU(5,2,128)-B-C_ReLU(5,2,256)-B-C_ReLU(5,2,512)-B-C_ReLU(4,2,d)

Decoder f(z, G): z replicated over the 4x4 grid and multiplied with the grey encoder's 4x4xd map,
then the VAE's decoder with skip connections from the grey encoder's 32, 16 and 8 maps, "similar
to [Isola et al.]". That is exactly the "Ours+skip" decoder of models/vae.py (the paper: "the
grey-level encoder architecture is the same as CVAE"), built here with ``grey_last_relu`` on, as
the paper writes the grey encoder's last layer (Ours+skip here drops that ReLU; models/vae.py
says why). The CVAE's config section is ``cvae``; :func:`vae_config` maps it onto the VAE's
builders, so the two baselines of the paper that share a decoder share its code.
"""

import functools

import keras
import ml_collections

from divcolor_tf import config as config_lib
from divcolor_tf.models import vae


def vae_config(cvae_config):
  """The ``vae`` section that builds the CVAE's networks with models/vae.py's builders."""
  field = functools.partial(config_lib.field, cvae_config, "cvae")
  c = ml_collections.ConfigDict(dict(config_lib.base_config().vae))
  c.latent_dim = int(field("latent_dim"))
  c.width = float(field("width"))
  c.skip = True  # f(z, G): the grey encoder, z multiplied into its 4x4 map, the skips
  c.grey_last_relu = bool(field("grey_last_relu"))
  c.log_variance_limit = float(field("log_variance_limit"))
  c.output_padding = str(field("output_padding"))
  return c


def build_encoder(cvae_config, field_size=64):
  """Q(z | C, G).

  Returns:
    keras.Model 'cvae_encoder': inputs {'colour_field' [B, S, S, 2] ab/128, 'lightness'
    [B, S, S, 1] L in [0, 100]} -> [mean [B, d], log_variance [B, d]].
  """
  colour_field = keras.Input((field_size, field_size, 2), name="colour_field")
  lightness = keras.Input((field_size, field_size, 1), name="lightness")
  grey = keras.layers.Rescaling(1 / 50, offset=-1.0, name="enc_grey_scale")(lightness)
  x = keras.layers.Concatenate(name="enc_colour_and_grey")([colour_field, grey])
  mean, log_variance = vae.encoder_layers(x, vae_config(cvae_config), field_size)
  return keras.Model({"colour_field": colour_field, "lightness": lightness},
                     [mean, log_variance], name="cvae_encoder")


def build_decoder(cvae_config, field_size=64):
  """f(z, G): the "+skip" decoder with the paper's CVAE grey encoder (module docstring).

  Returns:
    keras.Model 'vae_decoder': {'z' [B, d], 'lightness' [B, S, S, 1]} -> [B, S, S, 2] ab/128.
  """
  return vae.build_decoder(vae_config(cvae_config), field_size)
