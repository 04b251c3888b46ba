"""Deployment: the SavedModel tested the way TF Serving loads it, TFLite on LiteRT, the CLI and
the example clients.

Tiny untrained models (tests/tiny_models.py: strong colours, a non-uniform mixture) stand in for
a trained one; every output is compared with the in-memory ``Colorizer``.
"""

import importlib.util
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import ROOT
from conftest import console_script
from conftest import finish_tool as _finish
from conftest import start_tool as _start
from conftest import tool_env as _env
import tiny_models
from divcolor_tf import color
from divcolor_tf import colorize
from divcolor_tf import data
from divcolor_tf import export
from divcolor_tf.inference import fullres
from divcolor_tf.inference import saved_model

M, D, F = 8, 8, 64  # the tiny config: 8 components, d = 8, 64x64 colour fields
SHARD_BYTES = 200_000  # a small cap, so the tiny model's variables need several shards
TFLITE_SIZE = 96  # > the tiny grey size (64), so the pipeline really shrinks L
# |TFLite - TF| allowed per quantisation: max and mean over uint8 levels of the colorizations,
# max and mean over ab (ab/128) of the pipeline and of the decoder alone, max over the weights.
# The measured figures (printed by the test) on the tiny models are below these; the tiny
# decoder's 2e4 gain on its last layer (tiny_models.build) magnifies weight quantisation, so
# fp16 / int8 errors are far larger here than on a trained model.
# Loose versions of the errors measured on imagenet_val/ci's first photo. Dynamic quantisation's
# int8 kernels can flip the sign of the tiny decoder's saturated tanh (its 2e4 gain), so how far
# its ab lands from TensorFlow's depends on the photo: max 0.59 on that photo, 1.02 on the first
# of conftest's scikit-image stand-ins; its case runs on the real photo only.
TFLITE_TOLERANCE = {
    "fp32": {"levels": 2, "levels_mean": 0.01, "ab": 5e-4, "ab_mean": 1e-5, "weights": 1e-5},
    "fp16": {"levels": 255, "levels_mean": 0.5, "ab": 0.2, "ab_mean": 5e-3, "weights": 1e-3},
    "dynamic": {"levels": 255, "levels_mean": 3.0, "ab": 1.0, "ab_mean": 0.05, "weights": 1e-3},
}
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


def _example(name):
  path = ROOT / "examples" / f"{name}.py"
  spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, colorizer, tiny_config, lfw_ci):
  return tiny_models.write_model_dir(tmp_path_factory.mktemp("model"),
                                     (colorizer.trunk, colorizer.mdn, colorizer.decoder),
                                     tiny_config, lfw_ci)


@pytest.fixture(scope="module")
def files(imagenet_ci, lfw_ci):
  """Real photo files: two ImageNet-val JPEGs (same size) and an LFW face (another size)."""
  imagenet = sorted(imagenet_ci.glob("*.JPEG"))
  return {"imagenet": imagenet[0], "imagenet_2": imagenet[1],
          "face": sorted(lfw_ci.rglob("*.jpg"))[0]}


@pytest.fixture(scope="module")
def photos(files):
  return {name: data.load_rgb(path) for name, path in files.items()}


@pytest.fixture(scope="module")
def exported(colorizer, tmp_path_factory):
  out = tmp_path_factory.mktemp("saved_models") / "divcolor_tiny"
  path = export.export_saved_model(colorizer, out, version=1, max_shard_bytes=SHARD_BYTES)
  return out, path


@pytest.fixture(scope="module")
def export_cli(model_dir, tmp_path_factory):
  """divcolor-export runs, started early: they run while the in-process tests go on."""
  out = tmp_path_factory.mktemp("cli_export") / "saved_models" / "divcolor_tiny"
  cli = console_script("divcolor-export") + ["--model", str(model_dir), "--out", str(out)]
  first = _start(cli + ["--tflite", "fp32", "--tflite_size", "64"])
  bad = _start(console_script("divcolor-export") + [
      "--model", str(out.parent / "nowhere"), "--out", str(out.parent / "x")])
  yield {"cli": cli, "out": out, "first": first, "bad": bad}
  for process in (first, bad):
    if process.poll() is None:
      process.kill()
      process.communicate()


@pytest.fixture(scope="module")
def cli_runs(exported, photos, tmp_path_factory, export_cli):
  """saved_model_cli show and run, started together (they run while other tests go on)."""
  del export_cli  # only started here
  _, path = exported
  tmp = tmp_path_factory.mktemp("cli")
  np.save(tmp / "image.npy", photos["imagenet"][None])
  show = _start([SAVED_MODEL_CLI, "show", "--all", "--dir", path])
  run = _start([SAVED_MODEL_CLI, "run", "--dir", path, "--tag_set", "serve", "--signature_def",
                "serving_default", "--inputs", f"image={tmp / 'image.npy'}", "--outdir",
                str(tmp / "out")])
  yield {"show": show, "run": run, "outdir": tmp / "out"}
  for process in (show, run):
    if process.poll() is None:
      process.kill()
      process.communicate()


def _reference(colorizer, photo):
  """The in-memory pipeline: all M means, descending, as serving_default gives them."""
  return colorizer.colorize(photo, k=M)


def _assert_matches(colorizations, ab, weights, expected):
  assert colorizations.dtype == np.uint8 and colorizations.shape == expected.colorizations.shape
  assert np.abs(colorizations.astype(int) - expected.colorizations).max() <= 1
  np.testing.assert_allclose(ab, expected.ab, atol=2e-4)  # the tiny decoder's gain is 2e4
  np.testing.assert_allclose(weights, expected.weights, atol=1e-5)


def _parse_show(text):
  """saved_model_cli show --all -> {signature: {"inputs"|"outputs": {name: (dtype, shape)}}}."""
  signatures = {}
  for block in re.split(r"\nsignature_def\['", text)[1:]:
    name = block.split("'")[0]
    entry = signatures[name] = {"inputs": {}, "outputs": {}}
    for kind, tensor, dtype, shape in re.findall(
        r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\)|\S+)",
        block):
      entry[kind][tensor] = (dtype, shape)
  return signatures


# The SavedModel, as TF Serving loads it.

def test_saved_model_cli_show_lists_the_documented_signatures(cli_runs):
  done = _finish(cli_runs["show"])
  assert done.returncode == 0, done.stderr
  signatures = _parse_show(done.stdout)
  expected = {
      "serving_default": {
          "inputs": {"image": ("DT_UINT8", "(-1, -1, -1, 3)")},
          "outputs": {"colorizations": ("DT_UINT8", f"(-1, {M}, -1, -1, 3)"),
                      "ab": ("DT_FLOAT", f"(-1, {M}, {F}, {F}, 2)"),
                      "weights": ("DT_FLOAT", f"(-1, {M})")}},
      "colorize_bytes": {
          "inputs": {"image_bytes": ("DT_STRING", "(-1)")},
          "outputs": {"png_bytes": ("DT_STRING", f"(-1, {M})"),
                      "weights": ("DT_FLOAT", f"(-1, {M})")}},
      "decode": {
          "inputs": {"z": ("DT_FLOAT", f"(-1, {D})")},
          "outputs": {"ab": ("DT_FLOAT", f"(-1, {F}, {F}, 2)")}},
      "mixture": {
          "inputs": {"image": ("DT_UINT8", "(-1, -1, -1, 3)")},
          "outputs": {"means": ("DT_FLOAT", f"(-1, {M}, {D})"),
                      "weights": ("DT_FLOAT", f"(-1, {M})")}},
  }
  for name, signature in expected.items():
    assert signatures[name] == signature, name
  assert "Method name is: tensorflow/serving/predict" in done.stdout


def test_saved_model_cli_run_matches_the_colorizer(cli_runs, colorizer, photos):
  done = _finish(cli_runs["run"])
  assert done.returncode == 0, done.stderr
  out = {name: np.load(cli_runs["outdir"] / f"{name}.npy")
         for name in ("colorizations", "ab", "weights")}
  _assert_matches(out["colorizations"][0], out["ab"][0], out["weights"][0],
                  _reference(colorizer, photos["imagenet"]))


def test_session_loader_runs_every_signature_like_the_colorizer(exported, colorizer, photos,
                                                                files):
  """tf.compat.v1 session loading (TF Serving's path): every output of every signature."""
  _, path = exported
  batch = np.stack([photos["imagenet"], photos["imagenet_2"]])
  encoded = [files["imagenet"].read_bytes(), files["face"].read_bytes()]
  # The in-memory references first (eager; the session below builds a TF1 graph).
  expected = {name: _reference(colorizer, photos[name]) for name in ("imagenet", "imagenet_2",
                                                                     "face")}
  lightness = colorizer.lightness(photos["face"][None].astype(np.float32) / 255)
  means, logits = colorizer.mixture(tf.image.resize(lightness, [64, 64], antialias=True))
  pixels = [tf.io.decode_jpeg(blob, channels=3).numpy() for blob in encoded]
  with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
    meta_graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
    signatures = meta_graph.signature_def
    assert set(export.SIGNATURES) <= set(signatures)

    def run(name, **inputs):
      signature = signatures[name]
      feed = {signature.inputs[key].name: value for key, value in inputs.items()}
      fetches = {key: info.name for key, info in signature.outputs.items()}
      return sess.run(fetches, feed)

    served = run("serving_default", image=batch)
    pngs = run("colorize_bytes", image_bytes=np.array(encoded, dtype=object))
    direct = [run("serving_default", image=p[None]) for p in pixels]
    decoded_ab = run("decode", z=expected["face"].z)["ab"]
    mixture = run("mixture", image=photos["face"][None])

  for i, name in enumerate(("imagenet", "imagenet_2")):
    _assert_matches(served["colorizations"][i], served["ab"][i], served["weights"][i],
                    expected[name])
  # colorize_bytes: JPEG bytes of two photos of different sizes; each PNG holds the pixels
  # serving_default gives for the same decoded photo.
  assert pngs["png_bytes"].shape == (2, M)
  for i in range(2):
    decoded = np.stack([np.asarray(Image.open(io.BytesIO(p))) for p in pngs["png_bytes"][i]])
    np.testing.assert_array_equal(decoded, direct[i]["colorizations"][0])
    np.testing.assert_array_equal(pngs["weights"][i], direct[i]["weights"][0])
  assert decoded.shape[1:3] == photos["face"].shape[:2] != photos["imagenet"].shape[:2]
  # decode and mixture.
  np.testing.assert_allclose(decoded_ab, expected["face"].ab, atol=2e-4)
  np.testing.assert_allclose(mixture["means"], means, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(mixture["weights"], tf.nn.softmax(logits), atol=1e-6)
  np.testing.assert_allclose(mixture["weights"][0][expected["face"].components],
                             expected["face"].weights, atol=1e-6)


def test_bad_requests_fail_clearly_and_the_model_keeps_serving(exported, colorizer, photos):
  _, path = exported
  model = tf.saved_model.load(path)
  serve = model.signatures["serving_default"]
  from_bytes = model.signatures["colorize_bytes"]
  photo = photos["face"]
  expected = _reference(colorizer, photo)
  bad = [
      (lambda: serve(image=tf.constant(photo[None].astype(np.float32) / 255)), r"uint8"),
      (lambda: serve(image=tf.constant(photo)),
       r"not compatible with expected shape \[\?,\?,\?,3\]"),
      (lambda: serve(image=tf.constant(photo[None, ..., :2])),
       r"not compatible with expected shape"),
      (lambda: serve(image=tf.constant(photo[None, :2, :2])), r"at least 8 pixels"),
      (lambda: from_bytes(image_bytes=tf.constant([b"this is not a photo"])),
       r"not an encoded JPEG, PNG, GIF, BMP or WebP image"),
      # Issue 29, row 9: an 8200x8200 request ran 69 s to a 5.3 GB peak; the pixel budget of
      # colorize_bytes and the command line (64 megapixels) now holds for every signature, for
      # one photo and for a batch's total, before any work is done.
      (lambda: serve(image=tf.zeros([1, 8200, 8200, 3], tf.uint8)),
       r"image: over the limit of 64 megapixels in a request"),
      (lambda: serve(image=tf.zeros([1000, 256, 256, 3], tf.uint8)),
       r"image: over the limit of 64 megapixels in a request"),
      (lambda: model.signatures["mixture"](image=tf.zeros([1, 8200, 8200, 3], tf.uint8)),
       r"image: over the limit of 64 megapixels in a request"),
  ]
  for call, message in bad:
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError), match=message):
      call()
    out = serve(image=tf.constant(photo[None]))  # the next good request
    _assert_matches(out["colorizations"][0].numpy(), out["ab"][0].numpy(),
                    out["weights"][0].numpy(), expected)


def test_variables_are_sharded_under_the_cap_and_config_travels(exported, tiny_config,
                                                                colorizer):
  _, path = exported
  shards = [name for name in os.listdir(os.path.join(path, "variables")) if ".data-" in name]
  assert len(shards) > 1
  sizes = [os.path.getsize(os.path.join(path, "variables", name)) for name in shards]
  assert max(sizes) <= SHARD_BYTES
  # Each weight is stored once: float32 bytes of the three models, plus little (keras's
  # ExportArchive.track would store every variable a second time; export.archive).
  weights = sum(m.count_params() for m in (colorizer.trunk, colorizer.mdn, colorizer.decoder))
  assert 4 * weights <= sum(sizes) < 1.05 * 4 * weights + 10_000
  extra = os.path.join(path, "assets.extra")
  with open(os.path.join(extra, "config.json")) as f:
    assert json.load(f) == json.loads(tiny_config.to_json())
  with open(os.path.join(extra, "export.json")) as f:
    meta = json.load(f)
  assert meta["num_components"] == M and meta["latent_dim"] == D and meta["gamut"] == "chroma"


def test_colorize_bytes_turns_phone_photos_upright_as_the_command_line_does(exported, colorizer,
                                                                            files, tmp_path):
  """JPEGs stored as a phone stores them, turned by their EXIF orientation (6: 90 degrees
  clockwise, 3: 180 degrees): colorize_bytes gives what the command line's path (data.load_rgb,
  which applies the orientation with Pillow, then the Colorizer) gives."""
  _, path = exported
  face = data.load_rgb(files["face"])[20:120, 40:200]  # 100 x 160: a wrong turn shows
  encoded, upright = [], []
  for orientation in (6, 3):
    exif_block = Image.Exif()
    exif_block[0x0112] = orientation
    stored = tmp_path / f"phone_{orientation}.jpg"
    Image.fromarray(face).save(stored, exif=exif_block, quality=95)
    encoded.append(stored.read_bytes())
    upright.append(data.load_rgb(stored))
  assert upright[0].shape == (160, 100, 3) and upright[1].shape == face.shape
  served = tf.saved_model.load(path).signatures["colorize_bytes"](
      image_bytes=tf.constant(encoded))
  for i, photo in enumerate(upright):
    pngs = np.stack([np.asarray(Image.open(io.BytesIO(p)))
                     for p in served["png_bytes"][i].numpy()])
    expected = colorizer.colorize(photo, k=M)
    assert pngs.shape == expected.colorizations.shape == (M,) + photo.shape
    # Each output keeps its photo's own L: the served one is the upright photo's, far from the
    # photo turned wrongly. TF's JPEG decoder differs a little from Pillow's; measured: L 0.42
    # apart (turned wrongly: 23), colorizations 1.7-2.0 levels, weights 4e-5.
    served_l = _lightness(pngs[0])
    assert np.abs(served_l - _lightness(photo)).mean() < 1.0
    assert np.abs(served_l - _lightness(np.rot90(photo, 2))).mean() > 5.0
    assert np.abs(pngs.astype(int) - expected.colorizations).mean() < 3.0
    np.testing.assert_allclose(served["weights"][i], expected.weights, atol=1e-3)


def _lightness(rgb):
  """CIE L [H, W] of uint8 RGB."""
  return color.rgb_to_lab(np.asarray(rgb, np.float32) / 255)[..., 0].numpy()


def test_skip_decoder_exports_decode_with_lightness(repo_root, lfw_ci, tmp_path, photos):
  config = tiny_models.tiny_config(repo_root, lfw_ci, "skip")
  skip = colorize.Colorizer(*tiny_models.build(config), config)
  assert skip.skip
  path = export.export_saved_model(skip, tmp_path / "skip", max_shard_bytes=SHARD_BYTES)
  expected = _reference(skip, photos["face"])
  lightness = skip.lightness(photos["face"][None].astype(np.float32) / 255)
  field_lightness = tf.image.resize(lightness, [F, F], antialias=True)
  decode = tf.saved_model.load(path).signatures["decode"]
  assert set(decode.structured_input_signature[1]) == {"z", "lightness"}
  ab = decode(z=tf.constant(expected.z),
              lightness=tf.repeat(field_lightness, M, axis=0))["ab"].numpy()
  # The colorizer runs the grey path on the one photo, decode on M copies of it: oneDNN sums in
  # another order for another batch size (a few of 65,536 values differ by up to 6e-4 here).
  np.testing.assert_allclose(ab, expected.ab, atol=1e-3)
  # decode_each: the photo's M codes and its L once, the colorizer's own fields.
  decode_each = tf.saved_model.load(path).signatures["decode_each"]
  assert set(decode_each.structured_input_signature[1]) == {"z", "lightness"}
  each = decode_each(z=tf.constant(expected.z[None]), lightness=field_lightness)["ab"].numpy()
  np.testing.assert_allclose(each[0], expected.ab, atol=1e-5)


def test_colorize_load_reads_an_exported_model_like_the_workdir(exported, model_dir, colorizer,
                                                                 photos):
  """colorize.load: a workdir gives the Keras Colorizer, an export (its model directory, as TF
  Serving names it, or its version directory) the SavedModel one, and both colorize alike."""
  out, path = exported
  served = colorize.load(path)
  eager, lazy = served.colorize(photos["face"], k=3), served.colorize(photos["face"], k=3, lazy=True)
  np.testing.assert_array_equal(np.asarray(lazy.colorizations), eager.colorizations)
  assert isinstance(colorize.load(model_dir), colorize.Colorizer)
  for where in (out, path):
    loaded = colorize.load(where)
    assert isinstance(loaded, saved_model.SavedModelColorizer)
  assert loaded.num_components == M and loaded.latent_dim == D and not loaded.skip
  photo = photos["face"]
  expected = colorizer.colorize(photo, k=3)
  got = loaded.colorize(photo, k=3)
  assert np.abs(got.colorizations.astype(int) - expected.colorizations.astype(int)).max() <= 1
  np.testing.assert_allclose(got.weights, expected.weights, atol=1e-5)
  np.testing.assert_array_equal(got.components, expected.components)
  np.testing.assert_allclose(got.z, expected.z, atol=1e-4)
  # Samples: seeded draws from the exported mixture, decoded and joined with the photo's own L.
  first, again = (loaded.colorize(photo, samples=6, seed=7) for _ in range(2))
  other = loaded.colorize(photo, samples=6, seed=8)
  np.testing.assert_array_equal(first.colorizations, again.colorizations)
  assert not np.array_equal(first.z, other.z)
  assert first.colorizations.shape == (6,) + photo.shape
  # Each draw lies near its own component's mean (means indexed by component id).
  full = colorizer.colorize(photo, k=M)
  nearest = np.linalg.norm(first.z - full.z[np.argsort(full.components)][first.components], axis=1)
  assert nearest.max() < 6 * np.sqrt(0.1 * D)  # sigma^2 = 0.1 per dimension
  # One random stream: the same seed draws the same z from the workdir and from its export.
  in_memory = colorizer.colorize(photo, samples=6, seed=7)
  np.testing.assert_array_equal(first.components, in_memory.components)
  np.testing.assert_allclose(first.z, in_memory.z, atol=1e-4)
  assert np.abs(first.colorizations.astype(int) - in_memory.colorizations.astype(int)).max() <= 1
  with pytest.raises(ValueError, match="k must be"):
    loaded.colorize(photo, k=M + 1)


def test_colorize_cli_on_an_exported_model(exported, files, tmp_path):
  out, _ = exported
  result = subprocess.run(console_script("divcolor-colorize") + [
      "--model", str(out), "--input", str(files["face"]), "--output", str(tmp_path), "--k", "2",
      "--grid"], capture_output=True, text=True, env=_env(), timeout=300)
  assert result.returncode == 0, result.stderr
  stem = os.path.splitext(os.path.basename(files["face"]))[0]
  assert sorted(os.listdir(tmp_path)) == [f"{stem}_1.png", f"{stem}_2.png", f"{stem}_grid.png"]
  first = np.asarray(Image.open(tmp_path / f"{stem}_1.png"))
  assert first.shape == data.load_rgb(files["face"]).shape


def test_an_existing_version_is_not_overwritten(exported, colorizer):
  out, path = exported
  before = os.path.getmtime(os.path.join(path, "saved_model.pb"))
  with pytest.raises(FileExistsError) as error:
    export.export_saved_model(colorizer, out, version=1)
  message = str(error.value)
  assert len(message.splitlines()) == 1 and path in message and "overwrite" in message
  assert os.path.getmtime(os.path.join(path, "saved_model.pb")) == before
  assert sorted(os.listdir(out)) == ["1"]  # no partial folder left behind
  with pytest.raises(ValueError, match="positive integer"):
    export.export_saved_model(colorizer, out, version=0)


# TFLite on LiteRT.

@pytest.fixture(scope="module")
def tflite_files(colorizer, tmp_path_factory):
  out = tmp_path_factory.mktemp("tflite")
  files = {}
  for quantization in export.QUANTIZATIONS:
    for part in export.PARTS:
      path = out / export.tflite_filename(part, quantization, TFLITE_SIZE)
      files[part, quantization] = export.export_tflite(colorizer, path, quantization,
                                                       TFLITE_SIZE, part)
  return files


def _runner(path):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  return Interpreter(model_path=str(path)).get_signature_runner("serving_default")


@pytest.mark.parametrize("quantization", export.QUANTIZATIONS)
def test_tflite_pipeline_and_decoder_match_tf_with_the_same_settings(tflite_files, colorizer,
                                                                     photos, quantization,
                                                                     request):
  if quantization == "dynamic":  # its bounds hold on the real photo only (TFLITE_TOLERANCE)
    request.getfixturevalue("imagenet_real")
  same = export.as_colorizer(colorizer, **export.TFLITE_SETTINGS)
  assert same.antialias is False and same.gamut == colorizer.gamut == "chroma"
  image = tf.image.resize(photos["imagenet"][None], [TFLITE_SIZE, TFLITE_SIZE])
  image = tf.cast(tf.round(image), tf.uint8).numpy()
  rgb, ab, weights = same.colorize_tensor(image.astype(np.float32) / 255, k=M)
  expected_rgb = rgb.numpy()
  lightness = same.lightness(image.astype(np.float32) / 255)
  squash = same.squash
  squashed = [squash(lightness, s) for s in (same.grey_size, same.field_size)]
  z = same.colour_fields(*squashed, k=M)["z"].numpy()[0]
  expected_decoded = same.decoder(z, training=False).numpy()
  print()
  info = tflite_files["pipeline", quantization]
  assert info["gamut"] == "chroma" and info["antialias"] is False
  out = _runner(info["path"])(image=image)
  assert out["colorizations"].shape == (1, M, TFLITE_SIZE, TFLITE_SIZE, 3)
  assert out["colorizations"].dtype == np.uint8
  level_error = np.abs(out["colorizations"].astype(int) - expected_rgb)
  ab_error = np.abs(out["ab"] - ab.numpy())
  errors = (level_error.max(), ab_error.max(), np.abs(out["weights"] - weights.numpy()).max())
  decoder = tflite_files["decoder", quantization]
  decoded = np.concatenate([_runner(decoder["path"])(z=z[i:i + 1])["ab"] for i in range(M)])
  decoder_error = np.abs(decoded - expected_decoded).max()
  print(f"TFLite {quantization}: pipeline {info['bytes']} B, max |error| colorizations "
        f"{errors[0]} levels (mean {level_error.mean():.3f}), ab {errors[1]:.2e} (mean "
        f"{ab_error.mean():.2e}), weights {errors[2]:.2e}; decoder {decoder['bytes']} B, ab "
        f"{decoder_error:.2e}")
  tolerance = TFLITE_TOLERANCE[quantization]
  assert errors[0] <= tolerance["levels"] and level_error.mean() <= tolerance["levels_mean"]
  assert errors[1] <= tolerance["ab"] and ab_error.mean() <= tolerance["ab_mean"]
  assert errors[2] <= tolerance["weights"] and decoder_error <= tolerance["ab"]


def test_tflite_states_a_batch_of_one_and_refuses_other_shapes(tflite_files):
  # Issue 29, row 10: a batch of 2 returned the first photo's result alone, a batch of 0 a set
  # of weights. Each input states batch 1 (shape and shape signature) and the model refuses any
  # other shape when it runs; a good call after a refused one still answers.
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  for part in export.PARTS:
    interpreter = Interpreter(model_path=str(tflite_files[part, "dynamic"]["path"]))
    for detail in interpreter.get_input_details():
      assert detail["shape"][0] == 1 and list(detail["shape_signature"]) == list(detail["shape"])
    runner = interpreter.get_signature_runner("serving_default")

    def inputs(shape_of, details=runner.get_input_details()):
      shapes = {name: shape_of(tuple(int(v) for v in d["shape"])) for name, d in details.items()}
      return {name: (rng.integers(0, 256, shapes[name], dtype=np.uint8)
                     if d["dtype"] == np.uint8 else
                     rng.normal(size=shapes[name]).astype(np.float32))
              for name, d in details.items()}

    good = runner(**inputs(lambda shape: shape))
    for shape_of in (lambda s: (2,) + s[1:], lambda s: (0,) + s[1:],
                     lambda s: (2, s[1] // 2) + s[2:]):  # the last: the element count of batch 1
      with pytest.raises(Exception, match="failed to prepare"):  # LiteRT's RuntimeError
        runner(**inputs(shape_of))
      again = runner(**inputs(lambda shape: shape))
      assert {k: v.shape for k, v in again.items()} == {k: v.shape for k, v in good.items()}


def test_tflite_fp16_and_dynamic_files_are_smaller(tflite_files):
  # fp16 halves the weights, dynamic quantisation stores int8 kernels: smaller files.
  sizes = {q: tflite_files["pipeline", q]["bytes"] for q in export.QUANTIZATIONS}
  assert sizes["dynamic"] < sizes["fp16"] < sizes["fp32"]


def test_tflite_export_refuses_bad_arguments_and_existing_files(tflite_files, colorizer):
  existing = tflite_files["decoder", "fp32"]["path"]
  with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
    export.export_tflite(colorizer, existing, "fp32", part="decoder")
  with pytest.raises(ValueError, match="quantization must be one of"):
    export.export_tflite(colorizer, existing + ".int4", "int4")
  with pytest.raises(ValueError, match="part must be one of"):
    export.export_tflite(colorizer, existing + ".x", "fp32", part="encoder")


def test_tflite_demo_writes_the_k_colorizations(tflite_files, files, tmp_path, capsys):
  demo = _example("tflite_demo")
  model = tflite_files["pipeline", "fp16"]["path"]
  assert demo.main(["--model", model, "--image", str(files["face"]), "--out",
                    str(tmp_path)]) == 0
  stem = files["face"].stem
  written = sorted(tmp_path.glob(f"{stem}_*.png"))
  assert len(written) == M
  weights = [float(w) for w in capsys.readouterr().out.split("weights")[-1].split()]
  assert len(weights) == M and weights == sorted(weights, reverse=True)
  # The outputs are at the photo's own size: its own L joined with the pipeline's colour fields,
  # as the library's full-resolution join (numpy in the demo, TF ops in divcolor_tf.inference.fullres).
  photo = data.load_rgb(files["face"])
  colorizations, _, ab = demo.colorize(model, photo)
  full = np.asarray(Image.open(tmp_path / f"{stem}_3.png"))
  assert full.shape == photo.shape
  np.testing.assert_allclose(demo.lightness(photo), color.rgb_to_lab(photo / 255.0)[..., 0],
                             atol=1e-3)
  reference = fullres.join_lightness(fullres.photo_lightness(photo[None]), ab[None])[0, 2].numpy()
  levels = np.abs(full.astype(int) - reference)  # the gamut fits differ a little (bisection)
  assert levels.max() <= 6 and (levels <= 1).mean() > 0.99, (levels.max(), (levels <= 1).mean())
  assert demo.main(["--model", model, "--image", str(files["face"]), "--out",
                    str(tmp_path / "square"), "--model_size"]) == 0
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "square" / f"{stem}_3.png")),
                                colorizations[2])
  decoder = tflite_files["decoder", "fp32"]["path"]
  assert demo.main(["--model", decoder, "--image", str(files["face"]), "--out",
                    str(tmp_path / "no")]) == 1
  assert "not a colorize pipeline" in capsys.readouterr().err


# The command line and the serving client.

def test_export_cli(export_cli, model_dir, colorizer, photos):
  out = export_cli["out"]
  first = _finish(export_cli["first"])
  assert first.returncode == 0, first.stderr
  tflite = [out / "tflite" / "divcolor_pipeline_64_fp32.tflite",
            out / "tflite" / "divcolor_decoder_fp32.tflite"]
  assert all(p.exists() for p in tflite) and (out / "1" / "saved_model.pb").exists()
  assert (out / "1" / "assets.extra" / "config.json").exists()
  assert "divcolor-export: wrote" in first.stdout and " MB)" in first.stdout
  served = tf.saved_model.load(str(out / "1")).signatures["serving_default"](
      image=tf.constant(photos["face"][None]))
  _assert_matches(served["colorizations"][0].numpy(), served["ab"][0].numpy(),
                  served["weights"][0].numpy(), _reference(colorizer, photos["face"]))
  pipeline = _runner(tflite[0])(image=np.ascontiguousarray(photos["face"][None, :64, :64]))
  assert pipeline["colorizations"].shape == (1, M, 64, 64, 3)

  # Existing outputs: each named in a one-line error, nothing written.
  (out / "1" / "assets.extra" / "stale.txt").write_text("from an older export")
  again = subprocess.run(export_cli["cli"] + ["--tflite", "fp32", "--tflite_size", "64"],
                         capture_output=True, text=True, env=_env(), timeout=300)
  assert again.returncode == 1
  errors = [line for line in again.stderr.splitlines() if line.startswith("divcolor-export:")]
  assert len(errors) == 3 and all("exists; pass --overwrite" in e for e in errors), again.stderr
  assert str(out / "1") in errors[0] and str(tflite[0]) in " ".join(errors)
  assert (out / "1" / "assets.extra" / "stale.txt").exists()
  # overwrite=True (what --overwrite passes) replaces the version folder as a whole.
  export.export_saved_model(model_dir, out, 1, overwrite=True)
  assert not (out / "1" / "assets.extra" / "stale.txt").exists()
  assert (out / "1" / "saved_model.pb").exists() and sorted(os.listdir(out)) == ["1", "tflite"]

  bad = _finish(export_cli["bad"])
  assert bad.returncode == 1
  errors = [line for line in bad.stderr.splitlines() if line.startswith("divcolor-export:")]
  assert len(errors) == 1 and "nowhere: no such model directory" in errors[0], bad.stderr


def test_serving_client_builds_rest_and_grpc_requests(files, photos, tmp_path):
  client = _example("serving_client")
  encoded = [files["imagenet"].read_bytes(), files["face"].read_bytes()]
  body = client.rest_body("colorize_bytes", encoded)
  assert body["signature_name"] == "colorize_bytes" and len(body["instances"]) == 2
  import base64  # pylint: disable=g-import-not-at-top
  assert base64.b64decode(body["instances"][1]["image_bytes"]["b64"]) == encoded[1]
  json.dumps(body)  # serialisable
  body = client.rest_body("serving_default", [photos["face"]])
  assert np.array_equal(np.asarray(body["instances"][0]["image"], np.uint8), photos["face"])

  request = client.grpc_request("divcolor_tiny", "colorize_bytes", encoded)
  proto = request.inputs["image_bytes"]
  assert request.model_spec.name == "divcolor_tiny"
  assert request.model_spec.signature_name == "colorize_bytes"
  assert proto.dtype == tf.string.as_datatype_enum
  assert [d.size for d in proto.tensor_shape.dim] == [2]
  assert list(tf.make_ndarray(proto)) == encoded
  request = client.grpc_request("divcolor_tiny", "serving_default",
                                [photos["imagenet"], photos["imagenet_2"]])
  proto = request.inputs["image"]
  assert proto.dtype == tf.uint8.as_datatype_enum
  assert [d.size for d in proto.tensor_shape.dim] == [2, 227, 227, 3]
  np.testing.assert_array_equal(tf.make_ndarray(proto)[1], photos["imagenet_2"])

  # --dry_run saves both requests for a photo, without a server.
  assert client.main(["--dry_run", "--out", str(tmp_path), str(files["face"])]) == 0
  saved = json.loads((tmp_path / "rest_colorize_bytes.json").read_text())
  assert base64.b64decode(saved["instances"][0]["image_bytes"]["b64"]) == encoded[1]
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  parsed = predict_pb2.PredictRequest.FromString((tmp_path / "grpc_colorize_bytes.pb")
                                                 .read_bytes())
  assert list(tf.make_ndarray(parsed.inputs["image_bytes"])) == encoded[1:]
  # A REST response in TF Serving's row format is parsed into images and weights.
  png = io.BytesIO()
  Image.fromarray(photos["face"]).save(png, format="PNG")
  response = {"predictions": [{"png_bytes": [{"b64": base64.b64encode(png.getvalue()).decode()}],
                               "weights": [0.7]}]}
  (images, weights), = client.parse_rest("colorize_bytes", response)
  np.testing.assert_array_equal(images[0], photos["face"])
  assert weights.tolist() == pytest.approx([0.7])


def test_serving_client_errors_say_what_failed_and_what_to_do(files, tmp_path, capsys):
  """Nothing listening: one line telling to start TF Serving (REST and gRPC); a server's error:
  its whole message; an unreadable photo: one line naming it."""
  import http.server  # pylint: disable=g-import-not-at-top
  import socket  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  import urllib.error  # pylint: disable=g-import-not-at-top
  client = _example("serving_client")
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    closed = probe.getsockname()[1]  # nothing listens there once closed
  photo = str(files["face"])
  for target in (["--rest", f"http://127.0.0.1:{closed}/v1/models/divcolor_lfw"],
                 ["--grpc", f"127.0.0.1:{closed}"]):
    assert client.main(target + ["--out", str(tmp_path), photo]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is TF Serving running" in err, err
  assert "cannot connect" in client.describe_error(urllib.error.URLError("refused"), "x")

  message = "Servable not found for request: Specific(divcolor_lfw, 7) " + "detail " * 60

  class Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # pylint: disable=invalid-name
      body = json.dumps({"error": message}).encode()
      self.send_response(404)
      self.send_header("Content-Type", "application/json")
      self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def log_message(self, *args):  # quiet
      del args

  server = http.server.HTTPServer(("127.0.0.1", 0), Refusing)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/models/divcolor_lfw"
    assert client.main(["--rest", url, "--out", str(tmp_path), photo]) == 1
  finally:
    server.shutdown()
  err = capsys.readouterr().err.strip()
  assert err == f"serving_client: {url}: HTTP 404: {' '.join(message.split())}", err

  (tmp_path / "notes.jpg").write_text("not a photo")
  assert client.main(["--dry_run", "--out", str(tmp_path), str(tmp_path / "notes.jpg")]) == 1
  assert "notes.jpg: not a photo Pillow can read" in capsys.readouterr().err
