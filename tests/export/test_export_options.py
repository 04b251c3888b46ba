"""The SavedModel export's size options: float16 weights with float32 computation
(``export_saved_model(..., weights="float16")``, ``divcolor-export --weights float16``) and the
export without the VAE encoder (``encoder=False``, ``--noencoder``).

Tiny untrained models (tests/tiny_models.py) plus a tiny VAE encoder stand in for a trained
model. A float16 export is compared twice: with a float32 Colorizer over the same models holding
the float16-rounded weights (what it must compute, to float32 round-off), and with the original
float32 Colorizer (how far the rounding moves the outputs; the tiny decoder's 2e4 gain on its
last layer magnifies it, as for TFLite fp16 in tests/export/test_export.py).
"""

import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from conftest import console_script
from conftest import finish_tool as _finish
from conftest import start_tool as _start
import tiny_models
from divcolor_tf import colorize
from divcolor_tf import data
from divcolor_tf import export
from divcolor_tf import exported
from divcolor_tf import training
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.export import weights as weights_lib
from divcolor_tf.inference import clustered
from divcolor_tf.models import cvae
from divcolor_tf.models import unet
from divcolor_tf.models import vae

M, D, F = 8, 8, 64  # the tiny config: 8 components, d = 8, 64x64 colour fields
SHARD_BYTES = 200_000  # several shards for the tiny model's variables
# Float16 export vs the float32 Colorizer over the float16-rounded weights: the same float32
# computation (test_export.py's SavedModel tolerances).
SAME = {"levels": 1, "ab": 2e-4, "weights": 1e-5, "means": 1e-6}
# Float16 export vs the original float32 Colorizer: test_export.py's TFLITE_TOLERANCE["fp16"],
# the same rounding of the weights. Measured on these tiny models (and printed): ab max 3.3e-2,
# mean 8.3e-4; colorizations mean 0.06 levels; weights 1.9e-5; means 1.8e-5 (|means| <= 0.02).
# Against the rounded weights every figure was 0 (means 2e-9).
ROUNDED = {"levels_mean": 0.5, "ab": 0.2, "ab_mean": 5e-3, "weights": 1e-3, "means": 1e-4}
# The ops of a float16 export that touch float16 at all: the variables, their reads, the Cast to
# float32 after each read, and saving / restoring. Any other (a Conv2D, a MatMul) would compute
# in float16.
FLOAT16_OPS = {"VarHandleOp", "ReadVariableOp", "AssignVariableOp", "Identity", "Cast",
               "RestoreV2", "SaveV2"}
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


def _half(value):
  return np.asarray(value).astype(np.float16).astype(np.asarray(value).dtype)


def _twin(models, fresh):
  """``fresh`` models (the same architectures) given the float16-rounded weights of ``models``."""
  for twin, model in zip(fresh, models):
    twin.set_weights([_half(w) for w in model.get_weights()])
  return fresh


@pytest.fixture(scope="module")
def full(colorizer, tiny_config):
  """The tiny Colorizer with a VAE encoder as well (the ``encode`` signature)."""
  tf.keras.utils.set_random_seed(1)
  encoder = vae.build_encoder(tiny_config.vae, field_size=tiny_config.data.field_size)
  return colorize.Colorizer(colorizer.trunk, colorizer.mdn, colorizer.decoder, tiny_config,
                            encoder=encoder)


@pytest.fixture(scope="module")
def rounded(full, tiny_config):
  """``full`` over float32 models holding its float16-rounded weights."""
  fresh = list(tiny_models.build(tiny_config)) + [
      vae.build_encoder(tiny_config.vae, field_size=tiny_config.data.field_size)]
  trunk, mdn, decoder, encoder = _twin((full.trunk, full.mdn, full.decoder, full.encoder), fresh)
  return colorize.Colorizer(trunk, mdn, decoder, tiny_config, encoder=encoder)


@pytest.fixture(scope="module")
def photos(imagenet_ci, lfw_ci):
  return {"imagenet": data.load_rgb(sorted(imagenet_ci.glob("*.JPEG"))[0]),
          "face": data.load_rgb(sorted(lfw_ci.rglob("*.jpg"))[0])}


@pytest.fixture(scope="module")
def exports(full, tmp_path_factory):
  """The float32 export, the float16 one and the float32 one without the encoder."""
  out = tmp_path_factory.mktemp("export_options")
  options = {"float32": {}, "float16": {"weights": "float16"}, "noencoder": {"encoder": False}}
  return {name: export.export_saved_model(full, out / name, max_shard_bytes=SHARD_BYTES,
                                          **kwargs)
          for name, kwargs in options.items()}


@pytest.fixture(scope="module")
def model_dir(full, tiny_config, lfw_ci, tmp_path_factory):
  """A model directory with encoder.keras, for the command line."""
  workdir = tiny_models.write_model_dir(tmp_path_factory.mktemp("model"),
                                        (full.trunk, full.mdn, full.decoder), tiny_config, lfw_ci)
  full.encoder.save(workdir / workdir_lib.ENCODER)
  return workdir


@pytest.fixture(scope="module")
def tools(exports, photos, model_dir, tmp_path_factory, repo_root):
  """The command lines, started together (they run while the in-process tests go on)."""
  tmp = tmp_path_factory.mktemp("tools")
  np.save(tmp / "image.npy", photos["imagenet"][None])
  out = tmp / "saved_models" / "divcolor_tiny"
  started = {
      "saved_model_cli": _start([
          SAVED_MODEL_CLI, "run", "--dir", exports["float16"], "--tag_set", "serve",
          "--signature_def", "serving_default", "--inputs", f"image={tmp / 'image.npy'}",
          "--outdir", str(tmp / "cli_out")]),
      "evaluate_vae": _start(console_script("divcolor-evaluate-vae") + [
          "--workdir", os.path.dirname(exports["noencoder"]), "--images", str(tmp)]),
      "export": _start(console_script("divcolor-export") + [
          "--model", str(model_dir), "--out", str(out), "--weights", "float16", "--noencoder"]),
      "bad_weights": _start(console_script("divcolor-export") + [
          "--model", str(model_dir), "--out", str(tmp / "x"), "--weights", "bfloat16"]),
      # A baseline has no TFLite files: refused before its SavedModel is written (issue 47 row 21).
      "baseline_tflite": _start(console_script("divcolor-export") + [
          "--model", os.path.join(repo_root, "saved_models", "cvae_lfw", "1"), "--out",
          str(tmp / "cvae"), "--tflite", "fp16"]),
  }
  yield {"tmp": tmp, "out": out, "model_dir": model_dir, **started}
  for process in started.values():
    if process.poll() is None:
      process.kill()
      process.communicate()


def _variable_bytes(path):
  folder = os.path.join(path, "variables")
  return {name: os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)
          if ".data-" in name}


def _metadata(path):
  with open(os.path.join(path, "assets.extra", "export.json")) as f:
    return json.load(f)


def _assert_close(got, expected, tolerance, what):
  """colorizations, ab, weights of a serving_default call against a Colorization."""
  levels = np.abs(got["colorizations"].astype(int) - expected.colorizations)
  ab = np.abs(got["ab"] - expected.ab)
  weights = np.abs(got["weights"] - expected.weights).max()
  print(f"{what}: colorizations max {levels.max()} (mean {levels.mean():.3f}) levels, ab max "
        f"{ab.max():.2e} (mean {ab.mean():.2e}), weights {weights:.2e}")
  if "levels" in tolerance:
    assert levels.max() <= tolerance["levels"], what
  if "levels_mean" in tolerance:
    assert levels.mean() <= tolerance["levels_mean"], what
  assert ab.max() <= tolerance["ab"] and ab.mean() <= tolerance.get("ab_mean", 1.0), what
  assert weights <= tolerance["weights"], what


# Float16 weights.

def test_float16_signatures_compute_in_float32_with_the_rounded_weights(exports, full, rounded,
                                                                        photos):
  """serving_default, colorize_bytes, mixture, grey_mixture, decode and encode of the float16
  export: the float32 pipeline over the float16-rounded weights, and near the original float32
  pipeline."""
  served = tf.saved_model.load(exports["float16"]).signatures
  for name, photo in photos.items():
    out = {k: v.numpy()[0] for k, v in served["serving_default"](
        image=tf.constant(photo[None])).items()}
    _assert_close(out, rounded.colorize(photo, k=M), SAME, f"{name}: vs rounded weights")
    original = full.colorize(photo, k=M)
    _assert_close(out, original, ROUNDED, f"{name}: vs float32 weights")
    mixture = served["mixture"](image=tf.constant(photo[None]))
    lightness = full.lightness(photo[None].astype(np.float32) / 255)
    grey = tf.image.resize(lightness, [full.grey_size] * 2, antialias=True)
    for reference, tolerance in ((rounded, SAME), (full, ROUNDED)):
      means, logits = reference.mixture(grey)
      print(f"{name}: mixture means max {np.abs(mixture['means'] - means).max():.2e} from the "
            f"{'rounded' if reference is rounded else 'float32'} weights' (|means| <= "
            f"{np.abs(means.numpy()).max():.2g})")
      np.testing.assert_allclose(mixture["means"], means, rtol=0, atol=tolerance["means"])
      np.testing.assert_allclose(mixture["weights"], tf.nn.softmax(logits),
                                 atol=tolerance["weights"])
    grey_mixture = served["grey_mixture"](grey=grey)
    np.testing.assert_allclose(grey_mixture["means"], rounded.mixture(grey)[0],
                               atol=SAME["means"])
    z = tf.constant(original.z)
    decoded = served["decode"](z=z)["ab"].numpy()
    np.testing.assert_allclose(decoded, rounded.decoder(z, training=False), atol=SAME["ab"])
    np.testing.assert_allclose(decoded, full.decoder(z, training=False), atol=ROUNDED["ab"])
    # colorize_bytes reads the copies inside map_fn's loop body (a graph of its own).
    png = served["colorize_bytes"](image_bytes=tf.stack([tf.io.encode_png(photo)]))
    expected = rounded.colorize(photo, k=M)
    np.testing.assert_allclose(png["weights"][0], expected.weights, atol=SAME["weights"])
    first = tf.io.decode_png(png["png_bytes"][0, 0]).numpy().astype(int)
    assert np.abs(first - expected.colorizations[0]).max() <= SAME["levels"], name
  field = tf.random.stateless_uniform([3, F, F, 2], seed=[1, 2], minval=-0.5, maxval=0.5)
  np.testing.assert_allclose(served["encode"](colour_field=field)["mean"], rounded.encode(field),
                             atol=1e-5)
  assert set(export.SIGNATURES + export.OPTIONAL_SIGNATURES) <= set(served)


def test_float16_export_stores_half_the_bytes_in_float16_and_computes_in_float32(exports, full):
  float32, float16 = (exported.export_variables(exports[n]) for n in ("float32", "float16"))
  # The same variables by the same Keras paths, float16, holding the rounded float32 values.
  assert set(float16) == set(float32) and len(float16) > 100
  assert {str(v.dtype) for v in float16.values()} == {"float16"}
  assert {str(v.dtype) for v in float32.values()} == {"float32"}
  for path, value in float32.items():
    np.testing.assert_array_equal(float16[path], value.astype(np.float16), err_msg=path)
  # Half the bytes, each weight once, in whole-tensor shards under the cap.
  params = sum(m.count_params() for m in weights_lib.keras_models(full))
  sizes = {n: _variable_bytes(exports[n]) for n in ("float32", "float16")}
  assert len(sizes["float16"]) > 1 and max(sizes["float16"].values()) <= SHARD_BYTES
  assert 2 * params <= sum(sizes["float16"].values()) < 1.05 * 2 * params + 10_000
  assert sum(sizes["float16"].values()) < 0.52 * sum(sizes["float32"].values())
  # Only the variables, their reads and the casts after them are float16 in the graph.
  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(exports["float16"], "saved_model.pb"), "rb") as f:
    saved.ParseFromString(f.read())
  graph = saved.meta_graphs[0].graph_def
  touching = {}
  for node in list(graph.node) + [n for fn in graph.library.function for n in fn.node_def]:
    for key, attr in node.attr.items():
      if attr.type == types_pb2.DT_HALF or types_pb2.DT_HALF in attr.list.type:
        touching.setdefault(node.op, set()).add(key)
        if node.op == "Cast":
          assert key == "SrcT" and node.attr["DstT"].type == types_pb2.DT_FLOAT, node
  assert set(touching) <= FLOAT16_OPS and {"ReadVariableOp", "Cast"} <= set(touching), touching
  # The signatures' inputs and outputs are the float32 export's.
  signatures = {n: tf.saved_model.load(exports[n]).signatures for n in ("float32", "float16")}
  for name, fn in signatures["float32"].items():
    other = signatures["float16"][name]
    assert fn.structured_input_signature == other.structured_input_signature, name
    assert fn.structured_outputs == other.structured_outputs, name
  assert _metadata(exports["float16"])["weights"] == "float16"
  assert "weights" not in _metadata(exports["float32"])  # the default's export.json as it was
  assert "encoder" not in _metadata(exports["float32"])


def test_the_session_loader_restores_every_float16_variable(exports, rounded, photos, tools):
  """TF Serving's path: the tf.compat.v1 session loader and ``saved_model_cli run``."""
  photo = photos["imagenet"]
  expected = rounded.colorize(photo, k=M)
  field = tf.random.stateless_uniform([2, F, F, 2], seed=[3, 4], minval=-0.5, maxval=0.5).numpy()
  encoded = rounded.encode(field).numpy()
  decoded = rounded.decoder(expected.z, training=False).numpy()
  with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
    meta_graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], exports["float16"])
    signatures = meta_graph.signature_def
    halves = [op for op in graph.get_operations()
              if op.type == "VarHandleOp" and op.get_attr("dtype") == tf.float16]
    assert len(halves) == len(exported.export_variables(exports["float16"]))

    def run(name, **inputs):
      signature = signatures[name]
      feed = {signature.inputs[key].name: value for key, value in inputs.items()}
      return sess.run({k: v.name for k, v in signature.outputs.items()}, feed)

    served = run("serving_default", image=photo[None])
    out = {"decode": run("decode", z=expected.z)["ab"],
           "encode": run("encode", colour_field=field)["mean"],
           "mixture": run("mixture", image=photo[None])}
  _assert_close({k: v[0] for k, v in served.items()}, expected, SAME, "session loader")
  np.testing.assert_allclose(out["decode"], decoded, atol=SAME["ab"])
  np.testing.assert_allclose(out["encode"], encoded, atol=1e-5)
  np.testing.assert_allclose(out["mixture"]["weights"][0][expected.components], expected.weights,
                             atol=SAME["weights"])
  done = _finish(tools["saved_model_cli"])
  assert done.returncode == 0, done.stderr
  cli = {name: np.load(tools["tmp"] / "cli_out" / f"{name}.npy")[0]
         for name in ("colorizations", "ab", "weights")}
  _assert_close(cli, expected, SAME, "saved_model_cli run")


def test_a_float16_export_unpacks_into_float32_models_of_the_rounded_weights(exports, full,
                                                                             tmp_path):
  workdir = exported.unpack(exports["float16"], str(tmp_path / "unpacked"))
  for name, model in ((workdir_lib.ENCODER, full.encoder), (workdir_lib.DECODER, full.decoder),
                      (workdir_lib.TRUNK, full.trunk), (workdir_lib.MDN, full.mdn)):
    unpacked = workdir_lib.load_keras(workdir, name)
    originals = {w.path: w.numpy() for w in model.weights}
    assert len(unpacked.weights) == len(originals) > 0
    for weight in unpacked.weights:
      assert weight.dtype == "float32", weight.path
      np.testing.assert_array_equal(weight.numpy(), _half(originals[weight.path]),
                                    err_msg=weight.path)
  # config.init_from reads it alike: fresh float32 models take the rounded weights.
  fresh = vae.build_decoder(full.config.vae, F)
  assigned, missing = exported.initialize([fresh], exports["float16"], "vae")
  assert assigned == len(fresh.weights) and not missing
  for weight in fresh.weights:
    assert weight.dtype == "float32"
  np.testing.assert_array_equal(fresh.get_layer("dec_conv5").kernel.numpy(),
                                _half(full.decoder.get_layer("dec_conv5").kernel.numpy()))


def test_float16_weights_keep_out_of_range_variables_in_float32():
  """A weight beyond float16's range (65504) would be inf: its variable stays float32, and a
  model read through the scope computes with the others rounded."""
  inputs = keras.Input((3,))
  model = keras.Model(inputs, keras.layers.Dense(2, name="dense_big")(
      keras.layers.Dense(4, name="dense_small")(inputs)))
  big = model.get_layer("dense_big")
  big.kernel.assign(np.full((4, 2), 1e5, np.float32))
  stored = weights_lib.Float16Weights([model])
  assert stored.kept == [big.kernel.path]
  assert {v.dtype for v in stored.copies.values()} == {tf.float16} and len(stored.copies) == 3
  x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
  got = tf.function(stored.wrap(lambda t: model(t, training=False)))(x)
  small = model.get_layer("dense_small")
  hidden = x @ _half(small.kernel.numpy()) + _half(small.bias.numpy())
  expected = hidden @ big.kernel.numpy() + _half(big.bias.numpy())
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  assert not np.allclose(got, model(x))  # the rounding is there to see


def test_float16_weights_refuse_a_float_variable_of_no_exported_model():
  """A float variable without a copy would be served otherwise than the export says: another
  model's in float32, one created while tracing as its initializer's values (a constant)."""
  inputs = keras.Input((3,))
  given = keras.Model(inputs, keras.layers.Dense(2, name="dense_given")(inputs))
  stored = weights_lib.Float16Weights([given])
  x = np.zeros((1, 3), np.float32)
  other = keras.layers.Dense(2, name="dense_other")
  other.build((None, 2))
  lazy = keras.layers.Dense(2, name="dense_lazy")  # built while tracing
  for layer in (other, lazy):
    traced = tf.function(stored.wrap(lambda t, layer=layer: layer(given(t, training=False))))
    with pytest.raises(ValueError, match=f"{layer.name}/kernel is read by a signature but "
                       "belongs to none of the exported models"):
      traced(x)


@pytest.mark.parametrize("method", ["cvae", "cgan"])
def test_a_baselines_float16_export_is_its_colorizer_over_the_rounded_weights(method, tiny_config,
                                                                              photos, tmp_path):
  def build():
    tf.keras.utils.set_random_seed(2)
    if method == "cvae":
      return clustered.CVAEColorizer(cvae.build_decoder(tiny_config.cvae, F), tiny_config)
    return clustered.CGANColorizer(unet.build_generator(tiny_config.cgan, F), tiny_config)

  original, rounded = build(), build()
  _twin(weights_lib.keras_models(original), weights_lib.keras_models(rounded))
  path = export.export_saved_model(original, tmp_path / method, weights="float16")
  assert {str(v.dtype) for v in exported.export_variables(path).values()} == {"float16"}
  photo = photos["face"]
  k = original.num_components
  out = {n: v.numpy()[0] for n, v in tf.saved_model.load(path).signatures["serving_default"](
      image=tf.constant(photo[None])).items()}
  _assert_close(out, rounded.colorize(photo, k=k), SAME, f"{method}: vs rounded weights")
  assert _metadata(path)["method"] == method and _metadata(path)["weights"] == "float16"
  # divcolor-evaluate-vae's refusal names a baseline's export as such, not as a --noencoder one.
  with pytest.raises(workdir_lib.MissingStageError, match=f"an export of the {method} baseline"):
    exported.workdir_for(path, need_encoder=True)


def test_export_refuses_unknown_weights(full, tmp_path):
  with pytest.raises(ValueError, match="weights must be one of float32, float16"):
    export.export_saved_model(full, tmp_path, weights="bfloat16")
  assert not os.listdir(tmp_path)


# The export without the encoder.

def test_an_export_without_the_encoder_has_no_encode_signature_nor_its_weights(exports, full):
  served = tf.saved_model.load(exports["noencoder"]).signatures
  assert "encode" not in served and set(export.SIGNATURES) <= set(served)
  assert "encode" in tf.saved_model.load(exports["float32"]).signatures
  assert not exported.has_encoder(exports["noencoder"])
  assert exported.has_encoder(exports["float32"])
  variables = exported.export_variables(exports["noencoder"])
  encoder_paths = {w.path for w in full.encoder.weights}
  assert set(variables) == set(exported.export_variables(exports["float32"])) - encoder_paths
  encoder_bytes = 4 * full.encoder.count_params()
  assert (sum(_variable_bytes(exports["float32"]).values())
          - sum(_variable_bytes(exports["noencoder"]).values())) >= encoder_bytes
  assert _metadata(exports["noencoder"])["encoder"] is False
  # It still colorizes as the float32 export does, and unpacks without encoder.keras.
  unpacked = exported.workdir_for(exports["noencoder"])
  assert not os.path.exists(workdir_lib.path(unpacked, workdir_lib.ENCODER))
  assert os.path.exists(workdir_lib.path(unpacked, workdir_lib.DECODER))
  with_encoder = exported.workdir_for(exports["float32"], need_encoder=True)
  assert os.path.exists(workdir_lib.path(with_encoder, workdir_lib.ENCODER))


def test_the_vae_stage_does_not_start_from_an_export_without_the_encoder(exports, full):
  """config.init_from: a trained decoder under a fresh encoder is no fine-tune of the VAE, so the
  VAE stage refuses such a source in one line and assigns nothing; other stages take it."""
  encoder = vae.build_encoder(full.config.vae, field_size=F)
  decoder = vae.build_decoder(full.config.vae, F)
  fresh = [w.numpy() for w in decoder.weights]
  initialize = training.init_from({"init_from": exports["noencoder"]}, [encoder, decoder], "VAE",
                                  whole=[encoder])
  with pytest.raises(ValueError, match="holds no vae_encoder .*--noencoder") as e:
    initialize()
  assert "\n" not in str(e.value) and str(e.value).startswith(exports["noencoder"])
  for weight, value in zip(decoder.weights, fresh):
    np.testing.assert_array_equal(weight.numpy(), value, err_msg=weight.path)
  _, mdn, _ = tiny_models.build(full.config)
  assigned, missing = exported.initialize([mdn], exports["noencoder"], "MDN")
  assert assigned == len(mdn.weights) and not missing
  assigned, missing = exported.initialize([encoder, decoder], exports["float32"], "VAE",
                                          [encoder])
  assert not missing and assigned == len(encoder.weights) + len(decoder.weights)


def test_evaluate_vae_on_an_export_without_the_encoder_says_so_in_one_line(exports, tools):
  done = _finish(tools["evaluate_vae"])
  assert done.returncode == 1
  lines = done.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith("divcolor-evaluate-vae: "), done.stderr
  assert exports["noencoder"] in lines[0] and "without the VAE encoder" in lines[0]


# The command line.

def test_export_cli_writes_float16_weights_without_the_encoder(tools):
  done = _finish(tools["export"])
  assert done.returncode == 0, done.stderr
  path = str(tools["out"] / "1")
  meta = _metadata(path)
  assert meta["weights"] == "float16" and meta["encoder"] is False
  variables = exported.export_variables(path)
  assert {str(v.dtype) for v in variables.values()} == {"float16"}
  assert not any(name.startswith("enc_") for name in variables)
  assert "encode" not in tf.saved_model.load(path).signatures
  # The colour statistics in float32 (half the file), the workdir's values rounded.
  with np.load(os.path.join(path, "assets.extra", "stats.npz")) as stored:
    assert stored["pca_components"].dtype == np.float32 and stored["prior"].dtype == np.float32
  original = stats_lib.load(tools["model_dir"] / workdir_lib.STATS)
  copied = stats_lib.load(os.path.join(path, "assets.extra", "stats.npz"))
  np.testing.assert_array_equal(copied.pca_components,
                                original.pca_components.astype(np.float32))
  assert copied.image_count == original.image_count and copied.source == original.source
  # Quiet by default (issue 47 item 5): the one line of what was written, nothing on stderr.
  assert done.stdout.strip().startswith("divcolor-export: wrote ") and len(
      done.stdout.strip().splitlines()) == 1, done.stdout
  assert done.stderr.strip() == "", done.stderr
  bad = _finish(tools["bad_weights"])
  assert bad.returncode == 1
  errors = [line for line in bad.stderr.splitlines() if line.startswith("divcolor-export:")]
  assert len(errors) == 1 and "--weights" in errors[0] and "float16" in errors[0], bad.stderr


def test_export_cli_refuses_tflite_for_a_baseline_before_writing_anything(tools):
  done = _finish(tools["baseline_tflite"])
  assert done.returncode == 1
  lines = done.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith("divcolor-export: "), done.stderr
  assert "cvae baseline exports as a SavedModel only" in lines[0]
  assert not os.path.exists(tools["tmp"] / "cvae")  # was: OUT/1 written, then the refusal


@pytest.mark.parametrize("quantization,advice", [
    ("fp32", "ship fp16 or dynamic instead"), ("fp16", "ship dynamic instead"),
    ("dynamic", "no smaller quantisation")])
def test_a_tflite_file_over_the_cap_is_told_only_of_smaller_quantisations(quantization, advice):
  assert export.smaller_advice(quantization).startswith(advice)
