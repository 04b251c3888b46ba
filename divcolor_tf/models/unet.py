"""The cGAN baseline's generator (paper Section 5, Figure 3 right): Isola et al.'s U-Net (pix2pix).

Notation of models/vae.py, plus T(k, s, n), a k x k transposed convolution of stride s with n
channels ("same" padding), LReLU the leaky ReLU of slope 0.2 and D the dropout of rate 0.5
(``dropout``) that is ON at test time too, the cGAN's only noise. pix2pix's U-Net at 256x256 has
eight stride-2 steps; at the paper's 64x64 it has six, to a 1x1 bottleneck:

  encoder  (L - 50) / 50 -> C_LReLU(4,2,64) - C(4,2,128)-B-LReLU - C(4,2,256)-B-LReLU -
           C(4,2,512)-B-LReLU - C(4,2,512)-B-LReLU - C_ReLU(4,2,512)            (1x1, no B)
  decoder  T(4,2,512)-B-D-ReLU ++e5 - T(4,2,512)-B-D-ReLU ++e4 - T(4,2,512)-B-D-ReLU ++e3 -
           T(4,2,256)-B-ReLU ++e2 - T(4,2,128)-B-ReLU ++e1 - T_tanh(4,2,2)     (64x64x2, ab/128)

where ``++ei`` concatenates the encoder's map of the same size (the skip connections). As in
pix2pix: no B on the first encoder layer nor on the 1x1 bottleneck, dropout in the first three
decoder layers, tanh out. ``width`` scales 64..512.

The dropout masks are a stateless function of the model's second input, a seed [B, 2] (row 0 is
the batch's seed; each layer folds in its own index), so the trainer draws them from (run seed,
optimizer step), the same after a resume, and test time draws N masks per photo reproducibly
from a user's ``--seed``, the same from a workdir and from its export. Batch normalisation is
in inference mode at test time (its moving statistics); pix2pix normalised test photos with
their own batch's statistics, which makes a colorization depend on the other photos of its batch.
"""

import keras
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf.models import vae

LEAK = 0.2  # pix2pix's leaky ReLU slope
_STEPS = 6  # stride-2 steps from 64x64 to 1x1


@keras.saving.register_keras_serializable(package="divcolor_tf")
class SeededDropout(keras.layers.Layer):
  """D: dropout on in training and at test time alike, its mask drawn statelessly from a seed.

  Inputs [x, seed]: x [B, ...], seed int32 [B, 2] whose row 0 seeds the whole batch's mask
  (each layer folds in its ``salt``, so layers draw different masks; under a strategy the mask
  is the global batch's, cut to the replica's rows: ``vae.replica_rows``). Kept values are scaled by
  1 / (1 - rate), as Keras' and PyTorch's dropout do.
  """

  def __init__(self, rate, salt, **kwargs):
    super().__init__(**kwargs)
    self.rate, self.salt = float(rate), int(salt)

  def call(self, inputs):
    x, seed = inputs
    if self.rate <= 0:
      return x
    seed = tf.random.experimental.stateless_fold_in(tf.cast(seed[0], tf.int32), self.salt)
    keep = vae.replica_rows(  # the global batch's mask, this replica's rows
        lambda full: tf.random.stateless_uniform(full, seed=seed, dtype=tf.float32),
        tf.shape(x)) >= self.rate
    return tf.where(keep, x / (1.0 - self.rate), tf.zeros_like(x))

  def compute_output_shape(self, input_shape):
    return input_shape[0]

  def get_config(self):
    return {**super().get_config(), "rate": self.rate, "salt": self.salt}


def channels(width, n):
  """pix2pix's n channels scaled by ``width`` (rounded, at least 1); the discriminator's too."""
  return max(1, int(round(n * width)))


def build_generator(cgan_config, field_size=64):
  """The U-Net G(L) of the module docstring.

  Returns:
    keras.Model 'cgan_generator': {'lightness' [B, S, S, 1] L in [0, 100], 'seed' int32 [B, 2]}
    -> colour field [B, S, S, 2] ab/128 in [-1, 1].
  """
  width = float(config_lib.field(cgan_config, "cgan", "width"))
  rate = float(config_lib.field(cgan_config, "cgan", "dropout"))
  if not width > 0 or not 0 <= rate < 1:
    raise ValueError(f"cgan.width must be > 0 and cgan.dropout in [0, 1), got {width!r}, "
                     f"{rate!r}")
  if field_size != 2 ** _STEPS:
    raise ValueError(f"the cGAN's U-Net is laid out for 64x64 colour fields, got {field_size}")
  n = lambda c: channels(width, c)
  lightness = keras.Input((field_size, field_size, 1), name="lightness")
  seed = keras.Input((2,), dtype="int32", name="seed")
  x = keras.layers.Rescaling(1 / 50, offset=-1.0, name="gen_grey_scale")(lightness)
  skips = []
  for i, c in enumerate((64, 128, 256, 512, 512), start=1):
    x = vae.C(x, 4, 2, n(c), None, f"gen_enc_conv{i}")
    if i > 1:  # pix2pix: no normalisation on the first layer
      x = vae.B(x, f"gen_enc_bn{i}")
    x = keras.layers.LeakyReLU(LEAK, name=f"gen_enc_lrelu{i}")(x)
    skips.append(x)
  x = vae.C(x, 4, 2, n(512), "relu", f"gen_enc_conv{_STEPS}")  # the 1x1 bottleneck, no B
  for i, c in enumerate((512, 512, 512, 256, 128), start=1):
    x = keras.layers.Conv2DTranspose(n(c), 4, strides=2, padding="same",
                                     name=f"gen_dec_tconv{i}")(x)
    x = vae.B(x, f"gen_dec_bn{i}")
    if i <= 3:  # pix2pix: dropout in the first three decoder layers
      x = SeededDropout(rate, salt=i, name=f"gen_dec_dropout{i}")([x, seed])
    x = keras.layers.Activation("relu", name=f"gen_dec_relu{i}")(x)
    x = keras.layers.Concatenate(name=f"gen_dec_concat{i}")([x, skips[-i]])
  colour_field = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", activation="tanh",
                                              name="gen_dec_tconv6")(x)
  return keras.Model({"lightness": lightness, "seed": seed}, colour_field, name="cgan_generator")


def generate(generator, lightness, seed, training=False):
  """G(L) with the dropout masks of ``seed`` (int32 [2]), as float32 [B, S, S, 2]."""
  seeds = tf.broadcast_to(tf.cast(seed, tf.int32)[None], tf.stack([tf.shape(lightness)[0], 2]))
  return tf.cast(generator({"lightness": lightness, "seed": seeds}, training=training), tf.float32)
