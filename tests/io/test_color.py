"""divcolor_tf.color: parity with scikit-image, graph/tf.data/TFLite equivalence, Zhang's bins."""

import pathlib
import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from skimage import color as skcolor
from skimage import data as skdata

from divcolor_tf import color

PARITY_TOL = 1e-3  # Lab units for rgb_to_lab, [0, 1] sRGB units for lab_to_rgb.


def _rgb_cube(step=5):
  """Every 8-bit sRGB colour with each channel a multiple of `step` (and 255): ~140k colours."""
  v = np.unique(np.r_[np.arange(0, 256, step), 255]) / 255.0
  return np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)


def _lab_grid():
  """A dense Lab grid, in and out of the sRGB gamut, including negative Z (b > 200 (L+16)/116)."""
  lightness = np.linspace(0.0, 100.0, 51)
  ab = np.arange(-128.0, 128.0, 4.0)
  return np.stack(np.meshgrid(lightness, ab, ab, indexing="ij"), -1).reshape(-1, 3)


def _sk_lab2rgb(lab):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # skimage warns about the negative Z values it clamps
    return skcolor.lab2rgb(lab)


def _lfw_photo(lfw_ci):
  path = sorted(pathlib.Path(lfw_ci).rglob("*.jpg"))[0]
  return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0


def _astronaut():
  return skdata.astronaut().astype(np.float32) / 255.0


def test_rgb_to_lab_matches_skimage_on_rgb_cube():
  rgb = _rgb_cube()
  assert len(rgb) > 100_000
  err = np.abs(color.rgb_to_lab(rgb).numpy() - skcolor.rgb2lab(rgb)).max()
  assert err < PARITY_TOL, f"max |Lab error| {err}"


def test_lab_to_rgb_matches_skimage_on_lab_grid():
  lab = _lab_grid()
  fz = (lab[:, 0] + 16.0) / 116.0 - lab[:, 2] / 200.0
  assert (fz < 0).any(), "the grid must exercise skimage's negative-Z clamp"
  expected = _sk_lab2rgb(lab)
  assert ((expected == 0) | (expected == 1)).any(axis=-1).mean() > 0.3, "and out-of-gamut clipping"
  err = np.abs(color.lab_to_rgb(lab).numpy() - expected).max()
  assert err < PARITY_TOL, f"max |sRGB error| {err}"


def test_round_trip_rgb_lab_rgb():
  rgb = _rgb_cube()
  err = np.abs(color.lab_to_rgb(color.rgb_to_lab(rgb)).numpy() - rgb).max()
  assert err < PARITY_TOL, f"max round-trip error {err}"


def test_l_ab_units_and_round_trip(lfw_ci):
  rgb = _lfw_photo(lfw_ci)
  lightness, colour_field = color.rgb_to_l_ab(rgb)
  assert lightness.shape == rgb.shape[:2] + (1,) and colour_field.shape == rgb.shape[:2] + (2,)
  lab = skcolor.rgb2lab(rgb)
  np.testing.assert_allclose(lightness.numpy()[..., 0], lab[..., 0], atol=PARITY_TOL)
  np.testing.assert_allclose(colour_field.numpy(), lab[..., 1:] / 128.0, atol=PARITY_TOL / 128)
  np.testing.assert_allclose(color.l_ab_to_rgb(lightness, colour_field).numpy(), rgb,
                             atol=PARITY_TOL)


@pytest.mark.parametrize("photo", ["astronaut", "lfw"])
def test_real_photo_matches_skimage(photo, lfw_ci):
  rgb = _astronaut() if photo == "astronaut" else _lfw_photo(lfw_ci)
  err = np.abs(color.rgb_to_lab(rgb).numpy() - skcolor.rgb2lab(rgb)).max()
  assert err < PARITY_TOL, f"{photo}: max |Lab error| {err}"


# Each op, on a real photo crop: (function, inputs made from an sRGB image [..., 3]).
_OPS = {
    "rgb_to_lab": (color.rgb_to_lab, lambda rgb: (rgb,)),
    "lab_to_rgb": (color.lab_to_rgb, lambda rgb: (skcolor.rgb2lab(rgb).astype(np.float32)
                                                  + np.float32([0.0, 30.0, -40.0]),)),
    "rgb_to_l_ab": (color.rgb_to_l_ab, lambda rgb: (rgb,)),
    "l_ab_to_rgb": (color.l_ab_to_rgb, lambda rgb: (
        skcolor.rgb2lab(rgb)[..., :1].astype(np.float32),
        skcolor.rgb2lab(rgb)[..., 1:].astype(np.float32) / 128.0)),
    "nearest_bin": (color.nearest_bin, lambda rgb: (
        (skcolor.rgb2lab(rgb)[..., 1:] * 1.5).astype(np.float32),)),  # some off the gamut
    "soft_encode": (color.soft_encode, lambda rgb: (
        skcolor.rgb2lab(rgb)[..., 1:].astype(np.float32),)),
}


@pytest.mark.parametrize("shape", [(3,), (5, 7, 3), (2, 5, 7, 3)], ids=["pixel", "HW", "BHW"])
@pytest.mark.parametrize("name", sorted(_OPS))
def test_eager_equals_tf_data_and_tf_function(name, shape):
  fn, make_inputs = _OPS[name]
  photo = _astronaut()
  rgb = photo[100:100 + 2 * 5 * 7].reshape(-1, 3)[:int(np.prod(shape[:-1]))].reshape(shape)
  inputs = make_inputs(rgb)
  eager = tf.nest.map_structure(lambda t: t.numpy(), fn(*inputs))
  mapped = next(iter(tf.data.Dataset.from_tensors(inputs).map(fn)))
  traced = tf.function(fn, reduce_retracing=True)(*inputs)
  for other in (mapped, traced):
    tf.nest.map_structure(lambda e, o: np.testing.assert_array_equal(e, o.numpy()), eager, other)
  lead = shape[:-1]
  first = tf.nest.flatten(eager)[0]
  assert first.shape[:len(lead)] == lead


def test_tflite_builtin_ops_match(lfw_ci):
  if not hasattr(tf.lite, "Interpreter"):
    try:
      from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
    except ImportError:
      pytest.skip("tf.lite.Interpreter is gone in this TF and ai_edge_litert is not installed")
  else:
    Interpreter = tf.lite.Interpreter  # pylint: disable=invalid-name
  rgb = _lfw_photo(lfw_ci)[93:157, 93:157][None]  # 64 x 64 face centre
  rng = np.random.default_rng(0)
  lab = np.stack([rng.uniform(0, 100, (1, 64, 64)), rng.uniform(-128, 127, (1, 64, 64)),
                  rng.uniform(-128, 127, (1, 64, 64))], -1).astype(np.float32)

  @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32)] * 2)
  def convert(rgb, lab):
    return color.rgb_to_lab(rgb), color.lab_to_rgb(lab)

  converter = tf.lite.TFLiteConverter.from_concrete_functions([convert.get_concrete_function()],
                                                              convert)
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
    interpreter = Interpreter(model_content=converter.convert())
  interpreter.allocate_tensors()
  # A model from concrete functions has no signature runner: inputs and outputs keep the
  # function's order.
  for detail, value in zip(interpreter.get_input_details(), (rgb, lab)):
    interpreter.set_tensor(detail["index"], value)
  interpreter.invoke()
  lab_out, rgb_out = (interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details())
  assert np.abs(lab_out - skcolor.rgb2lab(rgb)).max() < PARITY_TOL
  assert np.abs(rgb_out - _sk_lab2rgb(lab)).max() < PARITY_TOL


def test_ab_bins_are_zhangs_313_in_order(color_prior):
  bins = color.ab_bins()
  assert bins.shape == (313, 2) and bins.dtype == np.float32
  np.testing.assert_array_equal(bins % 10, 0)
  np.testing.assert_array_equal(bins, np.load(color_prior / "pts_in_hull.npy"))


def _brute_force_nearest(ab):
  bins = color.ab_bins().astype(np.float64)
  return np.argmin(((ab[:, None, :].astype(np.float64) - bins[None]) ** 2).sum(-1), -1)


def test_nearest_bin_matches_brute_force_on_photo_pixels(lfw_ci):
  ab = skcolor.rgb2lab(_lfw_photo(lfw_ci))[..., 1:].astype(np.float32)
  got = color.nearest_bin(ab).numpy()
  assert got.shape == ab.shape[:-1] and got.dtype == np.int32
  np.testing.assert_array_equal(got.reshape(-1), _brute_force_nearest(ab.reshape(-1, 2)))


def test_nearest_bin_out_of_gamut_matches_brute_force():
  # Scaled-up photo chroma leaves the gamut: these take the all-bins comparison path.
  ab = (skcolor.rgb2lab(_astronaut()[::8, ::8])[..., 1:] * 2.5).reshape(-1, 2).astype(np.float32)
  ab = np.concatenate([ab, [[200.0, -300.0], [-127.0, 127.0], [127.0, 127.0]]]).astype(np.float32)
  bins = set(map(tuple, color.ab_bins().astype(int).tolist()))
  rounded = (np.round(ab / 10) * 10).astype(int).tolist()
  assert sum(tuple(r) not in bins for r in rounded) > 50, "too few points off the 313 bins"
  np.testing.assert_array_equal(color.nearest_bin(ab).numpy(), _brute_force_nearest(ab))


def test_bin_centre_maps_to_itself():
  np.testing.assert_array_equal(color.nearest_bin(color.ab_bins()).numpy(), np.arange(313))


def test_soft_encode_sums_to_one_with_k_nonzeros(lfw_ci):
  ab = skcolor.rgb2lab(_lfw_photo(lfw_ci)[::5, ::5])[..., 1:].astype(np.float32)
  for k in (1, 5, 10):
    enc = color.soft_encode(ab, k=k).numpy()
    assert enc.shape == ab.shape[:-1] + (313,)
    np.testing.assert_allclose(enc.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal((enc > 0).sum(-1), k)


def test_soft_encode_by_hand():
  bins = color.ab_bins()
  index = {tuple(b): i for i, b in enumerate(bins.astype(int).tolist())}
  # (0, 3): squared distances 9 to (0, 0), 49 to (0, 10), 109 to (-10, 0) and (10, 0).
  enc = color.soft_encode([0.0, 3.0], k=4, sigma=5.0).numpy()
  w = np.exp(-np.array([9.0, 49.0, 109.0, 109.0]) / (2 * 25.0))
  w /= w.sum()
  for centre, weight in zip([(0, 0), (0, 10), (-10, 0), (10, 0)], w):
    assert enc[index[centre]] == pytest.approx(weight, rel=1e-5)
  # Halfway between two bins: equal halves.
  enc = color.soft_encode([[0.0, 5.0]], k=2).numpy()[0]
  assert enc[index[(0, 0)]] == pytest.approx(0.5) and enc[index[(0, 10)]] == pytest.approx(0.5)


def test_soft_encode_bin_centre_peaks_on_its_bin():
  enc = color.soft_encode(color.ab_bins()).numpy()
  np.testing.assert_array_equal(enc.argmax(-1), np.arange(313))


def test_far_out_of_gamut_soft_encode_is_finite():
  enc = color.soft_encode([[500.0, -500.0]]).numpy()
  assert np.isfinite(enc).all() and enc.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("fn, arg", [(color.rgb_to_lab, np.zeros((4, 2))),
                                     (color.lab_to_rgb, np.zeros((4, 4))),
                                     (color.nearest_bin, np.zeros((4, 3)))])
def test_wrong_channel_count_is_a_clear_error(fn, arg):
  with pytest.raises(ValueError, match=r"color\.py: .* expects shape \[\.\.\., \d\]"):
    fn(arg)
