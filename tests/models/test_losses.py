"""Tests for divcolor_tf.losses: each equation pinned against numbers computed by hand.

The expected values come from explicit loops over tiny hand-made arrays (and, where noted, from
arithmetic written out in the comments), never from the vectorised code under test.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from divcolor_tf import color
from divcolor_tf import config as config_lib
from divcolor_tf import losses


def _loss_config(**overrides):
  c = config_lib.base_config().loss
  c.update(overrides)
  return c


def _photo_fields(paths, size=64):
  """Real photos -> colour fields [N, size, size, 2] (ab/128), with skimage's Lab (D65)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from skimage import color as skcolor  # pylint: disable=g-import-not-at-top
  fields = []
  for path in paths:
    rgb = np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR))
    fields.append(skcolor.rgb2lab(rgb)[..., 1:] / 128.0)
  return np.stack(fields).astype(np.float32)


# Two 2x2 colour fields (B=2, H=W=2, channels a, b) and a weight per pixel.
TARGET = np.array([
    [[[0.1, -0.2], [0.3, 0.0]], [[-0.5, 0.4], [0.2, 0.2]]],
    [[[0.0, 0.0], [0.6, -0.6]], [[0.1, 0.1], [-0.3, 0.5]]],
], np.float64)
PRED = np.array([
    [[[0.0, 0.0], [0.1, 0.1]], [[-0.1, 0.1], [0.2, -0.2]]],
    [[[0.3, -0.1], [0.0, 0.0]], [[0.1, 0.4], [0.0, 0.0]]],
], np.float64)
PIXEL_W = np.array([[[1.0, 2.0], [0.5, 4.0]], [[3.0, 1.0], [1.0, 0.25]]], np.float64)


def _hist_by_loops(target, pred, w):
  out = []
  for b in range(target.shape[0]):
    total = 0.0
    for i in range(target.shape[1]):
      for j in range(target.shape[2]):
        da = target[b, i, j, 0] - pred[b, i, j, 0]
        db = target[b, i, j, 1] - pred[b, i, j, 1]
        total += w[b, i, j] * (da * da + db * db)
    out.append(total)
  return np.array(out)


def test_hist_loss_squared_and_sqrt_by_hand():
  # Example 0 written out: 1*(.01+.04) + 2*(.04+.01) + .5*(.16+.09) + 4*(0+.16) = .915
  expected = _hist_by_loops(TARGET, PRED, PIXEL_W)
  assert expected[0] == pytest.approx(0.915)
  squared = losses.hist_loss(TARGET, PRED, PIXEL_W).numpy()
  np.testing.assert_allclose(squared, expected, rtol=1e-12)
  root = losses.hist_loss(TARGET, PRED, PIXEL_W, norm="sqrt").numpy()
  np.testing.assert_allclose(root, np.sqrt(expected), rtol=1e-12)


def test_hist_loss_sqrt_has_finite_gradient_at_a_perfect_reconstruction():
  pred = tf.Variable(TARGET)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(losses.hist_loss(TARGET, pred, PIXEL_W, norm="sqrt"))
  grad = tape.gradient(loss, pred).numpy()
  assert loss.numpy() == 0.0
  assert np.all(np.isfinite(grad))


def test_hist_loss_rejects_unknown_norm():
  with pytest.raises(ValueError, match="hist_norm"):
    losses.hist_loss(TARGET, PRED, PIXEL_W, norm="l1")


def test_l2_loss_by_hand_and_equals_hist_with_unit_weights():
  expected = _hist_by_loops(TARGET, PRED, np.ones_like(PIXEL_W))
  np.testing.assert_allclose(losses.l2_loss(TARGET, PRED).numpy(), expected, rtol=1e-12)
  np.testing.assert_allclose(
      losses.hist_loss(TARGET, PRED, np.ones_like(PIXEL_W)).numpy(), expected, rtol=1e-12)


def test_l2_equals_hist_with_unit_weights_on_real_faces(lfw_ci):
  paths = sorted(lfw_ci.glob("*/*.jpg"))[:6]
  fields = _photo_fields(paths)
  target, pred = fields[:3], fields[3:]  # one face's colours against another's
  ones = np.ones(target.shape[:-1], np.float32)
  l2 = losses.l2_loss(target, pred).numpy()
  assert np.all(l2 > 1.0)  # different faces: a real, non-trivial error
  np.testing.assert_allclose(losses.hist_loss(target, pred, ones).numpy(), l2, rtol=1e-6)


def test_pixel_weights_pick_the_weight_of_the_nearest_bin():
  centres = np.asarray(color.ab_bins(), np.float64)  # (313, 2), Lab units
  table = np.arange(313, dtype=np.float64) * 0.5 + 1.0  # a distinct weight per bin
  picks = [[0, 100], [200, 312]]
  # Pixels at bin centres, and the same centres moved 3 Lab units (bins are 10 apart).
  field = np.array([[centres[k] for k in row] for row in picks]) / color.AB_SCALE
  shifted = field + np.array([3.0, -3.0]) / color.AB_SCALE
  weights = losses.pixel_weights(np.stack([field, shifted]), table).numpy()
  expected = np.array([[table[k] for k in row] for row in picks])
  np.testing.assert_allclose(weights[0], expected)
  np.testing.assert_allclose(weights[1], expected)


def test_pixel_weights_on_a_real_face_match_a_brute_force_lookup(lfw_ci, color_prior):
  field = _photo_fields(sorted(lfw_ci.glob("*/*.jpg"))[:1], size=16)
  prior = np.load(color_prior / "prior_probs.npy")
  centres = np.load(color_prior / "pts_in_hull.npy").astype(np.float64)
  table = (1.0 / prior).astype(np.float32)  # the authors' raw 1/p weights
  weights = losses.pixel_weights(field, table).numpy()
  for i in range(16):
    for j in range(16):
      ab = field[0, i, j].astype(np.float64) * 128.0
      nearest = np.argmin([np.sum((ab - c) ** 2) for c in centres])
      assert weights[0, i, j] == pytest.approx(table[nearest], rel=1e-6)


# L_mah on H = W = 2 (D = 8): two orthonormal components written by hand.
SQRT_HALF = 1.0 / math.sqrt(2.0)
COMPONENTS = np.array([
    [SQRT_HALF, SQRT_HALF, 0, 0, 0, 0, 0, 0],  # a at pixels (0,0) and (0,1), channel-major
    [0, 0, 0, 0, 1, 0, 0, 0],  # b at pixel (0,0)
], np.float64)
VARIANCES = np.array([4.0, 0.25])


def _mah_by_loops(target, pred, components, variances):
  out = []
  for b in range(target.shape[0]):
    r = []
    for c in range(2):  # [a.ravel(), b.ravel()]
      for i in range(target.shape[1]):
        for j in range(target.shape[2]):
          r.append(target[b, i, j, c] - pred[b, i, j, c])
    r = np.array(r)
    total = 0.0
    res = r.copy()
    for k in range(len(variances)):
      proj = sum(components[k, d] * r[d] for d in range(len(r)))
      total += proj * proj / variances[k]
      for d in range(len(r)):
        res[d] -= proj * components[k, d]
    total += sum(x * x for x in res) / variances[-1]
    out.append(total)
  return np.array(out)


def test_mahalanobis_loss_by_hand_including_the_residual():
  # C - f: a = [[1, 2], [3, 4]], b = [[5, 6], [7, 8]], so r = [1..8] channel-major.
  diff = np.stack([np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0, 6.0], [7.0, 8.0]])], -1)
  target, pred = diff[None], np.zeros_like(diff[None])
  # r.P1 = 3/sqrt(2): 4.5 / 4 = 1.125.  r.P2 = 5: 25 / 0.25 = 100.
  # residual = (-.5, .5, 3, 4, 0, 6, 7, 8): 174.5 / 0.25 (the LAST variance) = 698.
  value = losses.mahalanobis_loss(target, pred, COMPONENTS, VARIANCES).numpy()
  np.testing.assert_allclose(value, [1.125 + 100.0 + 698.0], rtol=1e-12)
  # The interleaved layout (a00, b00, a01, b01, ...) would give 4.5 + 36 + 708 = 748.5.
  assert abs(value[0] - 748.5) > 1.0
  along, outside = losses.mahalanobis_parts(target, pred, COMPONENTS, VARIANCES)
  np.testing.assert_allclose(along.numpy(), [101.125], rtol=1e-12)
  np.testing.assert_allclose(outside.numpy(), [698.0], rtol=1e-12)


def test_mahalanobis_loss_matches_loops_on_general_fields():
  expected = _mah_by_loops(TARGET, PRED, COMPONENTS, VARIANCES)
  value = losses.mahalanobis_loss(TARGET, PRED, COMPONENTS, VARIANCES).numpy()
  np.testing.assert_allclose(value, expected, rtol=1e-12)


def test_mahalanobis_loss_rejects_components_of_the_wrong_size():
  with pytest.raises(ValueError, match="D=8"):
    losses.mahalanobis_loss(TARGET, PRED, np.eye(2, 12), VARIANCES)
  with pytest.raises(ValueError, match="2 components but 3 variances"):
    losses.mahalanobis_loss(TARGET, PRED, COMPONENTS, np.ones(3))


def test_mahalanobis_loss_with_the_authors_pca_on_real_faces(lfw_ci, color_prior):
  pcomp = color_prior / "divcolor_pcomp" / "lfw"
  components = np.load(pcomp / "components.mat.npy").astype(np.float64)
  variances = np.load(pcomp / "exp_variance.mat.npy").astype(np.float64)
  fields = _photo_fields(sorted(lfw_ci.glob("*/*.jpg"))[:2]).astype(np.float64)
  target, pred = fields[:1], fields[1:]
  r = np.concatenate([(target - pred)[0, ..., 0].ravel(), (target - pred)[0, ..., 1].ravel()])
  proj = components @ r
  res = r - components.T @ proj
  expected = np.sum(proj ** 2 / variances) + np.sum(res ** 2) / variances[-1]
  value = losses.mahalanobis_loss(target, pred, components, variances).numpy()
  np.testing.assert_allclose(value, [expected], rtol=1e-9)
  assert losses.mahalanobis_loss(target, target, components, variances).numpy()[0] == 0.0


def test_grad_loss_by_hand():
  # 3x3 field; only channel a differs, by e; channel b of pred is shifted by a constant, which
  # changes no difference and must cost nothing.
  e = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 0.0], [1.0, -1.0, 0.5]])
  target = np.zeros((1, 3, 3, 2))
  target[0, ..., 0] = e
  pred = np.zeros((1, 3, 3, 2))
  pred[0, ..., 1] = 0.7
  expected = 0.0
  for i in range(3):
    for j in range(3):
      if j + 1 < 3:
        expected += (e[i, j + 1] - e[i, j]) ** 2
      if i + 1 < 3:
        expected += (e[i + 1, j] - e[i, j]) ** 2
  # Rows: 1+4, 0+4, 4+2.25; columns: 4+1, 1+9, 9+0.25.
  assert expected == pytest.approx(5 + 4 + 6.25 + 5 + 10 + 9.25)
  np.testing.assert_allclose(losses.grad_loss(target, pred).numpy(), [expected], rtol=1e-12)


def test_kl_loss_by_hand_and_zero_at_the_prior():
  mean = np.array([[0.5, -1.0, 0.0], [0.0, 0.0, 0.0]])
  log_var = np.array([[0.0, math.log(2.0), -1.0], [0.0, 0.0, 0.0]])
  expected = []
  for b in range(2):
    total = 0.0
    for j in range(3):
      total += 0.5 * (mean[b, j] ** 2 + math.exp(log_var[b, j]) - log_var[b, j] - 1.0)
    expected.append(total)
  value = losses.kl_loss(mean, log_var).numpy()
  np.testing.assert_allclose(value, expected, rtol=1e-12)
  assert value[1] == 0.0


def test_decoder_loss_weights_the_terms():
  cfg = _loss_config(hist_factor=1.0, mah_factor=0.1, grad_factor=1e-3, hist_norm="squared")
  table = np.linspace(1.0, 3.0, 313)
  terms = losses.decoder_loss(TARGET, PRED, weights=table, components=COMPONENTS,
                              variances=VARIANCES, loss_config=cfg)
  assert set(terms) == {"hist", "mah", "grad", "decoder"}
  hist = _hist_by_loops(TARGET, PRED, losses.pixel_weights(TARGET, table).numpy())
  mah = _mah_by_loops(TARGET, PRED, COMPONENTS, VARIANCES)
  grad = losses.grad_loss(TARGET, PRED).numpy()
  np.testing.assert_allclose(terms["hist"].numpy(), hist, rtol=1e-12)
  np.testing.assert_allclose(terms["mah"].numpy(), mah, rtol=1e-12)
  np.testing.assert_allclose(terms["decoder"].numpy(), hist + 0.1 * mah + 1e-3 * grad,
                             rtol=1e-12)


def test_the_all_terms_ablation_is_the_papers_loss_after_any_recipe():
  terms = ("hist_factor", "mah_factor", "grad_factor", "colourfulness")
  paper = config_lib.base_config().loss
  assert (paper.hist_factor, paper.mah_factor, paper.grad_factor) == (1.0, 0.1, 1e-3)  # Eq. 2-4
  assert config_lib.apply_variants(config_lib.base_config(), "cpu_skip").loss.mah_factor == 0.0
  for variants in ("all", "cpu_skip,all", "cpu,l2,all", "mah,all"):
    loss = config_lib.apply_variants(config_lib.base_config(), variants).loss
    assert {k: loss[k] for k in terms} == {k: paper[k] for k in terms}, variants


def test_decoder_loss_skips_zero_factor_terms():
  l2_only = _loss_config(**config_lib.ABLATIONS["l2"])
  terms = losses.decoder_loss(TARGET, PRED, weights=None, components=None, variances=None,
                              loss_config=l2_only)
  assert set(terms) == {"hist", "decoder"}
  np.testing.assert_allclose(terms["decoder"].numpy(), losses.l2_loss(TARGET, PRED).numpy())

  mah_only = _loss_config(**config_lib.ABLATIONS["mah"])
  terms = losses.decoder_loss(TARGET, PRED, weights=None, components=COMPONENTS,
                              variances=VARIANCES, loss_config=mah_only)
  assert set(terms) == {"mah", "decoder"}
  np.testing.assert_allclose(terms["decoder"].numpy(),
                             _mah_by_loops(TARGET, PRED, COMPONENTS, VARIANCES), rtol=1e-12)

  with pytest.raises(ValueError, match="PCA components"):
    losses.decoder_loss(TARGET, PRED, weights=None, components=None, variances=None,
                        loss_config=_loss_config())


def test_decoder_loss_sqrt_norm_follows_the_config():
  cfg = _loss_config(mah_factor=0.0, grad_factor=0.0, hist_norm="sqrt")
  terms = losses.decoder_loss(TARGET, PRED, weights=None, components=None, variances=None,
                              loss_config=cfg)
  np.testing.assert_allclose(terms["decoder"].numpy(),
                             np.sqrt(_hist_by_loops(TARGET, PRED, np.ones_like(PIXEL_W))))


def test_kl_weight_ramp_and_constant():
  authors = config_lib.apply_variants(config_lib.base_config(), "authors").loss
  assert (authors.kl_factor, authors.kl_ramp_epochs) == (9e-3, 10)
  for epoch, expected in [(0, 0.0), (1, 1e-3), (5, 5e-3), (9, 9e-3), (10, 9e-3), (20, 9e-3)]:
    # The authors' code: 1e-2 / 10 * epoch for epochs 0..9.
    assert losses.kl_weight(epoch, authors) == pytest.approx(expected, abs=1e-12)
    tensor_value = losses.kl_weight(tf.constant(epoch), authors)
    assert float(tensor_value) == pytest.approx(expected, abs=1e-9)
  paper = config_lib.base_config().loss
  for epoch in (0, 5, 10, 20):
    assert losses.kl_weight(epoch, paper) == 1e-2
    assert float(losses.kl_weight(tf.constant(epoch), paper)) == pytest.approx(1e-2)


# Two examples, M = 2 components in d = 2.
Z = np.array([[0.0, 0.0], [0.0, 2.5]])
MEANS = np.array([[[1.0, 0.0], [0.0, 3.0]], [[1.0, 0.0], [0.0, 3.0]]])
LOGITS = np.array([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])  # pi = (1/4, 3/4)


def test_mdn_loss_by_hand():
  loss, component = losses.mdn_loss(Z, MEANS, LOGITS, variance=0.1, return_component=True)
  # Example 0: distances^2 (1, 9): m = 0 although pi_0 < pi_1; -log(1/4) + 1 / 0.2.
  # Example 1: distances^2 (7.25, 0.25): m = 1; -log(3/4) + 0.25 / 0.2.
  np.testing.assert_array_equal(component.numpy(), [0, 1])
  np.testing.assert_allclose(loss.numpy(), [math.log(4.0) + 5.0, math.log(4.0 / 3.0) + 1.25],
                             rtol=1e-12)
  np.testing.assert_array_equal(losses.nearest_component(Z, MEANS).numpy(), [0, 1])
  np.testing.assert_allclose(losses.mdn_loss(Z, MEANS, LOGITS).numpy(), loss.numpy())


def test_mdn_loss_is_finite_for_extreme_logits():
  logits = np.array([[-200.0, 200.0], [-200.0, 200.0]])
  loss = losses.mdn_loss(Z, MEANS, logits).numpy()
  assert np.all(np.isfinite(loss))
  assert loss[0] == pytest.approx(400.0 + 5.0)  # -log_softmax = 400 for the chosen component 0


def test_mdn_loss_trains_only_the_nearest_mean_and_every_logit():
  means = tf.Variable(MEANS)
  logits = tf.Variable(LOGITS)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(losses.mdn_loss(Z, means, logits))
  grad_means, grad_logits = tape.gradient(loss, [means, logits])
  grad_means, grad_logits = grad_means.numpy(), grad_logits.numpy()
  # Example 0 picks component 0, example 1 component 1: the others get exactly zero.
  assert np.all(grad_means[0, 1] == 0.0) and np.all(grad_means[1, 0] == 0.0)
  # d/dmu_m of ||z - mu_m||^2 / 0.2 = (mu_m - z) / 0.1.
  np.testing.assert_allclose(grad_means[0, 0], [10.0, 0.0], rtol=1e-12)
  np.testing.assert_allclose(grad_means[1, 1], [0.0, 5.0], rtol=1e-12)
  assert np.all(grad_logits != 0.0)
  # d/dlogit of -log softmax_m = softmax - onehot(m): (1/4 - 1, 3/4) and (1/4, 3/4 - 1).
  np.testing.assert_allclose(grad_logits, [[-0.75, 0.75], [0.25, -0.25]], rtol=1e-12)


def test_mixture_nll_equals_a_direct_log_sum():
  variance = 0.1
  expected = []
  for b in range(2):
    pi = np.exp(LOGITS[b]) / np.sum(np.exp(LOGITS[b]))
    likelihood = 0.0
    for i in range(2):
      sq = sum((Z[b, j] - MEANS[b, i, j]) ** 2 for j in range(2))
      likelihood += pi[i] * math.exp(-sq / (2 * variance)) / (2 * math.pi * variance)
    expected.append(-math.log(likelihood))
  value = losses.mixture_nll(Z, MEANS, LOGITS, variance).numpy()
  np.testing.assert_allclose(value, expected, rtol=1e-12)
  # The min-approximation bounds the full likelihood (the normaliser is d/2 log(2 pi sigma^2)).
  bound = losses.mdn_loss(Z, MEANS, LOGITS, variance).numpy() + math.log(2 * math.pi * variance)
  assert np.all(value <= bound + 1e-12)


def test_mixture_nll_does_not_underflow_far_from_every_mean():
  z = np.array([[100.0, 0.0]])  # exp(-||z - mu||^2 / 0.2) underflows to 0 in float64
  value = losses.mixture_nll(z, MEANS[:1], LOGITS[:1]).numpy()[0]
  nearest = -math.log(0.25) + 99.0 ** 2 / 0.2 + math.log(2 * math.pi * 0.1)
  assert math.isfinite(value)
  assert value == pytest.approx(nearest, rel=1e-9)


def test_every_loss_runs_in_tf_function():
  f32 = lambda x: tf.constant(x, tf.float32)
  table = f32(np.linspace(1.0, 3.0, 313))
  cfg = _loss_config()

  @tf.function
  def all_losses(target, pred, mean, log_var, z, means, logits):
    terms = losses.decoder_loss(target, pred, weights=table, components=f32(COMPONENTS),
                                variances=f32(VARIANCES), loss_config=cfg)
    terms["kl"] = losses.kl_loss(mean, log_var)
    terms["l2"] = losses.l2_loss(target, pred)
    terms["mdn"] = losses.mdn_loss(z, means, logits)
    terms["nll"] = losses.mixture_nll(z, means, logits)
    terms["kl_weight"] = losses.kl_weight(tf.constant(3), _loss_config(kl_ramp_epochs=5))
    return terms

  args = [f32(TARGET), f32(PRED), f32(Z), f32(Z), f32(Z), f32(MEANS), f32(LOGITS)]
  graph = all_losses(*args)
  assert float(graph["kl_weight"]) == pytest.approx(1e-2 * 3 / 4)
  eager = losses.decoder_loss(TARGET, PRED, weights=np.linspace(1.0, 3.0, 313),
                              components=COMPONENTS, variances=VARIANCES, loss_config=cfg)
  np.testing.assert_allclose(graph["decoder"].numpy(), eager["decoder"].numpy(), rtol=1e-5)
  np.testing.assert_allclose(graph["mdn"].numpy(), losses.mdn_loss(Z, MEANS, LOGITS).numpy(),
                             rtol=1e-5)


_MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from divcolor_tf import config as config_lib
    from divcolor_tf import losses

    inputs = {k: v.astype(np.float32) for k, v in np.load(sys.argv[1]).items()}
    table, components, variances = inputs.pop("table"), inputs.pop("components"), inputs.pop(
        "variances")
    cfg = config_lib.base_config().loss

    def per_example(b):
      terms = losses.decoder_loss(b["target"], b["pred"], weights=table, components=components,
                                  variances=variances, loss_config=cfg)
      sqrt = losses.hist_loss(b["target"], b["pred"], losses.pixel_weights(b["target"], table),
                              norm="sqrt")
      return {"hist": terms["hist"], "mah": terms["mah"], "grad": terms["grad"],
              "decoder": terms["decoder"], "hist_sqrt": sqrt,
              "l2": losses.l2_loss(b["target"], b["pred"]),
              "kl": losses.kl_loss(b["mean"], b["log_var"]),
              "mdn": losses.mdn_loss(b["z"], b["means"], b["logits"]),
              "nll": losses.mixture_nll(b["z"], b["means"], b["logits"])}

    batch = len(inputs["target"])
    single = {k: float(tf.reduce_mean(v)) for k, v in per_example(inputs).items()}

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    dataset = tf.data.Dataset.from_tensor_slices(inputs).batch(batch)
    distributed = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(b):
      def replica(rb):
        return {k: tf.nn.compute_average_loss(v) for k, v in per_example(rb).items()}
      per_replica = strategy.run(replica, args=(b,))
      return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
              for k, v in per_replica.items()}

    mirrored = {k: float(v) for k, v in step(distributed).items()}
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "single": single,
                      "mirrored": mirrored}))
""")


def test_every_loss_under_mirrored_strategy_gives_the_single_device_mean(tmp_path):
  from skimage import data as skdata  # pylint: disable=g-import-not-at-top
  from skimage import color as skcolor  # pylint: disable=g-import-not-at-top
  from skimage import transform  # pylint: disable=g-import-not-at-top
  # Real photos shipped with scikit-image: 4 targets, each against another photo's colours.
  photos = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()]
  fields = np.stack([skcolor.rgb2lab(transform.resize(p, (64, 64), anti_aliasing=True))[..., 1:]
                     for p in photos]) / 128.0
  target, pred = fields, np.roll(fields, 1, axis=0)
  flat = np.concatenate([fields[..., 0].reshape(4, -1), fields[..., 1].reshape(4, -1)], axis=1)
  _, singular, vt = np.linalg.svd(flat - flat.mean(0), full_matrices=False)
  components, variances = vt[:3], singular[:3] ** 2 / 3  # the photos' own PCA
  bins = np.asarray(color.ab_bins(), np.float64)
  table = 1.0 + np.linalg.norm(bins, axis=1) / 50.0  # heavier for saturated bins
  steps = np.linspace(-1.0, 1.0, 4 * 8).reshape(4, 8)
  npz = tmp_path / "inputs.npz"
  np.savez(npz, target=target, pred=pred, table=table, components=components,
           variances=variances, mean=steps, log_var=0.5 * steps[::-1],
           z=steps[:, :2], means=np.stack([steps[:, 2:4], steps[:, 4:6], -steps[:, 6:8]], 1),
           logits=steps[:, :3])
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  result = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT, str(npz)], env=env,
                          capture_output=True, text=True, timeout=300,
                          cwd=ROOT, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report["replicas"] == 2
  for name, value in report["single"].items():
    assert report["mirrored"][name] == pytest.approx(value, rel=1e-5), name
