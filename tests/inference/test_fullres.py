"""The full-resolution step (fullres.join_lightness): strips, the cheaper gamut fit, the pixel
budget, and the same outputs from the Python API, the SavedModel and the command line.

The colour fields are the tiny models' (tests/tiny_models.py: saturated, so that many pixels are
out of the sRGB gamut and the fit is exercised), decoded from real photos, and the same fields
scaled down (mostly in gamut, as a trained model's are).
"""

import subprocess

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import console_script
from conftest import tool_env
from divcolor_tf import color
from divcolor_tf import colorize
from divcolor_tf.inference import fullres
from divcolor_tf import data
from divcolor_tf import export
from divcolor_tf.io import photos as photos_lib
from divcolor_tf.inference import saved_model

M = 8  # the tiny config's components


@pytest.fixture(scope="module")
def photos(imagenet_ci, lfw_ci, church_demo):
  """Real photos of three sizes: ImageNet-val 227x227, an LFW face 250x250, a church 256x256, and
  a non-square crop (161x217)."""
  imagenet = data.load_rgb(sorted(imagenet_ci.glob("*.JPEG"))[0])
  return {
      "imagenet": imagenet,
      "face": data.load_rgb(sorted(lfw_ci.rglob("*.jpg"))[0]),
      "church": data.load_rgb(sorted(church_demo.glob("*.png"))[0]),
      "crop": np.ascontiguousarray(imagenet[20:181, 5:222]),
  }


def _fields(colorizer, photo, k=M):
  """L [1, H, W, 1] of a photo and its k colour fields [1, k, F, F, 2] from the tiny models."""
  lightness = colorizer.lightness(photo[None])
  fields = colorizer.colour_fields(colorizer.squash(lightness, colorizer.grey_size),
                                   colorizer.squash(lightness, colorizer.field_size), k)["ab"]
  return lightness, fields


def _previous_join(lightness, colour_fields, gamut):
  """The join as it was before the strips, kept as the reference: the whole photo upsampled with
  tf.image.resize, color.fit_chroma (12 bisection steps on every out-of-gamut pixel) and
  color.l_ab_to_rgb in float32, then rounded to uint8."""
  b, h, w = lightness.shape[:3]
  k, f = colour_fields.shape[1:3]
  ab = tf.image.resize(tf.reshape(colour_fields, [b * k, f, f, 2]), [h, w], method="bilinear")
  ab = tf.reshape(ab, [b, k, h, w, 2])
  l = tf.broadcast_to(lightness[:, None], [b, k, h, w, 1])
  if gamut == "chroma":
    ab = color.fit_chroma(l, ab)
  return photos_lib.to_uint8(color.l_ab_to_rgb(l, ab).numpy())


def test_join_matches_the_previous_path(colorizer, photos):
  specs = [tf.TensorSpec([None, None, None, 1], tf.float32),
           tf.TensorSpec([None, None, None, None, 2], tf.float32)]
  joins = {(gamut, fused): tf.function(
      lambda l, f, gamut=gamut, fused=fused: fullres.join_lightness(l, f, gamut, fused=fused),
      input_signature=specs) for gamut in ("chroma", "clip") for fused in (False, True)}
  for name, photo in photos.items():
    lightness, saturated = _fields(colorizer, photo)
    for scale in (1.0, 0.3):
      fields = saturated * scale
      upsampled = tf.image.resize(fields[0], photo.shape[:2])
      outside = 1.0 - color.in_gamut(tf.broadcast_to(lightness, upsampled.shape[:3] + (1,)),
                                     upsampled).numpy().mean()
      assert outside > (0.3 if scale == 1.0 else 0.002), (name, scale)  # the fit has work
      for (gamut, fused), join in joins.items():  # fused: XLA (the Python colorizers' path)
        expected = _previous_join(lightness, fields, gamut)
        got = join(lightness, fields).numpy()
        assert got.dtype == np.uint8 and got.shape == expected.shape == (1, M) + photo.shape
        levels = np.abs(got.astype(int) - expected).max(axis=-1)
        # Measured: 1 level on 0.001-0.007% of the pixels (float32 rounding), never more.
        assert (levels <= 2).mean() >= 0.99 and levels.max() <= 2, (name, scale, gamut, fused)
        assert (levels > 0).mean() < 0.001, (name, scale, gamut, fused)


def test_strips_are_seam_free(colorizer, photos):
  """Strips of 7 rows (many strips: the tf.while_loop) give the photo in one strip (unrolled)."""
  lightness, fields = _fields(colorizer, photos["crop"], k=3)
  whole = fullres.join_lightness(lightness, fields, strip_rows=lightness.shape[1]).numpy()
  strips = tf.function(lambda l, f: fullres.join_lightness(l, f, strip_rows=7))(
      lightness, fields).numpy()
  assert np.abs(strips.astype(int) - whole).max() <= 1
  # The strip boundaries (rows 7, 14, ...) are no different from the other rows.
  np.testing.assert_array_equal(strips[:, :, 6:8], whole[:, :, 6:8])


def test_lightness_in_strips_is_rgb_to_lab(photos):
  """uint8 or float, in strips of 7 rows or whole: rgb_to_lab's L to the last bit or two (the
  matmul's last few pixels of a strip may round differently)."""
  photo = photos["crop"]
  expected = color.rgb_to_lab(photo.astype(np.float32) / 255.0)[None, ..., :1].numpy()
  for rgb in (photo[None], photo[None].astype(np.float32) / 255.0):
    for strip_rows in (7, None):
      in_strips = tf.function(lambda x, rows=strip_rows: fullres.photo_lightness(x, rows))(rgb)
      np.testing.assert_allclose(in_strips.numpy(), expected, rtol=1e-6, atol=1e-5)


def test_fitted_colours_are_in_gamut_and_keep_lightness(colorizer, photos):
  photo = photos["church"]
  lightness, fields = _fields(colorizer, photo, k=2)
  out = fullres.join_lightness(lightness, fields).numpy()[0]
  for image in out:
    lab = color.rgb_to_lab(image.astype(np.float32) / 255.0).numpy()
    assert np.abs(lab[..., 0] - lightness[0, ..., 0].numpy()).max() < 1.0
    assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 10  # really coloured


def test_pixel_budget_is_a_one_line_error_naming_the_photo(colorizer, photos, tiny_config):
  photo = photos["imagenet"]  # 227 x 227 = 0.05 megapixels
  small = colorize.Colorizer(colorizer.trunk, colorizer.mdn, colorizer.decoder, tiny_config,
                             max_megapixels=0.05)
  assert colorizer.max_megapixels == fullres.MAX_MEGAPIXELS
  with pytest.raises(ValueError) as error:
    small.colorize([photos["crop"], photo], k=2)
  message = str(error.value)
  assert len(message.splitlines()) == 1
  assert message.startswith("image 1: 227x227 pixels (0.0515 megapixels) is over the limit")
  assert "limit of 0.05 megapixels" in message
  assert small.colorize(photos["crop"], k=2).colorizations.shape == (2, 161, 217, 3)
  unlimited = colorize.Colorizer(colorizer.trunk, colorizer.mdn, colorizer.decoder, tiny_config,
                                 max_megapixels=0)
  assert unlimited.colorize(photo, k=1).colorizations.shape == (1, 227, 227, 3)
  with pytest.raises(ValueError, match="max_megapixels must be >= 0"):
    colorize.Colorizer(colorizer.trunk, colorizer.mdn, colorizer.decoder, tiny_config,
                       max_megapixels=-1)


@pytest.fixture(scope="module")
def exported(colorizer, tmp_path_factory):
  """The tiny model exported with strips of a few rows (STRIP_PIXELS is read when the signatures
  are traced), so that serving_default runs its strip loop on these small photos."""
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(fullres, "STRIP_PIXELS", 5000)  # ~22 rows of a 227-wide photo
    return export.export_saved_model(colorizer, tmp_path_factory.mktemp("sm") / "tiny")


def test_saved_model_gives_the_python_paths_outputs(exported, colorizer, photos):
  loaded = colorize.load(exported, max_megapixels=0.05)
  assert isinstance(loaded, saved_model.SavedModelColorizer)
  serve = tf.saved_model.load(exported).signatures["serving_default"]
  for name in ("imagenet", "crop"):
    photo = photos[name]
    expected = colorizer.colorize(photo, k=M)
    served = serve(image=tf.constant(photo[None]))
    assert served["colorizations"].dtype == tf.uint8
    assert np.abs(served["colorizations"][0].numpy().astype(int)
                  - expected.colorizations).max() <= 1, name
    np.testing.assert_allclose(served["ab"][0], expected.ab, atol=2e-4)  # the tiny gain: 2e4
    if name == "imagenet":  # 0.05 megapixels < 227 x 227
      with pytest.raises(ValueError, match="image 0: 227x227 pixels .* limit of 0.05"):
        loaded.colorize(photo, k=3)
      continue
    top = loaded.colorize(photo, k=3)
    assert np.abs(top.colorizations.astype(int) - expected.colorizations[:3]).max() <= 1
    np.testing.assert_array_equal(top.components, expected.components[:3])
    drawn, reference = loaded.colorize(photo, samples=2, seed=5), colorizer.colorize(
        photo, samples=2, seed=5)
    np.testing.assert_array_equal(drawn.components, reference.components)
    assert np.abs(drawn.colorizations.astype(int) - reference.colorizations).max() <= 1


def test_cli_max_megapixels(exported, photos, tmp_path):
  photo_dir = tmp_path / "in"
  photo_dir.mkdir()
  Image.fromarray(photos["imagenet"]).save(photo_dir / "big.png")  # 0.052 megapixels
  Image.fromarray(photos["crop"]).save(photo_dir / "small.png")  # 0.035 megapixels
  out = subprocess.run(console_script("divcolor-colorize") + [
      "--model", str(exported), "--input", str(photo_dir), "--output", str(tmp_path / "out"),
      "--k", "2", "--max_megapixels", "0.04"], capture_output=True, text=True, env=tool_env(),
                       timeout=300)
  assert out.returncode == 1, out.stderr
  errors = [line for line in out.stderr.splitlines() if line.startswith("divcolor-colorize:")]
  assert len(errors) == 1, out.stderr
  assert "big.png" in errors[0] and "limit of 0.04 megapixels" in errors[0]
  assert "colorized 1 of 2" in out.stdout
  assert (tmp_path / "out" / "small_2.png").exists() and not list((tmp_path / "out").glob("big*"))
