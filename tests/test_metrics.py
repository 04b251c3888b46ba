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
