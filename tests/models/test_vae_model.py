"""Tests of divcolor_tf.models.vae against the paper's Section 3 / Figure 2 and "Ours+skip"."""

import math

import keras
import numpy as np
from PIL import Image
import pytest
from skimage import color as skcolor
import tensorflow as tf

from divcolor_tf import config as config_lib
from divcolor_tf.models import vae

D = "d"  # a channel count equal to the latent dimension, which the width multiplier leaves alone
AB = "ab"  # the colour field's 2 channels, also left alone

# The paper's lists, in the paper's order: (layer, kernel, stride, channels, activation, output
# side). Channels are the paper's width-1 numbers; activation is that of the Conv2D itself with
# relu_before_bn=True (conv -> ReLU -> B).
PAPER_ENCODER = [
    ("enc_conv1", 5, 2, 128, "relu", 32),
    ("enc_conv2", 5, 2, 256, "relu", 16),
    ("enc_conv3", 5, 2, 512, "relu", 8),
    ("enc_conv4", 4, 2, 1024, "relu", 4),
]
PAPER_ENCODER_FC = [("enc_fc_mean", D), ("enc_fc_log_variance", D)]  # F(d), fed 4x4x1024
PAPER_DECODER = [
    ("dec_conv1", 4, 1, 1024, "relu", 4),
    ("dec_conv2", 5, 1, 512, "relu", 8),
    ("dec_conv3", 5, 1, 256, "relu", 16),
    ("dec_conv4", 5, 1, 128, "relu", 32),
    ("dec_conv5", 5, 1, AB, "tanh", 64),
]
PAPER_DECODER_UPSAMPLING = [4, 2, 2, 2, 2]  # U(4), then U(2) four times
SKIP_GREY_ENCODER = [
    ("grey_conv1", 5, 2, 128, "relu", 32),
    ("grey_conv2", 5, 2, 256, "relu", 16),
    ("grey_conv3", 5, 2, 512, "relu", 8),
    ("grey_conv4", 4, 2, D, "linear", 4),  # the map that multiplies z: signed, see vae.py
]
# "+skip": (layer, output side, channels as a sum of decoder and grey parts).
SKIP_JOINS = [
    ("dec_grey_multiply", 4, (D,)),
    ("dec_grey_concat2", 8, (1024, 512)),
    ("dec_grey_concat3", 16, (512, 256)),
    ("dec_grey_concat4", 32, (256, 128)),
]


def vae_config(**overrides):
  c = config_lib.base_config().vae
  c.update(overrides)
  return c


def scaled(n, width, d):
  return {D: d, AB: 2}.get(n) or max(1, round(n * width))


def assert_convs(model, expected, width, d):
  convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
  assert [layer.name for layer in convs] == [row[0] for row in expected]
  for layer, (name, k, s, n, act, side) in zip(convs, expected):
    n = scaled(n, width, d)
    assert layer.kernel_size == (k, k), name
    assert layer.strides == (s, s), name
    assert layer.padding == "same", name
    assert layer.filters == n, name
    assert layer.activation.__name__ == act, name
    assert tuple(layer.output.shape) == (None, side, side, n), name


def signature(model):
  """The model's layers as the paper's symbols, in order (C:activation, B, A:activation, U, F)."""
  names = {keras.layers.BatchNormalization: "B", keras.layers.UpSampling2D: "U",
           keras.layers.Dense: "F", keras.layers.Flatten: "flatten",
           keras.layers.Reshape: "reshape", keras.layers.Dropout: "dropout",
           vae.RowDropout: "dropout"}  # Keras' Dropout, the global batch's mask
  out = []
  for layer in model.layers:
    if isinstance(layer, keras.layers.Conv2D):
      out.append("C:" + layer.activation.__name__)
    elif isinstance(layer, keras.layers.Activation):
      out.append("A:" + layer.activation.__name__)
    elif type(layer) in names:
      out.append(names[type(layer)])
    elif isinstance(layer, vae.ReflectPad):
      out.append("ReflectPad")
  return out


@pytest.fixture(scope="module")
def real_batch(lfw_ci):
  """Four real LFW faces at 64x64: colour_field [4, 64, 64, 2] (ab/128), lightness [4, 64, 64, 1]."""
  paths = sorted(lfw_ci.rglob("*.jpg"))[:4]
  rgb = np.stack([np.asarray(Image.open(p).convert("RGB").resize((64, 64), Image.BILINEAR))
                  for p in paths]) / 255.0
  lab = skcolor.rgb2lab(rgb).astype(np.float32)
  return {"colour_field": tf.constant(lab[..., 1:] / 128.0), "lightness": tf.constant(lab[..., :1])}


@pytest.fixture(scope="module")
def paper_models():
  return vae.build_vae(vae_config())  # width 1, d 64, skip False: Figure 2


@pytest.fixture(scope="module")
def skip_decoder():
  return vae.build_decoder(vae_config(skip=True))


# Architecture against the paper.


def test_encoder_is_the_papers(paper_models):
  encoder = paper_models.encoder
  assert encoder.input.name == "colour_field"
  assert tuple(encoder.input.shape) == (None, 64, 64, 2)
  assert_convs(encoder, PAPER_ENCODER, 1.0, 64)
  for name, n in PAPER_ENCODER_FC:
    layer = encoder.get_layer(name)
    assert layer.units == 64
    assert layer.kernel.shape == (4 * 4 * 1024, 64)
  assert [tuple(t.shape) for t in encoder.outputs] == [(None, 64), (None, 64)]
  assert encoder.output_names == ["enc_fc_mean", "enc_fc_log_variance"]
  assert not any(isinstance(layer, keras.layers.Dropout) for layer in encoder.layers)


def test_decoder_is_the_papers(paper_models):
  decoder = paper_models.decoder
  assert decoder.input.name == "z" and tuple(decoder.input.shape) == (None, 64)
  assert_convs(decoder, PAPER_DECODER, 1.0, 64)
  ups = [layer for layer in decoder.layers if isinstance(layer, keras.layers.UpSampling2D)]
  assert [layer.size for layer in ups] == [(f, f) for f in PAPER_DECODER_UPSAMPLING]
  assert all(layer.interpolation == "bilinear" for layer in ups)
  assert tuple(decoder.output.shape) == (None, 64, 64, 2)


@pytest.mark.parametrize("width", [0.5, 0.25])
def test_width_scales_channels_but_not_d(width):
  models = vae.build_vae(vae_config(width=width))
  assert_convs(models.encoder, PAPER_ENCODER, width, 64)
  assert_convs(models.decoder, PAPER_DECODER, width, 64)
  assert models.encoder.get_layer("enc_conv1").filters == 128 * width
  assert models.encoder.get_layer("enc_fc_mean").kernel.shape == (int(4 * 4 * 1024 * width), 64)
  assert tuple(models.decoder.input.shape) == (None, 64)


def test_skip_variant_grey_encoder_and_joins(skip_decoder):
  grey_encoder = skip_decoder.get_layer("grey_encoder")
  assert tuple(grey_encoder.input.shape) == (None, 64, 64, 1)
  assert_convs(grey_encoder, SKIP_GREY_ENCODER, 1.0, 64)
  assert [tuple(t.shape) for t in grey_encoder.outputs] == [
      (None, 32, 32, 128), (None, 16, 16, 256), (None, 8, 8, 512), (None, 4, 4, 64)]
  # The decoder's own convs are the paper's, now reading the joined maps.
  assert_convs(skip_decoder, PAPER_DECODER, 1.0, 64)
  for name, side, parts in SKIP_JOINS:
    channels = sum(scaled(n, 1.0, 64) for n in parts)
    assert tuple(skip_decoder.get_layer(name).output.shape) == (None, side, side, channels), name
  assert skip_decoder.get_layer("dec_conv2").kernel.shape == (5, 5, 1024 + 512, 512)
  assert sorted(skip_decoder.input) == ["lightness", "z"]


def test_skip_variant_at_half_width():
  decoder = vae.build_decoder(vae_config(skip=True, width=0.5, latent_dim=32))
  assert_convs(decoder.get_layer("grey_encoder"), SKIP_GREY_ENCODER, 0.5, 32)
  for name, side, parts in SKIP_JOINS:
    channels = sum(scaled(n, 0.5, 32) for n in parts)
    assert tuple(decoder.get_layer(name).output.shape) == (None, side, side, channels), name


ENCODER_RELU_THEN_BN = ["C:relu", "B"] * 4 + ["flatten", "F", "F"]
ENCODER_BN_THEN_RELU = ["C:linear", "B", "A:relu"] * 4 + ["flatten", "F", "F"]
DECODER_RELU_THEN_BN = ["reshape"] + ["U", "C:relu", "B"] * 4 + ["U", "C:tanh"]
DECODER_BN_THEN_RELU = ["reshape"] + ["U", "C:linear", "B", "A:relu"] * 4 + ["U", "C:tanh"]


@pytest.mark.parametrize("relu_before_bn, encoder_layers, decoder_layers", [
    (True, ENCODER_RELU_THEN_BN, DECODER_RELU_THEN_BN),
    (False, ENCODER_BN_THEN_RELU, DECODER_BN_THEN_RELU),
])
def test_batch_norm_placement(relu_before_bn, encoder_layers, decoder_layers):
  config = vae_config(width=1 / 16, relu_before_bn=relu_before_bn)
  models = vae.build_vae(config)
  assert signature(models.encoder) == encoder_layers
  assert signature(models.decoder) == decoder_layers
  grey = vae.build_grey_encoder(config)
  unit = ["C:relu", "B"] if relu_before_bn else ["C:linear", "B", "A:relu"]
  assert signature(grey) == unit * 3 + ["C:linear", "B"]  # the 4x4 map: no ReLU in either order


def test_bn_before_tanh_and_dropout_are_the_authors():
  config = vae_config(width=1 / 16, bn_before_tanh=True, encoder_dropout=0.3)
  models = vae.build_vae(config)
  assert signature(models.decoder)[-4:] == ["U", "C:linear", "B", "A:tanh"]
  assert models.decoder.layers[-1].name == "dec_tanh"
  assert signature(models.encoder)[-4:] == ["dropout", "flatten", "F", "F"]
  assert models.encoder.get_layer("enc_dropout").rate == pytest.approx(0.3)


def test_reflect_output_padding_only_changes_the_last_convolution():
  """output_padding="reflect": the same weights, a reflection-padded C_tanh(5,1,2) (vae.py)."""
  zero = vae.build_decoder(vae_config(width=1 / 16, latent_dim=8))
  reflect = vae.build_decoder(vae_config(width=1 / 16, latent_dim=8, output_padding="reflect"))
  assert vae_config().output_padding == "zero"  # the paper's default
  assert signature(reflect)[-3:] == ["U", "ReflectPad", "C:tanh"]
  assert reflect.get_layer("dec_conv5").padding == "valid"
  assert zero.count_params() == reflect.count_params()
  reflect.set_weights(zero.get_weights())
  z = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
  a, b = zero(z, training=False).numpy(), reflect(z, training=False).numpy()
  assert a.shape == b.shape == (4, 64, 64, 2)
  np.testing.assert_allclose(a[:, 2:-2, 2:-2], b[:, 2:-2, 2:-2], rtol=1e-5, atol=1e-6)
  assert np.abs(a[:, :2] - b[:, :2]).max() > 1e-6  # only the border differs
  with pytest.raises(ValueError, match="vae.output_padding"):
    vae.build_decoder(dict(vae_config().to_dict(), output_padding="same"))


@pytest.mark.parametrize("field, value", [
    ("width", 0.0), ("latent_dim", 0), ("latent_dim", 2.5), ("encoder_dropout", 1.0),
    ("log_variance_limit", -1.0)])
def test_bad_config_names_the_field(field, value):
  bad = dict(vae_config().to_dict(), **{field: value})  # a dict: ConfigDict would refuse 2.5
  with pytest.raises(ValueError, match=f"vae.{field}"):
    vae.build_encoder(bad)


def test_bad_field_size():
  with pytest.raises(ValueError, match="field_size"):
    vae.build_decoder(vae_config(), field_size=60)


# Running real colour fields through the networks.


def test_shapes_and_range_on_real_photos(real_batch):
  models = vae.build_vae(vae_config(width=1 / 16))
  mean, log_variance = models.encoder(real_batch["colour_field"], training=False)
  assert mean.shape == log_variance.shape == (4, 64)
  colour_field = models.decoder(mean, training=False)
  assert colour_field.shape == (4, 64, 64, 2)
  # Far outside the prior's typical set the tanh still bounds the colour field.
  far = 10.0 * tf.random.stateless_normal((4, 64), seed=(1, 2))
  for bn_before_tanh in (False, True):
    decoder = vae.build_decoder(vae_config(width=1 / 16, bn_before_tanh=bn_before_tanh))
    out = decoder(far, training=False).numpy()
    assert np.all(np.abs(out) <= 1.0) and out.std() > 0


def test_log_variance_limit_bounds_it_softly(real_batch, paper_models):
  """L tanh(raw / L): inside (-L, L), equal to the raw value near 0, off in the paper config."""
  assert not [l for l in paper_models.encoder.layers if "bound" in l.name]
  raw = vae.build_encoder(vae_config(width=1 / 16))
  bounded = vae.build_encoder(vae_config(width=1 / 16, log_variance_limit=5.0))
  bounded.set_weights(raw.get_weights())  # the bound layers have no weights
  kernel, bias = raw.get_layer("enc_fc_log_variance").get_weights()
  for model in (raw, bounded):  # a raw log-variance far beyond the limit, as BN can produce
    model.get_layer("enc_fc_log_variance").set_weights([kernel * 200.0, bias])
  x = real_batch["colour_field"]
  _, raw_lv = raw(x, training=True)
  _, lv = bounded(x, training=True)
  assert np.abs(raw_lv).max() > 20.0
  np.testing.assert_allclose(lv, 5.0 * np.tanh(raw_lv / 5.0), rtol=1e-5, atol=1e-5)
  assert np.abs(lv).max() <= 5.0  # tanh saturates to exactly 1 in float32 beyond ~9
  small = np.abs(raw_lv) < 0.5
  np.testing.assert_allclose(np.asarray(lv)[small], np.asarray(raw_lv)[small], atol=0.01)


def test_full_width_shapes(real_batch, paper_models):
  mean, log_variance = paper_models.encoder(real_batch["colour_field"][:2], training=False)
  assert mean.shape == log_variance.shape == (2, 64)
  assert paper_models.decoder(mean, training=False).shape == (2, 64, 64, 2)


def test_skip_decoder_reads_z_and_lightness(real_batch):
  decoder = vae.build_decoder(vae_config(width=1 / 16, skip=True, latent_dim=8))
  lightness = real_batch["lightness"]
  z = tf.random.stateless_normal((4, 8), seed=(3, 4))
  out = decoder({"z": z, "lightness": lightness}, training=False).numpy()
  assert out.shape == (4, 64, 64, 2) and np.all(np.abs(out) <= 1.0)
  # Another face's lightness with the same z, and another z with the same lightness, both change
  # the colour field: the decoder uses both inputs.
  other_l = decoder({"z": z, "lightness": lightness[::-1]}, training=False).numpy()
  other_z = decoder({"z": -z, "lightness": lightness}, training=False).numpy()
  assert np.abs(other_l - out).mean() > 1e-4
  assert np.abs(other_z - out).mean() > 1e-4


def test_grey_encoder_scales_lightness_and_its_4x4_map_is_signed(real_batch):
  grey_encoder = vae.build_grey_encoder(vae_config(width=1 / 16, latent_dim=8))
  scale = keras.Model(grey_encoder.input, grey_encoder.get_layer("grey_scale").output)
  ends = np.array([0.0, 50.0, 100.0], np.float32).reshape(3, 1, 1, 1) * np.ones((1, 64, 64, 1))
  np.testing.assert_allclose(scale(ends).numpy()[:, 0, 0, 0], [-1.0, 0.0, 1.0], atol=1e-6)
  grey4 = grey_encoder(real_batch["lightness"], training=False)[3].numpy()
  assert grey4.shape == (4, 4, 4, 8)
  assert (grey4 < 0).mean() > 0.1 and (grey4 > 0).mean() > 0.1  # no ReLU would zero z's codes


# The reparameterisation.

MEAN = np.array([0.5, -1.0, 0.0], np.float32)
STD = np.array([2.0, 0.5, 1.0], np.float32)
TRUNCATED_VARIANCE = 1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2))


def noise_source(kind):
  if kind == "int":
    return 1234
  if kind == "keras":
    return keras.random.SeedGenerator(1234)
  if kind == "tf":
    return tf.random.Generator.from_seed(1234)
  tf.random.set_seed(1234)
  return None


@pytest.mark.parametrize("kind", ["none", "int", "keras", "tf"])
@pytest.mark.parametrize("truncated", [False, True])
def test_sample_z_statistics(kind, truncated):
  n = 20000
  mean = np.tile(MEAN, (n, 1))
  log_variance = np.tile(np.log(STD ** 2), (n, 1))
  z = vae.sample_z(mean, log_variance, seed=noise_source(kind), truncated=truncated).numpy()
  assert z.shape == (n, 3) and z.dtype == np.float32
  variance = STD ** 2 * (TRUNCATED_VARIANCE if truncated else 1.0)
  # 5 standard errors: mean SE = std / sqrt(n); variance SE ~ variance * sqrt(2 / n).
  np.testing.assert_array_less(np.abs(z.mean(0) - MEAN), 5 * np.sqrt(variance / n))
  np.testing.assert_array_less(np.abs(z.var(0) / variance - 1), 5 * math.sqrt(2 / n))
  if truncated:
    assert np.all(np.abs(z - MEAN) <= 2 * STD * (1 + 1e-6))
  else:
    assert np.abs(z - MEAN).max() > 2.5 * STD.min()  # tails beyond the truncation exist


def test_sample_z_is_the_equation():
  mean = tf.constant([[0.3, -2.0]])
  log_variance = tf.constant([[math.log(9.0), math.log(0.01)]])
  eps = vae.sample_z(tf.zeros((1, 2)), tf.zeros((1, 2)), seed=7)  # same int seed: same eps
  z = vae.sample_z(mean, log_variance, seed=7)
  np.testing.assert_allclose(z.numpy(), (mean + [[3.0, 0.1]] * eps).numpy(), rtol=1e-6)
  with tf.GradientTape() as tape:
    tape.watch([mean, log_variance])
    z = vae.sample_z(mean, log_variance, seed=7)
  d_mean, d_log_variance = tape.gradient(z, [mean, log_variance])
  np.testing.assert_allclose(d_mean.numpy(), [[1.0, 1.0]])
  np.testing.assert_allclose(d_log_variance.numpy(), (0.5 * np.array([[3.0, 0.1]]) * eps),
                             rtol=1e-5)


def test_sample_z_bad_seed():
  with pytest.raises(TypeError, match="seed"):
    vae.sample_z(tf.zeros((1, 2)), tf.zeros((1, 2)), seed="7")


@pytest.mark.parametrize("kind", ["none", "keras", "tf"])
def test_sample_z_in_tf_function_draws_fresh_noise(kind):
  seed = noise_source(kind)
  step = tf.function(lambda m, v: vae.sample_z(m, v, seed=seed, truncated=True))
  mean, log_variance = tf.zeros((8, 4)), tf.zeros((8, 4))
  first, second = step(mean, log_variance).numpy(), step(mean, log_variance).numpy()
  assert first.shape == (8, 4) and np.all(np.abs(first) <= 2.0)
  assert not np.allclose(first, second)  # a training step must not reuse its noise


def test_sample_z_in_a_distributed_step():
  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  with strategy.scope():
    generator = keras.random.SeedGenerator(5)

  @tf.function
  def step(mean):
    def replica_fn(m):
      return (vae.sample_z(m, tf.zeros_like(m)), vae.sample_z(m, tf.zeros_like(m), seed=generator))
    return strategy.run(replica_fn, args=(mean,))

  default_noise, generator_noise = step(tf.fill((4, 3), 2.0))
  for z in (default_noise, generator_noise):
    z = strategy.experimental_local_results(z)[0].numpy()
    assert z.shape == (4, 3) and z.std() > 0.1 and abs(z.mean() - 2.0) < 2.0


# Saving.


# Keras' saver calls np.array on TF variables, which warns under numpy 2; not this project's code.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_keras_format_round_trip(tmp_path, real_batch):
  config = vae_config(width=1 / 16, latent_dim=8, skip=True, relu_before_bn=False,
                      bn_before_tanh=True, encoder_dropout=0.3, output_padding="reflect")
  models = vae.build_vae(config)
  mean, log_variance = models.encoder(real_batch["colour_field"], training=False)
  inputs = {"z": mean, "lightness": real_batch["lightness"]}
  for model, x in ((models.encoder, real_batch["colour_field"]), (models.decoder, inputs)):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)  # safe mode: no Lambda layers needed
    assert loaded.count_params() == model.count_params()
    for got, want in zip(tf.nest.flatten(loaded(x, training=False)),
                         tf.nest.flatten(model(x, training=False))):
      np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_a_mixed_precision_file_loads_in_the_process_policy(tmp_path, real_batch):
  """A stage trained under mixed_bfloat16 saves bf16 layers; loaded for colorizing, evaluating or
  exporting (float32 process) every layer computes in float32, with the file's weights; a trainer
  under the same mixed policy gets the file as saved."""
  from divcolor_tf import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  config = vae_config(width=1 / 16, latent_dim=8, skip=True)  # the skip decoder nests a model
  inputs = {"z": tf.reshape(tf.linspace(-1.0, 1.0, 4 * 8), (4, 8)),
            "lightness": tf.convert_to_tensor(real_batch["lightness"][:4])}
  keras.config.set_dtype_policy("mixed_bfloat16")
  try:
    trained = vae.build_decoder(config)
    trained.save(tmp_path / "decoder.keras")
    assert workdir_lib.load_keras(tmp_path, "decoder.keras").layers[-2].compute_dtype == "bfloat16"
  finally:
    keras.config.set_dtype_policy("float32")
  loaded = workdir_lib.load_keras(tmp_path, "decoder.keras")
  nested = [layer for m in loaded.layers if isinstance(m, keras.Model) for layer in m.layers]
  assert nested and {layer.compute_dtype for layer in loaded.layers + nested} == {"float32"}
  reference = vae.build_decoder(config)  # the same network built in float32, the file's weights
  reference.set_weights(trained.get_weights())
  np.testing.assert_array_equal(loaded(inputs).numpy(), reference(inputs).numpy())
  bf16 = trained(inputs).numpy()
  assert 0 < np.abs(bf16 - reference(inputs).numpy()).max() < 0.1  # it did compute in bf16


def test_parameter_counts():
  counts = vae.build_vae(vae_config(width=0.25)).parameter_counts()
  # The paper's topology at width 0.25 (a quarter-width VAE has 2.65 M).
  assert counts["total"] == 2_650_050 and counts["grey_encoder"] == 0
  counts = vae.build_vae(vae_config(width=0.25, skip=True)).parameter_counts()
  assert counts["grey_encoder"] > 0
  assert counts["total"] == counts["encoder"] + counts["decoder"]
