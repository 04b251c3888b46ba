"""divcolor_tf.steer (issue 45): more like one output, a blend of two, colour hints, over the
contract's mixture and decode, on the tiny workdir Colorizer and on the bundled export alike."""

import os

import numpy as np
import pytest
import skimage
from skimage import color as skcolor
from skimage import io as skio

from conftest import ROOT
import divcolor_tf as dc
from divcolor_tf.inference import steer

SKY_BLUE = "#2f6fe0"


@pytest.fixture(scope="module")
def rocket():
  return skio.imread(os.path.join(os.path.dirname(skimage.__file__), "data", "rocket.jpg"))


@pytest.fixture(scope="module")
def bundled():
  return dc.load(ROOT / "saved_models" / "divcolor_imagenet")


def _ab(rgb):
  return skcolor.rgb2lab(rgb)[..., 1:]


def test_the_package_names_steer_without_loading_it_at_import():
  assert dc.steer is steer
  with pytest.raises(AttributeError):
    dc.no_such_name  # pylint: disable=pointless-statement


@pytest.mark.parametrize("kind", ["workdir", "export"])
def test_top_k_and_blend_ends_are_the_colorizations(kind, colorizer, bundled, rocket):
  model = colorizer if kind == "workdir" else bundled
  photo = rocket[:150, :200]
  prepared = steer.prepare(model, photo)
  top = prepared.top_k(4)
  expected = model.colorize(photo, k=4)
  assert top.colorizations.shape == (4,) + photo.shape
  diff = np.abs(top.colorizations.astype(int) - expected.colorizations).max()
  assert diff <= 1, diff
  np.testing.assert_array_equal(top.components, expected.components)
  ends = steer.blend(model, prepared, 1, 3, [0.0, 1.0, 0.5])
  np.testing.assert_array_equal(ends.colorizations[0], top.colorizations[1])
  np.testing.assert_array_equal(ends.colorizations[1], top.colorizations[3])
  np.testing.assert_array_equal(ends.z[2], (0.5 * top.z[1] + 0.5 * top.z[3]).astype(np.float32))
  # through the decoder, not a crossfade of the two ends' pixels
  middle = prepared.fields(ends.z[2:3])[0].numpy()
  np.testing.assert_allclose(ends.ab[2], middle, atol=1e-6)
  assert not np.allclose(middle, (top.ab[1] + top.ab[3]) / 2, atol=1e-3)
  # a code itself is an output too (a previous result's z)
  again = steer.blend(model, photo, top.z[1], top.z[3], 0.0)
  np.testing.assert_array_equal(again.colorizations[0], top.colorizations[1])


def test_sample_around_draws_near_one_output(colorizer, lfw_ci):
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  photo = data.load_rgb(data.list_images(str(lfw_ci))[0])
  prepared = steer.prepare(colorizer, photo)
  top = prepared.top_k(3)
  draws = steer.sample_around(colorizer, prepared, 1, n=6, spread=0.5, seed=3)
  assert draws.colorizations.shape == (6,) + photo.shape
  assert set(draws.components) == {top.components[1]}
  np.testing.assert_array_equal(draws.z, steer.sample_around(colorizer, photo, 1, 6, 0.5, 3).z)
  assert not np.allclose(draws.z, steer.sample_around(colorizer, photo, 1, 6, 0.5, 4).z)
  offsets = (draws.z - top.z[1]) / (0.5 * np.sqrt(colorizer.variance))
  assert 0.7 < offsets.std() < 1.3 and abs(offsets.mean()) < 0.3
  still = steer.sample_around(colorizer, prepared, 1, n=2, spread=0.0)
  np.testing.assert_array_equal(still.colorizations[0], top.colorizations[1])
  for bad in ({"n": 0}, {"spread": -1}):
    with pytest.raises(ValueError):
      steer.sample_around(colorizer, prepared, 0, **bad)
  with pytest.raises(ValueError, match="output 99"):
    steer.sample_around(colorizer, prepared, 99)


def test_a_blue_hint_in_the_sky_turns_it_blue(bundled, rocket):
  """The bundled general model, scikit-image's rocket: a blue hint in the sky moves the hinted
  pixel's ab towards the hint's in every output, and the rest of the photo less."""
  x, y = 200, 160  # the dusk sky, L 29
  prepared = steer.prepare(bundled, rocket)
  top = prepared.top_k(5)
  hinted = steer.with_hints(bundled, prepared, [(x, y, SKY_BLUE)], k=5)
  assert hinted.colorizations.shape == top.colorizations.shape
  np.testing.assert_array_equal(hinted.components, top.components)
  target = steer.hint_ab(SKY_BLUE) * 128
  before = np.abs(_ab(top.colorizations[:, y, x]) - target).mean()
  after = np.abs(_ab(hinted.colorizations[:, y, x]) - target).mean()
  assert after < 0.6 * before, (before, after)
  region = np.s_[:, y - 20:y + 20, x - 20:x + 20]
  b_star = _ab(hinted.colorizations[region])[..., 1].mean()
  assert b_star < _ab(top.colorizations[region])[..., 1].mean() - 5
  # no hints: the top-k means
  np.testing.assert_array_equal(steer.with_hints(bundled, prepared, [], k=5).colorizations,
                                top.colorizations)


def test_hints_and_colorizers_that_cannot_be_steered_are_one_line(colorizer, rocket):
  prepared = steer.prepare(colorizer, rocket[:100, :100])
  for hints, match in (([(500, 5, SKY_BLUE)], "outside the photo"), ([(5, 5, "#12")], "#rrggbb"),
                       ([(5, 5, (300, 0, 0))], r"\[0, 255\]"), ([(5, 5)], r"need \(x, y, rgb\)")):
    with pytest.raises(ValueError, match=match):
      steer.with_hints(colorizer, prepared, hints, k=2)

  class Baseline:  # a colorizer without a mixture over codes (the CVAE, cGAN)
    max_megapixels = 64

  with pytest.raises(ValueError, match="steering needs a mixture"):
    steer.prepare(Baseline(), rocket)
  with pytest.raises(ValueError, match="megapixels"):
    steer.prepare(colorizer.with_settings(max_megapixels=0.001), rocket)


def test_at_size_keeps_the_codes_and_joins_smaller(bundled, rocket):
  prepared = steer.prepare(bundled, rocket)
  small = prepared.at_size(128)
  assert max(small.size) == 128 and small.size == (85, 128)
  top, preview = prepared.top_k(2), small.top_k(2)
  np.testing.assert_array_equal(top.z, preview.z)
  assert preview.colorizations.shape == (2, 85, 128, 3)


def test_hints_trace_once_and_hinted_outputs_blend_to_the_bit(bundled, rocket):
  """The Jacobian is traced once for any number of hints and codes (warm_up traces it, and the
  page's hints pay no trace), and a hinted output is its code's own decode: blending it at t = 0 gives it to the
  bit, also when its field was kept from the hint rather than decoded again."""
  prepared = steer.prepare(bundled, rocket)
  prepared.top_k(3)
  steer.warm_up(bundled, prepared)  # what the page does after its first photo
  one = steer.with_hints(bundled, prepared, [(200, 160, SKY_BLUE)], k=3)
  two = steer.with_hints(bundled, prepared, [(200, 160, SKY_BLUE), (560, 60, SKY_BLUE)], k=2,
                         shared_steps=0)  # every step from each start's own Jacobian
  jacobian = steer._jacobian(bundled)  # pylint: disable=protected-access
  assert jacobian.experimental_get_tracing_count() == 1
  assert one.z.shape == (3, bundled.latent_dim) and two.z.shape == (2, bundled.latent_dim)
  ends = steer.blend(bundled, prepared, one.z[0], one.z[2], [0.0, 1.0])
  np.testing.assert_array_equal(ends.colorizations[0], one.colorizations[0])
  np.testing.assert_array_equal(ends.colorizations[1], one.colorizations[2])
  again = steer.blend(bundled, steer.prepare(bundled, rocket), one.z[0], one.z[1], 0.0)
  np.testing.assert_array_equal(again.colorizations[0], one.colorizations[0])  # decoded anew
