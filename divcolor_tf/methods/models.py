"""Each method's Keras models as an export holds them: fresh, sized by the model's config, for
``exported.unpack`` to fill with the exported weights. [(model, workdir file, required)]: a
model that is not required (an encoder; ``divcolor-export --noencoder`` leaves it out) is
written only when the export holds all of its weights.
"""

from divcolor_tf import workdir as workdir_lib
from divcolor_tf.models import cvae as cvae_lib
from divcolor_tf.models import features
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf.models import unet
from divcolor_tf.models import vae


def ours(config):
  """The VAE's encoder (optional) and decoder, the feature trunk and the MDN."""
  field_size = config.data.field_size
  encoder = vae.build_encoder(config.vae, field_size=field_size)
  decoder = vae.build_decoder(config.vae, field_size=field_size, trunk_weights=False)  # as trunk's
  trunk = features.build_grey_trunk(config, weights=False)  # the export's weights are set next
  mdn = mdn_lib.build_mdn(config.mdn, latent_dim=vae.latent_size(encoder),
                          grey_features_shape=tuple(int(v) for v in trunk.output.shape[1:]))
  return [(decoder, workdir_lib.DECODER, True), (trunk, workdir_lib.TRUNK, True),
          (mdn, workdir_lib.MDN, True), (encoder, workdir_lib.ENCODER, False)]


def cvae(config):
  """The CVAE's decoder f(z, G) and its encoder (optional)."""
  field_size = config.data.field_size
  return [(cvae_lib.build_decoder(config.cvae, field_size), workdir_lib.CVAE_DECODER, True),
          (cvae_lib.build_encoder(config.cvae, field_size), workdir_lib.CVAE_ENCODER, False)]


def cgan(config):
  """The cGAN's U-Net generator (an export holds no discriminator)."""
  return [(unet.build_generator(config.cgan, config.data.field_size), workdir_lib.GENERATOR, True)]
