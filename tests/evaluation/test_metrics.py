"""The evaluation protocols (Tables 1-3) pinned on hand-computed cases."""

import numpy as np
import pytest

from divcolor_tf.evaluation import metrics


def test_grid_is_centred_and_uniform():
  np.testing.assert_array_equal(metrics.grid_positions(64), [4, 12, 20, 28, 36, 44, 52, 60])
  np.testing.assert_array_equal(metrics.grid_positions(16), [1, 3, 5, 7, 9, 11, 13, 15])


def test_absolute_error_by_hand():
  target = np.zeros((1, 2, 2, 2))
  pred = np.zeros((1, 2, 2, 2))
  pred[0, 0, 0] = [0.2, -0.4]  # |.|: 0.2 and 0.4 -> pixel mean 0.3
  pred[0, 1, 1] = [0.1, 0.1]  # pixel mean 0.1
  assert metrics.absolute_error(target, pred)[0] == pytest.approx((0.3 + 0.1) / 4)
  w = np.array([[[10.0, 1.0], [1.0, 2.0]]])
  assert metrics.absolute_error(target, pred, w)[0] == pytest.approx((3.0 + 0.2) / 4)


def test_grid_error_reads_only_grid_pixels():
  target = np.zeros((1, 64, 64, 2))
  pred = np.zeros((1, 64, 64, 2))
  pred[0, 0, :, :] = 1.0  # row 0 is off the grid
  assert metrics.absolute_error(target, pred, grid=True)[0] == 0.0
  pred[0, 4, 12, :] = 0.64  # one grid pixel of 64
  assert metrics.absolute_error(target, pred, grid=True)[0] == pytest.approx(0.01)


def test_error_of_best_and_variance_by_hand():
  target = np.zeros((1, 1, 1, 2))
  colorizations = np.array([[[[[0.5, 0.5]]], [[[0.1, -0.1]]], [[[0.3, 0.3]]]]])  # [1,3,1,1,2]
  best, index = metrics.error_of_best(target, colorizations)
  assert best[0] == pytest.approx(0.1) and index[0] == 1
  # channel a: values .5 .1 .3 -> var .026667; channel b: .5 -.1 .3 -> var .062222
  assert metrics.diversity_variance(colorizations)[0] == pytest.approx((0.0266667 + 0.0622222) / 2,
                                                                      rel=1e-4)


def test_table12_accumulates_over_batches():
  t = metrics.Table12()
  a = np.zeros((2, 64, 64, 2))
  t.update(a, a + 0.1, np.ones((2, 64, 64)))
  t.update(a[:1], a[:1] + 0.4, 2 * np.ones((1, 64, 64)))
  r = t.result()
  assert t.count == 3
  assert r["abs_all"] == pytest.approx(0.2) and r["abs_grid"] == pytest.approx(0.2)
  assert r["weighted_all"] == pytest.approx((0.1 + 0.1 + 0.8) / 3)


def test_markdown_table():
  text = metrics.markdown_table([("model", {"a": 0.03123, "b": 2.0})], ["a", "b"], ["A", "B"])
  assert text.splitlines() == ["| | A | B |", "|---|---|---|", "| model | 0.0312 | 2 |"]


def test_colourfulness_of_grey_one_colour_and_two_colour_images():
  grey = np.broadcast_to(np.linspace(0, 255, 16)[:, None, None], (16, 16, 3))
  assert metrics.colourfulness(grey) == 0.0  # R = G = B: rg = yb = 0 everywhere
  red = np.zeros((4, 4, 3))
  red[..., 0] = 255.0  # rg = 255, yb = 127.5 everywhere: no spread, only the mean term
  assert metrics.colourfulness(red) == pytest.approx(0.3 * np.hypot(255.0, 127.5))
  halves = red.copy()
  halves[2:] = [0.0, 0.0, 255.0]  # half red; half blue: rg = 0, yb = -255
  # rg: values 255 and 0 -> mean 127.5, std 127.5; yb: 127.5 and -255 -> mean -63.75, std 191.25
  expected = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, -63.75)
  assert metrics.colourfulness(halves) == pytest.approx(expected)
  batch = np.stack([grey[:4, :4], red, halves])  # [..., H, W, 3] -> [...]
  np.testing.assert_allclose(metrics.colourfulness(batch), [0.0, 0.3 * np.hypot(255.0, 127.5),
                                                            expected])
  with pytest.raises(ValueError, match=r"\[..., H, W, 3\]"):
    metrics.colourfulness(np.zeros((4, 4, 2)))


def test_mean_pairwise_distance_by_hand():
  fields = np.zeros((2, 3, 2, 2, 2))
  fields[0, 1, ..., 0] = 0.1  # photo 0: a = 0, .1, .4; b = 0 -> |.| per pixel (mean of a and b):
  fields[0, 2, ..., 0] = 0.4  # .05 (0-1), .2 (0-2), .15 (1-2)
  fields[1] = 0.3  # photo 1: three equal fields
  np.testing.assert_allclose(metrics.mean_pairwise_distance(fields),
                             [(0.05 + 0.2 + 0.15) / 3, 0.0])
  assert metrics.mean_pairwise_distance(fields[:, :1]).tolist() == [0.0, 0.0]  # one field: no pair


def test_table3_colourfulness_columns_join_each_photos_lightness():
  from divcolor_tf.evaluation import tables  # pylint: disable=g-import-not-at-top (TensorFlow)
  target = np.zeros((2, 2, 2, 2), np.float32)
  target[:, 0, :, 0] = 0.5  # the truth: red on the top row
  colorizations = np.zeros((2, 2, 2, 2, 2), np.float32)
  colorizations[:, 1] = target  # the second one is exact (the best), the first is grey
  lightness = np.stack([np.full((2, 2, 1), 40.0), np.full((2, 2, 1), 70.0)]).astype(np.float32)

  def to_srgb(fields):
    return tables.field_srgb(lightness, fields)

  table = metrics.Table3()
  table.update(target, colorizations, to_srgb)
  result = table.result()
  truth = metrics.colourfulness(to_srgb(target[:, None])[:, 0])  # each photo with its own L
  assert truth[0] != pytest.approx(truth[1]) and truth.min() > 10
  assert result["colourful_best"] == pytest.approx(truth.mean(), rel=1e-6)
  assert result["colourful_truth"] == pytest.approx(truth.mean(), rel=1e-6)
  assert result["colourful_top1"] == pytest.approx(0.0, abs=1e-2)  # grey, to float rounding
  assert result["pairwise"] == pytest.approx(0.5 / 2 / 2)  # half the pixels differ by .5 in a
  plain = metrics.Table3()
  plain.update(target, colorizations)  # without a join: no colourfulness columns
  assert not set(metrics.Table3.COLOURFUL) & set(plain.result())
