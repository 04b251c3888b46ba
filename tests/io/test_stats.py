"""Tests of divcolor_tf.data.stats (paper Section 3.1): streaming PCA, bin prior, weights, file, CLI."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import skimage.color
import skimage.io
import skimage.transform

from conftest import console_script
from divcolor_tf.data import stats



def _field_of_photo(path, size=64):
  """A colour field (ab/128) of one photo, with scikit-image alone (no divcolor_tf.data)."""
  rgb = skimage.transform.resize(skimage.io.imread(path), (size, size), anti_aliasing=True)
  return (skimage.color.rgb2lab(rgb)[..., 1:] / 128.0).astype(np.float32)


@pytest.fixture(scope="module")
def lfw_fields(lfw_ci):
  """Colour fields [200, 64, 64, 2] of the 200 lfw_ci photos (faces, or stand-ins), sorted."""
  paths = sorted(lfw_ci.rglob("*.jpg"))
  assert len(paths) == 200
  return np.stack([_field_of_photo(p) for p in paths])


@pytest.fixture(scope="module")
def lfw_stats(lfw_ci, lfw_fields):
  """ColourStats of the 200 faces, streamed in batches of 48 (five, the last one short)."""
  from divcolor_tf import color  # pylint: disable=g-import-not-at-top
  bins = color.ab_bins()
  pca = stats.StreamingPCA(2 * 64 * 64)
  counts = np.zeros(len(bins), np.int64)
  for start in range(0, len(lfw_fields), 48):
    batch = lfw_fields[start:start + 48]
    pca.update(stats.flatten_field(batch))
    counts += np.bincount(color.nearest_bin(batch * color.AB_SCALE).numpy().ravel(),
                          minlength=len(bins))
  return stats.from_accumulated(pca, counts, bins, source=str(lfw_ci))


def test_flatten_layout_is_channel_major():
  field = np.arange(3 * 2 * 2 * 2, dtype=np.float32).reshape(3, 2, 2, 2)
  flat = stats.flatten_field(field)
  assert flat.shape == (3, 8)
  np.testing.assert_array_equal(flat[1], np.concatenate([field[1, ..., 0].ravel(),
                                                         field[1, ..., 1].ravel()]))
  np.testing.assert_array_equal(stats.unflatten_field(flat), field)
  np.testing.assert_array_equal(stats.unflatten_field(flat[0], 2), field[0])
  with pytest.raises(ValueError):
    stats.unflatten_field(np.zeros(10))


def test_flatten_matches_the_tf_mahalanobis_layout(lfw_fields):
  from divcolor_tf import losses  # pylint: disable=g-import-not-at-top
  np.testing.assert_array_equal(stats.flatten_field(lfw_fields[:4]),
                                losses.flatten_channel_major(lfw_fields[:4]).numpy())


def test_streaming_pca_equals_one_shot(lfw_stats, lfw_fields):
  x = stats.flatten_field(lfw_fields).astype(np.float64)
  assert lfw_stats.image_count == len(x) == 200
  mean = x.mean(axis=0)
  _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
  variance = singular ** 2 / (len(x) - 1)
  k = lfw_stats.n_components
  np.testing.assert_allclose(lfw_stats.pca_mean, mean, atol=1e-12)
  np.testing.assert_allclose(lfw_stats.pca_variance, variance[:k], rtol=1e-9)
  cosines = np.abs(np.sum(lfw_stats.pca_components * vt[:k], axis=1))
  np.testing.assert_allclose(cosines, 1.0, atol=1e-8)
  np.testing.assert_allclose(lfw_stats.pca_components @ lfw_stats.pca_components.T, np.eye(k),
                             atol=1e-10)
  np.testing.assert_allclose(lfw_stats.pca_total_variance, np.sum(variance), rtol=1e-9)
  np.testing.assert_allclose(lfw_stats.pca_residual_variance, np.sum(variance[k:]), rtol=1e-9)


def test_streaming_pca_is_independent_of_batching(lfw_fields):
  x = stats.flatten_field(lfw_fields[:60])
  results = []
  for sizes in ([60], [1, 7, 52], [25, 25, 10]):
    pca = stats.StreamingPCA(x.shape[1])
    start = 0
    for size in sizes:
      pca.update(x[start:start + size])
      start += size
    results.append(pca.result(5))
  for other in results[1:]:
    np.testing.assert_allclose(other["variance"], results[0]["variance"], rtol=1e-9)
    # Signs are fixed by the largest entry, so the components agree without a sign flip.
    np.testing.assert_allclose(other["components"], results[0]["components"], atol=1e-8)


def test_agreement_with_the_authors_lfw_pca(lfw_real, lfw_stats, lfw_fields, color_prior):
  """Our PCA of 200 LFW CI faces against the authors' PCA of LFW (their released arrays): the
  real faces (``lfw_real``; lfw_stats is then theirs), not stand-ins.

  Measured (200 CI faces; see the module's report): principal angles between the top-k
  subspaces, cosine of the mean fields and explained variances. Bounds are loose versions of
  the measured figures: a 200-face sample and a different resize pipeline cannot match exactly.
  """
  folder = color_prior / "divcolor_pcomp" / "lfw"
  theirs = np.load(folder / "components.mat.npy").astype(np.float64)
  their_mean = np.load(folder / "mean.mat.npy").astype(np.float64)
  their_variance = np.load(folder / "exp_variance.mat.npy").astype(np.float64)
  ours = lfw_stats.pca_components
  max_angle = {k: np.degrees(scipy.linalg.subspace_angles(ours[:k].T, theirs[:k].T).max())
               for k in (1, 5, 10, 20)}
  mean_cos = their_mean @ lfw_stats.pca_mean / (np.linalg.norm(their_mean)
                                                * np.linalg.norm(lfw_stats.pca_mean))
  # Variance of our faces captured by their 20 components vs by our own (optimal in-sample).
  x = stats.flatten_field(lfw_fields).astype(np.float64) - lfw_stats.pca_mean
  total = np.sum(x * x) / (len(x) - 1)
  captured_theirs = np.sum((x @ theirs.T) ** 2) / (len(x) - 1) / total
  captured_ours = np.sum((x @ ours.T) ** 2) / (len(x) - 1) / total
  print(f"max principal angle (deg) by k: {max_angle}; mean-field cosine {mean_cos:.4f}; "
        f"variance top-5 ours {lfw_stats.pca_variance[:5].round(3)} theirs "
        f"{their_variance[:5].round(3)}; top-20 sum ours {lfw_stats.pca_variance.sum():.2f} "
        f"theirs {their_variance.sum():.2f}; explained ratio ours "
        f"{lfw_stats.explained_variance_ratio.sum():.3f}; our faces' variance captured by their "
        f"20 components {captured_theirs:.3f}, by ours {captured_ours:.3f}")
  assert max_angle[1] < 25
  assert max_angle[5] < 40
  assert mean_cos > 0.95
  np.testing.assert_allclose(lfw_stats.pca_variance[0], their_variance[0], rtol=0.3)
  np.testing.assert_allclose(lfw_stats.pca_variance.sum(), their_variance.sum(), rtol=0.2)
  assert 0.6 < captured_theirs < captured_ours


def test_the_bins_of_the_prior_are_zhangs(lfw_stats, color_prior):
  np.testing.assert_array_equal(lfw_stats.bins, np.load(color_prior / "pts_in_hull.npy"))


def test_prior_is_a_distribution_and_smoothing_spreads_it(lfw_stats):
  assert lfw_stats.prior.shape == lfw_stats.prior_raw.shape == (313,)
  np.testing.assert_allclose(lfw_stats.prior.sum(), 1.0, rtol=1e-12)
  np.testing.assert_allclose(lfw_stats.prior_raw.sum(), 1.0, rtol=1e-12)
  # 200 faces x 4096 pixels: the raw histogram counts pixels.
  counts = lfw_stats.prior_raw * 200 * 64 * 64
  np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
  assert np.count_nonzero(lfw_stats.prior) > np.count_nonzero(lfw_stats.prior_raw)
  assert lfw_stats.prior.max() < lfw_stats.prior_raw.max()
  np.testing.assert_allclose(stats.smooth_prior(lfw_stats.prior_raw, lfw_stats.bins, 0),
                             lfw_stats.prior_raw)
  np.testing.assert_allclose(stats.smooth_prior(lfw_stats.prior_raw, lfw_stats.bins, 5.0),
                             lfw_stats.prior)


def test_smoothing_by_hand():
  bins = np.array([[0.0, 0.0], [10.0, 0.0], [100.0, 0.0]])
  # sigma 5: a neighbour 10 apart gets exp(-100 / 50) = e^-2 of a bin's own weight; 100 apart ~0.
  smoothed = stats.smooth_prior([1.0, 0.0, 0.0], bins, 5.0)
  e = np.exp(-2.0)
  np.testing.assert_allclose(smoothed, [1 / (1 + e), e / (1 + e), 0.0], atol=1e-15)
  np.testing.assert_allclose(stats.smooth_prior([0.0, 0.0, 3.0], bins, 5.0), [0, 0, 1],
                             atol=1e-15)


def test_weights_by_hand():
  prior = np.array([0.5, 0.3, 0.2, 0.0])
  # lambda 0.5, Q 4: 1 / (0.5 p + 0.125) = 8/3, 40/11, 40/9, 8; E_p[w] = 4/3 + 12/11 + 8/9 = 328/99.
  expected = np.array([8 / 3, 40 / 11, 40 / 9, 8.0]) * 99 / 328
  np.testing.assert_allclose(stats.stable_weights(prior, 0.5), expected, rtol=1e-14)
  # The unseen bin takes the weight of the rarest seen one (0.2).
  np.testing.assert_allclose(stats.raw_weights(prior), [2, 10 / 3, 5, 5], rtol=1e-14)
  np.testing.assert_allclose(stats.raw_weights(prior, floor=0.25), [2, 10 / 3, 4, 4], rtol=1e-14)
  np.testing.assert_allclose(stats.stable_weights(prior, 1.0), np.ones(4))
  with pytest.raises(ValueError):
    stats.stable_weights(prior, 0.0)


def test_weights_of_lfw(lfw_stats):
  p = lfw_stats.prior
  stable = lfw_stats.weights("stable")
  raw = lfw_stats.weights("raw")
  np.testing.assert_allclose(np.sum(p * stable), 1.0, rtol=1e-12)
  # Bounded: at most 1 + (1 - lambda) / lambda * Q * max(p) apart (here measured ~ 40).
  ratio = stable.max() / stable.min()
  assert ratio <= 1 + 313 * p.max() + 1e-9
  assert ratio < 100
  # 1/p down to the rarest colour bin actually seen; rarer (smoothed-tail) bins get its weight.
  floor = lfw_stats.prior_raw[lfw_stats.prior_raw > 0].min()
  common = p >= floor
  np.testing.assert_allclose(raw[common], 1 / p[common], rtol=1e-14)
  np.testing.assert_allclose(raw[~common], 1 / floor, rtol=1e-14)
  assert np.any(~common) and raw.max() == pytest.approx(1 / floor)
  assert raw.max() / raw.min() > 1e3 * ratio  # why the paper's 1/p is a training hazard
  with pytest.raises(ValueError, match="unknown colourfulness weights"):
    lfw_stats.weights("uniform")


def test_compute_streams_the_input_pipeline(lfw_ci):
  """compute() over data.make_dataset batches equals a one-shot PCA and histogram of its fields."""
  from divcolor_tf import color  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  paths = data.list_images(str(lfw_ci))[:50]
  ds = data.make_dataset(paths, field_size=64, grey_size=64, batch_size=50)
  fields = np.concatenate([batch["colour_field"].numpy() for batch in ds])
  result = stats.compute(paths, n_components=5, batch_size=16, prior_sigma=0)
  assert result.image_count == len(fields) == 50 and result.source.startswith("50 listed paths")
  x = stats.flatten_field(fields).astype(np.float64)
  _, singular, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
  np.testing.assert_allclose(result.pca_mean, x.mean(axis=0), atol=1e-12)
  np.testing.assert_allclose(result.pca_variance, singular[:5] ** 2 / 49, rtol=1e-9)
  np.testing.assert_allclose(np.abs(np.sum(result.pca_components * vt[:5], axis=1)), 1, atol=1e-8)
  counts = np.bincount(color.nearest_bin(fields * color.AB_SCALE).numpy().ravel(), minlength=313)
  np.testing.assert_allclose(result.prior_raw, counts / counts.sum(), rtol=1e-12)
  np.testing.assert_allclose(result.prior, result.prior_raw)  # prior_sigma 0: no smoothing


def test_unflatten_mean(lfw_stats, lfw_fields):
  mean_field = lfw_stats.unflatten_mean()
  assert mean_field.shape == (64, 64, 2) and mean_field.dtype == np.float32
  np.testing.assert_allclose(mean_field, lfw_fields.astype(np.float64).mean(axis=0), atol=1e-6)


def test_save_load_round_trip(lfw_stats, tmp_path):
  path = tmp_path / "sub" / "stats.npz"
  lfw_stats.save(path)
  loaded = stats.load(path)
  for name in ("pca_mean", "pca_components", "pca_variance", "prior", "prior_raw",
               "weights_raw", "weights_stable", "bins"):
    np.testing.assert_array_equal(getattr(loaded, name), getattr(lfw_stats, name), err_msg=name)
  for name in ("pca_total_variance", "pca_residual_variance", "image_count", "source", "version",
               "field_size", "n_components", "prior_sigma", "uniform_mix", "created"):
    assert getattr(loaded, name) == getattr(lfw_stats, name), name
  import divcolor_tf  # pylint: disable=g-import-not-at-top
  assert loaded.version == divcolor_tf.__version__ and loaded.created
  assert not os.path.exists(f"{path}.partial")


def test_load_rejects_other_files(lfw_stats, tmp_path):
  other = tmp_path / "other.npz"
  np.savez(other, x=np.zeros(3))
  with pytest.raises(ValueError, match=re.escape(f"{other}: not a divcolor_tf stats file")):
    stats.load(other)
  text = tmp_path / "notes.txt"
  text.write_text("not an archive\n")
  with pytest.raises(ValueError, match=re.escape(f"{text}: not a divcolor_tf stats file")):
    stats.load(text)
  array = tmp_path / "array.npy"
  np.save(array, np.zeros(3))
  with pytest.raises(ValueError, match=re.escape(f"{array}: not a divcolor_tf stats file")):
    stats.load(array)
  full = tmp_path / "full.npz"
  lfw_stats.save(full)
  with np.load(full) as archive:
    record = {k: archive[k] for k in archive.files if k != "weights_stable"}
  partial = tmp_path / "partial.npz"
  np.savez(partial, **record)
  with pytest.raises(ValueError, match=re.escape(f"{partial}: stats file misses weights_stable")):
    stats.load(partial)
  with pytest.raises(FileNotFoundError, match="absent.npz"):
    stats.load(tmp_path / "absent.npz")


def test_importing_stats_does_not_import_tensorflow():
  code = "import sys, divcolor_tf.data.stats; assert 'tensorflow' not in sys.modules"
  subprocess.run([sys.executable, "-c", code], check=True)


def _cli():
  return console_script("divcolor-stats")


def test_cli_end_to_end_and_refusal_to_overwrite(lfw_ci, tmp_path):
  out = tmp_path / "stats.npz"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  args = _cli() + ["--images", str(lfw_ci), "--out", str(out), "--max_images", "40"]
  done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
  assert done.returncode == 0, done.stderr
  assert "images: 40" in done.stdout and "weights stable" in done.stdout, done.stdout
  assert "skipped" in done.stdout
  loaded = stats.load(out)
  assert loaded.image_count == 40 and loaded.pca_components.shape == (20, 8192)
  before = out.read_bytes()

  again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
  assert again.returncode == 1
  message = again.stderr.strip()
  assert len(message.splitlines()) == 1 and str(out) in message and "--overwrite" in message
  assert out.read_bytes() == before

  replaced = subprocess.run(args[:-1] + ["10", "--overwrite", "--n_components", "5"],
                            capture_output=True, text=True, env=env, timeout=300)
  assert replaced.returncode == 0, replaced.stderr
  assert stats.load(out).pca_components.shape == (5, 8192)
