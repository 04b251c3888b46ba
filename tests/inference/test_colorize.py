"""The test-time pipeline (Section 4), divcolor-colorize, Table 3 and divcolor-evaluate.

Tiny untrained models stand in for trained ones: what is tested is the pipeline around them (the
input's L kept at full resolution, no colour leak, ordering of the mixture, sampling, files).
Their last layers are scaled so that the decoded colours are strong and differ between
components, and the mixture weights are far from uniform: otherwise an untrained decoder's
near-zero ab would make the lightness and ordering checks pass vacuously.
"""

import json
import shutil
import subprocess

import numpy as np
import pytest
import skimage.color
import tensorflow as tf
from PIL import Image

from conftest import console_script
from conftest import finish_tool as _finish
from conftest import start_tool as _start
from conftest import tool_env as _env
import tiny_models
from divcolor_tf import color
from divcolor_tf import colorize
from divcolor_tf.io import photos as photos_lib
from divcolor_tf import data
from divcolor_tf.evaluation import tables
from divcolor_tf.evaluation import metrics

K = 5
L_TOLERANCE = 1.0  # L units: uint8 output rounding moves L by at most ~0.5


_tiny_config = tiny_models.tiny_config
_build = tiny_models.build


@pytest.fixture(scope="module")
def tiny_config(repo_root, lfw_ci):
  return _tiny_config(repo_root, lfw_ci)


@pytest.fixture(scope="module")
def models(tiny_config):
  return _build(tiny_config)


@pytest.fixture(scope="module")
def colorizer(models, tiny_config):
  trunk, mdn, decoder = models
  return colorize.Colorizer(trunk, mdn, decoder, tiny_config)


@pytest.fixture(scope="module")
def photos(imagenet_ci, lfw_ci):
  """Real photos: two 227x227 ImageNet-val, a non-square crop of one, an LFW face (250x250)."""
  imagenet = sorted(imagenet_ci.glob("*.JPEG"))
  first = data.load_rgb(imagenet[0])
  return {
      "imagenet": first,
      "imagenet_2": data.load_rgb(imagenet[1]),
      "crop": np.ascontiguousarray(first[20:181, 5:222]),  # 161x217
      "face": data.load_rgb(sorted(lfw_ci.rglob("*.jpg"))[0]),
  }


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, models, tiny_config, lfw_ci):
  """The model directory layout of the three trainers, written from the tiny models."""
  return tiny_models.write_model_dir(tmp_path_factory.mktemp("model"), models, tiny_config,
                                     lfw_ci)


def _lightness(rgb_uint8):
  return skimage.color.rgb2lab(rgb_uint8)[..., 0]


# The pipeline.

def test_full_resolution_output_keeps_the_inputs_lightness(colorizer, photos, tiny_config):
  for name, photo in photos.items():
    result = colorizer.colorize(photo)
    h, w = photo.shape[:2]
    assert result.colorizations.shape == (K, h, w, 3) and result.colorizations.dtype == np.uint8
    assert result.ab.shape == (K, 64, 64, 2) and result.z.shape == (K, tiny_config.vae.latent_dim)
    assert result.weights.shape == (K,) and result.components.shape == (K,)
    lightness = _lightness(photo)
    for out in result.colorizations:
      assert np.abs(_lightness(out) - lightness).max() < L_TOLERANCE, name
    # The colorizations really are coloured, and differ from one another.
    chroma = np.hypot(*np.moveaxis(skimage.color.rgb2lab(result.colorizations[0])[..., 1:], -1, 0))
    assert chroma.mean() > 10, name
    assert np.abs(result.ab[0] - result.ab[-1]).mean() > 0.01, name


def test_chroma_gamut_fit_keeps_lightness_where_clipping_does_not(models, tiny_config, photos):
  trunk, mdn, decoder = models
  clip = colorize.Colorizer(trunk, mdn, decoder, tiny_config, gamut="clip")
  photo = photos["imagenet"]
  worst = max(np.abs(_lightness(out) - _lightness(photo)).max()
              for out in clip.colorize(photo).colorizations)
  assert worst > 3 * L_TOLERANCE  # clipping sRGB moves L: why gamut="chroma" is the default
  # fit_chroma: in-gamut pixels unchanged, the others pulled inside.
  lightness = tf.constant([[50.0], [50.0], [95.0], [0.0], [100.0]])
  ab = tf.constant([[0.1, -0.1], [0.9, 0.9], [-0.8, 0.6], [0.0, 0.0], [0.0, 0.0]])
  fitted = color.fit_chroma(lightness, ab)
  np.testing.assert_allclose(fitted[0], ab[0])
  assert np.all(color.in_gamut(lightness, fitted).numpy())
  assert not color.in_gamut(lightness[1:3], ab[1:3]).numpy().any()
  ratio = fitted[1:3].numpy() / ab[1:3].numpy()
  assert np.all((ratio > 0) & (ratio < 1)) and np.allclose(ratio[:, 0], ratio[:, 1])  # same hue


def test_no_colour_leak(colorizer, models, photos, repo_root, lfw_ci):
  photo = photos["crop"]
  lab = skimage.color.rgb2lab(photo)
  grey_rgb = color.lab_to_rgb(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], -1)
                              .astype(np.float32)).numpy()  # same L, no colour, float
  for c in (colorizer, colorize.Colorizer(*_build(_tiny_config(repo_root, lfw_ci, "skip")),
                                          _tiny_config(repo_root, lfw_ci, "skip"))):
    from_colour = c.colorize(photo)
    from_grey = c.colorize(grey_rgb)
    # The grey copy's L equals the photo's to float rounding (~1e-5), which the decoder's 2e4 gain
    # (see _build) can magnify to ~1e-3 in ab; a leak of the photo's colour would move ab by O(1).
    np.testing.assert_allclose(from_grey.ab, from_colour.ab, atol=5e-3)
    np.testing.assert_allclose(from_grey.weights, from_colour.weights, atol=1e-5)
    diff = np.abs(from_grey.colorizations.astype(int) - from_colour.colorizations.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.001  # float L of the grey copy, rounded
  # A 2-D uint8 grey image is the same photo as its 3-channel stack.
  grey8 = photos_lib.to_uint8(grey_rgb)[..., 0]
  np.testing.assert_array_equal(colorizer.colorize(grey8).colorizations,
                                colorizer.colorize(np.stack([grey8] * 3, -1)).colorizations)


def test_top_k_is_the_mixture_in_descending_weight(colorizer, models, photos):
  trunk, mdn, _ = models
  photo = photos["face"]
  result = colorizer.colorize(photo, k=8)
  assert np.all(np.diff(result.weights) <= 0) and result.weights.sum() <= 1 + 1e-6
  # The same mixture computed by hand from the models.
  lightness = color.rgb_to_lab(photo.astype(np.float32) / 255)[None, ..., :1]
  grey = tf.image.resize(lightness, [64, 64], antialias=True)
  out = mdn(trunk(grey, training=False), training=False)
  pi = tf.nn.softmax(out["logits"])[0].numpy()
  order = np.argsort(-pi, kind="stable")
  np.testing.assert_allclose(result.weights, pi[order], rtol=1e-5)
  np.testing.assert_array_equal(result.components, order)
  np.testing.assert_allclose(result.z, out["means"][0].numpy()[order], rtol=1e-5, atol=1e-6)
  assert pi.max() > 2 * pi.min()  # not the uniform mixture of an untouched untrained MDN
  top5 = colorizer.colorize(photo)  # default k: config colorize.k
  np.testing.assert_allclose(top5.ab, result.ab[:K], atol=1e-5)
  assert np.abs(top5.colorizations.astype(int) - result.colorizations[:K]).max() <= 1


def test_samples_are_seeded_draws_from_the_mixture(colorizer, photos):
  photo = photos["imagenet_2"]
  a = colorizer.colorize(photo, samples=4, seed=7)
  b = colorizer.colorize(photo, samples=4, seed=7)
  c = colorizer.colorize(photo, samples=4, seed=8)
  np.testing.assert_array_equal(a.colorizations, b.colorizations)
  np.testing.assert_array_equal(a.z, b.z)
  assert not np.allclose(a.z, c.z)
  assert a.colorizations.shape == (4,) + photo.shape
  # Each draw is its component's mean plus N(0, 0.1 I) noise, and carries that component's pi.
  lightness = color.rgb_to_lab(photo.astype(np.float32) / 255)[None, ..., :1]
  means, logits = colorizer.mixture(tf.image.resize(lightness, [64, 64], antialias=True))
  pi = tf.nn.softmax(logits)[0].numpy()
  np.testing.assert_allclose(a.weights, pi[a.components], rtol=1e-5)
  np.testing.assert_allclose(a.z, colorizer.draw(means, logits, 4, [7 % 2**31, 0])[0][0],
                             rtol=1e-5, atol=1e-6)  # photo 0 of a call uses the seed (seed, 0)
  z, weights, components = (t[0].numpy() for t in colorizer.draw(means, logits, 4000, [1, 0]))
  np.testing.assert_allclose(weights, pi[components], rtol=1e-5)
  noise = z - means[0].numpy()[components]
  assert noise.std() == pytest.approx(np.sqrt(0.1), rel=0.05) and abs(noise.mean()) < 0.01
  frequency = np.bincount(components, minlength=8) / 4000
  assert np.abs(frequency - pi).max() < 0.03


def test_a_list_gives_one_result_per_photo(colorizer, photos):
  both = colorizer.colorize([photos["crop"], photos["face"]], k=2)
  assert len(both) == 2
  np.testing.assert_array_equal(both[1].colorizations,
                                colorizer.colorize(photos["face"], k=2).colorizations)
  assert both[0].colorizations.shape == (2, 161, 217, 3)


def test_lazy_colorizations_are_the_same_images_one_at_a_time(colorizer, photos):
  """colorize(lazy=True): the colorizations joined on indexing, the same bytes as the eager ones."""
  for kwargs in ({"k": 3}, {"samples": 2, "seed": 5}):
    eager = colorizer.colorize(photos["crop"], **kwargs)
    lazy = colorizer.colorize(photos["crop"], lazy=True, **kwargs)
    assert isinstance(lazy.colorizations, colorize.LazyColorizations)
    assert len(lazy.colorizations) == len(eager.colorizations)
    assert lazy.colorizations.shape == eager.colorizations.shape
    for i, image in enumerate(lazy.colorizations):
      np.testing.assert_array_equal(image, eager.colorizations[i])
    np.testing.assert_array_equal(lazy.colorizations[-1], eager.colorizations[-1])
    np.testing.assert_array_equal(np.asarray(lazy.colorizations), eager.colorizations)
    np.testing.assert_array_equal(lazy.ab, eager.ab)


def test_colorize_tensor_is_a_traceable_core(colorizer, photos):
  fn = tf.function(colorizer.colorize_tensor,
                   input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
  for photo in (photos["crop"], photos["imagenet"]):
    rgb, ab, weights = fn(photo[None].astype(np.float32) / 255)
    assert rgb.shape == (1, K) + photo.shape
    expected = colorizer.colorize(photo)
    np.testing.assert_allclose(ab[0], expected.ab, atol=1e-5)
    np.testing.assert_allclose(weights[0], expected.weights, atol=1e-6)
    assert rgb.dtype == tf.uint8  # written straight as uint8 (fullres.join_lightness)
    assert np.abs(rgb[0].numpy().astype(int) - expected.colorizations).max() <= 1


def test_bad_arguments_are_one_line_errors(colorizer, photos):
  photo = photos["face"]
  for kwargs, match in (({"k": 0}, "k must be in"), ({"k": 9}, "k must be in"),
                        ({"k": 2, "samples": 2}, "not both"), ({"samples": 0}, "samples")):
    with pytest.raises(ValueError, match=match):
      colorizer.colorize(photo, **kwargs)
  with pytest.raises(ValueError, match="image 0: float pixels must lie in"):
    colorizer.colorize(photo.astype(np.float32))
  with pytest.raises(ValueError, match="image 0: expected RGB"):
    colorizer.colorize(np.zeros((8, 8, 4), np.uint8))
  # issue 29, row 11: np.array(..., int) of 0..255 values is 8-bit, as uint8 is
  for dtype in (np.int64, np.int32, np.int16):
    np.testing.assert_array_equal(colorizer.colorize(photo.astype(dtype)).colorizations,
                                  colorizer.colorize(photo).colorizations)
  with pytest.raises(ValueError, match=r"image 0: int64 pixels must lie in 0\.\.255 \(got 0 \.\. 300\)"):
    colorizer.colorize(np.full((8, 8, 3), 300, np.int64) * (np.arange(8)[:, None, None] > 0))


def test_load_reads_the_model_directory(model_dir, colorizer, photos, tmp_path):
  loaded = colorize.Colorizer.load(model_dir)
  photo = photos["crop"]
  np.testing.assert_array_equal(loaded.colorize(photo).colorizations,
                                colorizer.colorize(photo).colorizations)
  partial = tmp_path / "partial"
  shutil.copytree(model_dir, partial)
  (partial / "mdn" / "mdn.keras").unlink()
  with pytest.raises(FileNotFoundError) as error:
    colorize.Colorizer.load(partial)
  message = str(error.value)
  assert len(message.splitlines()) == 1
  assert str(partial / "mdn" / "mdn.keras") in message and "divcolor-train-mdn" in message
  (partial / "features" / "trunk.keras").write_text("not a model")
  shutil.copy(model_dir / "mdn" / "mdn.keras", partial / "mdn" / "mdn.keras")
  with pytest.raises(ValueError, match="trunk.keras: cannot load"):
    colorize.Colorizer.load(partial)


# Table 3.

def test_table3_by_hand():
  target = np.zeros((2, 1, 2, 2))
  target[1] = 0.5
  colorizations = np.zeros((2, 2, 1, 2, 2))
  colorizations[0, 0] = 0.2  # image 0: errors .2 and .1 -> best .1
  colorizations[0, 1] = [[[0.1, -0.1], [0.1, 0.1]]]
  colorizations[1, 0] = 0.5  # image 1: exact -> best 0
  colorizations[1, 1] = 0.3
  # Variance across the two colorizations, per pixel and channel, averaged:
  # image 0: values (.2, .1), (.2, -.1), (.2, .1), (.2, .1) -> .0025, .0225, .0025, .0025
  # image 1: (.5, .3) everywhere -> .01
  table = metrics.Table3()
  table.update(target[:1], colorizations[:1])
  table.update(target[1:], colorizations[1:])
  result = table.result()
  assert table.count == 2
  assert result["eob"] == pytest.approx((0.1 + 0.0) / 2)
  assert result["variance"] == pytest.approx(((0.0025 * 3 + 0.0225) / 4 + 0.01) / 2)


def test_evaluate_colorize_scores_top_k_against_the_photos_own_colours(colorizer, lfw_ci,
                                                                      tiny_config):
  paths = data.list_images(str(lfw_ci))[:12]
  rows, count, _ = tables.evaluate_colorize(colorizer, paths, k=K, batch_size=8)
  rows = dict(rows)
  assert count == 12
  model = rows["Ours (this model, top-5 means)"]
  # Independently: the photos' own colour fields, and the top-5 fields decoded from their grey.
  batch = next(iter(data.make_dataset(paths, field_size=64, grey_size=64, batch_size=12)))
  target = batch["colour_field"].numpy()
  assert rows["grey (ab = 0)"]["eob"] == pytest.approx(np.abs(target).mean(), rel=1e-5)
  assert rows["grey (ab = 0)"]["variance"] == 0.0
  fields = colorizer.colour_fields(batch["grey"], batch["lightness"], K)["ab"].numpy()
  per_k = np.abs(target[:, None] - fields).mean(axis=(2, 3, 4))  # [B, K]
  assert model["eob"] == pytest.approx(per_k.min(1).mean(), rel=1e-4)
  assert model["eob"] < per_k[:, 0].mean()  # the best of 5 beats the top-1 alone
  assert model["variance"] == pytest.approx(fields.var(axis=1).mean(), rel=1e-4)
  assert rows["paper (lfw): Ours"] == {"eob": 0.030, "variance": 1.1e-3}
  assert rows["paper (lfw): Ours+skip"] == {"eob": 0.031, "variance": 4.4e-4}
  assert rows["paper (lfw): CVAE"] == {"eob": 0.031, "variance": 1.0e-4}
  assert "training mean field" not in rows  # no stats given


# The command lines.

def _run(args):
  return subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300)


def _errors(stderr, prog):
  return [line for line in stderr.splitlines() if line.startswith(f"{prog}:")]


@pytest.fixture(scope="module")
def evaluate_cli(model_dir, lfw_ci):
  """divcolor-evaluate, started early so that it runs alongside the colorize runs."""
  process = _start(console_script("divcolor-evaluate") + [
      "--model", str(model_dir), "--images", str(lfw_ci), "--max_images", "8", "--k", "3"])
  yield process
  if process.poll() is None:
    process.kill()
    process.communicate()


def test_colorize_cli(model_dir, photos, imagenet_ci, tmp_path, evaluate_cli):
  del evaluate_cli  # only started here (it runs concurrently); checked below
  photo_dir = tmp_path / "in"
  photo_dir.mkdir()
  shutil.copy(sorted(imagenet_ci.glob("*.JPEG"))[0], photo_dir / "val0.JPEG")
  Image.fromarray(photos["crop"]).save(photo_dir / "crop.png")
  (photo_dir / "notes.jpg").write_text("this is a text file, not a photo\n")
  out = tmp_path / "out"
  cli = console_script("divcolor-colorize") + ["--model", str(model_dir)]

  # One photo, samples: every photo succeeds -> exit 0 (run alongside the folder run).
  single_out = tmp_path / "single"
  single_out.mkdir()
  # An older output of this project (another size): --overwrite replaces it (a file it did not
  # write, it would not: tests/inference/test_outputs.py).
  from PIL import PngImagePlugin  # pylint: disable=g-import-not-at-top
  from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top
  older = PngImagePlugin.PngInfo()
  older.add_text(*outputs.MARKER)
  Image.new("RGB", (5, 4)).save(single_out / "crop_1.png", pnginfo=older)
  single = _start(cli + ["--input", str(photo_dir / "crop.png"), "--output", str(single_out),
                         "--samples", "2", "--seed", "3", "--overwrite"])
  first = _run(cli + ["--input", str(photo_dir), "--output", str(out), "--k", "3", "--grid"])
  single = _finish(single)
  assert single.returncode == 0, single.stderr
  assert "colorized 1 of 1" in single.stdout and "seed 3" in single.stdout
  assert np.asarray(Image.open(single_out / "crop_1.png")).shape == photos["crop"].shape
  assert (single_out / "crop_2.png").exists() and not (single_out / "crop_3.png").exists()

  assert first.returncode == 1, first.stderr
  errors = _errors(first.stderr, "divcolor-colorize")
  assert len(errors) == 1 and "notes.jpg" in errors[0], first.stderr
  assert "colorized 2 of 3" in first.stdout
  for stem, photo in (("val0", photos["imagenet"]), ("crop", photos["crop"])):
    for i in (1, 2, 3):
      written = np.asarray(Image.open(out / f"{stem}_{i}.png"))
      assert written.shape == photo.shape
      assert np.abs(_lightness(written) - _lightness(photo)).max() < L_TOLERANCE
    assert np.asarray(Image.open(out / f"{stem}_grid.png")).shape[1] > 4 * 100
  assert not (out / "val0_4.png").exists() and not list(out.glob("notes*"))

  # Existing outputs are kept and counted as done; a new photo in the folder is still written.
  before = (out / "crop_1.png").read_bytes()
  Image.fromarray(photos["face"]).save(photo_dir / "face.png")
  again = _run(cli + ["--input", str(photo_dir), "--output", str(out), "--k", "3"])
  assert again.returncode == 1  # the unreadable file of the folder, as before
  errors = _errors(again.stderr, "divcolor-colorize")
  assert len(errors) == 1, again.stderr
  assert "colorized 1 of 4 photo(s)" in again.stdout and "; 2 skipped (outputs exist" in \
      again.stdout and "; 1 failed" in again.stdout, again.stdout
  assert (out / "crop_1.png").read_bytes() == before and (out / "face_3.png").exists()


def test_evaluate_json_never_replaces_a_file_and_a_bad_path_stops_it_first(model_dir, lfw_ci,
                                                                           tmp_path):
  """issue 47, row 5: --json over a user's file replaced it silently, and a --json into a missing
  folder failed only once the evaluation was done. Now as divcolor-figure, -stats, -export: one
  line and exit 1 unless --overwrite, and a bad path is refused before the evaluation runs."""
  notes = tmp_path / "notes.txt"
  notes.write_text("my notes\n")
  evaluate = console_script("divcolor-evaluate") + [
      "--model", str(model_dir), "--images", str(lfw_ci), "--max_images", "2", "--k", "2"]
  for json_path, problem in ((notes, f"{notes}: exists; pass --overwrite to replace it"),
                             (tmp_path / "missing" / "t.json", "folder"),
                             (notes / "t.json", "is not a folder"),
                             (tmp_path, "names a folder")):
    done = _run(evaluate + ["--json", str(json_path)])
    assert done.returncode == 1, (json_path, done.stderr[-2000:])
    errors = _errors(done.stderr, "divcolor-evaluate")
    assert len(errors) == 1 and str(json_path) in errors[0] and problem in errors[0], done.stderr
    assert "Table 3" not in done.stdout  # refused before the evaluation
  assert notes.read_text() == "my notes\n" and sorted(p.name for p in tmp_path.iterdir()) == [
      "notes.txt"]
  done = _run(evaluate + ["--json", str(notes), "--overwrite"])
  assert done.returncode == 0, done.stderr[-2000:]
  assert json.loads(notes.read_text())["count"] == 2


def test_evaluate_cli_prints_table3(evaluate_cli):
  done = _finish(evaluate_cli)
  assert done.returncode == 0, done.stderr
  lines = done.stdout.splitlines()
  assert "Table 3 on 8 photos" in lines[0]
  assert lines[1] == ("| | error-of-best | variance | chroma ratio | spatial ratio | top-1 error "
                      "| pairwise | colourful best | colourful top-1 | colourful truth |")
  names = [line.split("|")[1].strip() for line in lines[3:] if line.startswith("|")]
  assert names[:6] == ["Ours (this model, top-3 means)", "oracle: best of all 8 means",
                       "re-tinted: top-3 means, each given the true mean colour (the layout's "
                       "error)",
                       "palette-3 (photo-blind)", "training mean field", "grey (ab = 0)"]
  assert "| paper (lfw): Ours | 0.03 | 0.0011 |  |  |  |  |  |  |  |" in lines
