"""Tiny untrained models standing in for trained ones (shared by the colorize and export tests).

What the tests check is the pipeline around the models, so the models only need the right
shapes. Their last layers are scaled so that the decoded colours are strong and differ between
components, and the mixture weights are far from uniform: otherwise an untrained decoder's
near-zero ab would make the lightness, ordering and parity checks pass vacuously.
"""

import numpy as np
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf import data
from divcolor_tf.data import stats as stats_lib
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.models import features
from divcolor_tf.models import mdn as mdn_lib
from divcolor_tf.models import vae


def tiny_config(repo_root, lfw_ci, *variants):
  """configs/lfw.py:tiny[,variants] with the lfw_ci photos (conftest) as training data."""
  return config_lib.load(
      str(repo_root / "configs" / "lfw.py") + ":" + ",".join(("tiny",) + variants),
      [f"data.train={lfw_ci}"])


def scale(layer, kernel=1.0, bias=None):
  w, b = layer.get_weights()
  layer.set_weights([w * kernel, b if bias is None else np.asarray(bias, b.dtype)])


def build(config):
  """Tiny trunk, MDN and decoder, with strong colours and a non-uniform mixture (module doc)."""
  tf.keras.utils.set_random_seed(0)
  decoder = vae.build_decoder(config.vae, config.data.field_size)
  trunk = features.build_trunk(features.build_feature_network(
      config.features, grey_size=config.data.grey_size))
  mdn = mdn_lib.build_mdn(config.mdn, config.vae.latent_dim, trunk.output.shape[1:])
  scale(decoder.get_layer("dec_conv5"), 2e4, [0.4, 0.6])  # saturated, z-dependent ab
  scale(mdn.get_layer("mdn_fc_logits"), 30.0, [0.0, 1.5, -0.5, 1.0, 0.3, -1.0, 2.0, 0.7])
  scale(mdn.get_layer("mdn_fc_means"), 30.0)  # components far apart in z
  return trunk, mdn, decoder


def write_model_dir(workdir, models, config, lfw_ci):
  """The model directory layout of the three trainers, written from in-memory models."""
  trunk, mdn, decoder = models
  config_lib.save_resolved(config, str(workdir))
  for model, name in ((decoder, workdir_lib.DECODER), (trunk, workdir_lib.TRUNK),
                      (mdn, workdir_lib.MDN)):
    (workdir / name).parent.mkdir(exist_ok=True)
    model.save(workdir / name)
  stats_lib.compute(data.list_images(str(lfw_ci))[:16], n_components=4).save(
      str(workdir / workdir_lib.STATS))
  return workdir
