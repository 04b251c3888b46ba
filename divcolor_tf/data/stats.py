"""Colour statistics of a training set (paper Section 3.1: L_mah, L_hist): colour-field PCA, prior.

Two statistics of the training colour fields feed the VAE decoder's loss:

* The **PCA** of the 64x64x2 colour fields (ab/128) used by the specificity loss L_mah: the top-K
  (K = 20) principal components P_k, their variances sigma_k^2, the mean field, the total variance
  and the variance left outside the K components.
* The **empirical prior** p over the 313 in-gamut ab bins of Zhang et al. used by the colourfulness
  loss L_hist (Eq. 2), whose per-pixel weights are the inverse prior in one of two forms:

  - ``"raw"`` (the paper's 1/H_p and the authors' code): w_q = 1 / max(p_q, p_min), p_min the
    probability of the rarest colour bin actually seen (smallest non-zero bin of the unsmoothed
    histogram). Without the floor, a bin the data never shows would get an infinite weight, and the
    Gaussian smoothing's tails give far-off bins probabilities down to 1e-41 (weights of 1e40; the
    authors' 1/p of Zhang et al.'s ImageNet prior spans 5 to 1.6e8).
  - ``"stable"`` (Zhang et al.'s class rebalancing): w_q = 1 / ((1 - lambda) p_q + lambda / Q),
    Q = 313, lambda = 0.5, scaled so that the expected weight under the prior is 1,
    sum_q p_q w_q = 1. The authors' raw weights spanned 5 to 1.6e8; these span about one decade.

Layout of a flattened colour field (D = 2 * 64 * 64 = 8192), the authors' (sklearn) layout::

    flat = [field[..., 0].ravel(), field[..., 1].ravel()]     # channel-major: all a, then all b

i.e. the a channel raveled row-major, followed by the b channel raveled row-major. The authors'
released PCA files (``components.mat.npy``, ``mean.mat.npy``) use it, :func:`flatten_field` and
:func:`unflatten_field` implement it in numpy, and the TF Mahalanobis loss
(``divcolor_tf.losses.flatten_channel_major``) must use the same layout to project on the
components.

The PCA streams: per batch it adds the fields' sum and scatter X^T X in float64 (8192^2 float64 =
512 MB), never holding all fields, and takes the top eigenvectors of the covariance at the end.
Smoothing of the prior follows Zhang et al. (Gaussian kernel, sigma = 5 ab units): each bin's mass
is spread over the 313 bin centres by a Gaussian of their ab distance, normalised per source bin so
no mass leaves the gamut.

``compute(source)`` builds a :class:`ColourStats` over ``divcolor_tf.data.make_dataset`` batches;
``ColourStats.save`` / :func:`load` keep it in one ``.npz``; ``divcolor-stats`` is the command line.
Importing this module does not import TensorFlow; :func:`compute` does.
"""

import dataclasses
import datetime
import os

from absl import logging
import numpy as np
from scipy.linalg import blas
import scipy.linalg
import scipy.sparse.linalg

import divcolor_tf
from divcolor_tf.io import atomic


FORMAT = "divcolor_tf.stats"
FORMAT_VERSION = 1
WEIGHT_KINDS = ("raw", "stable")

# PCA variances below this share of the total variance are floored to it (with a warning): N colour
# fields give at most N - 1 nonzero variances, and L_mah divides by each of them.
VARIANCE_FLOOR = 1e-6

# Above this dimension the top eigenvectors come from Lanczos iterations (ARPACK) on the dense
# covariance instead of LAPACK's eigh: for D = 8192 on two CPU cores eigh(subset_by_index) took
# 52 s, Lanczos 9 s, with the same eigenvalues to 3e-15 relative.
_LANCZOS_MIN_DIM = 2048


def flatten_field(colour_field):
  """Colour fields [..., H, W, 2] -> [..., 2HW] in the layout [a.ravel(), b.ravel()].

  Args:
    colour_field: array [..., H, W, 2].

  Returns:
    array [..., 2 * H * W] (same dtype): the H*W values of channel 0 row-major, then channel 1.
  """
  colour_field = np.asarray(colour_field)
  if colour_field.ndim < 3 or colour_field.shape[-1] != 2:
    raise ValueError(f"flatten_field: expected a colour field [..., H, W, 2], got shape "
                     f"{colour_field.shape}")
  channels_first = np.moveaxis(colour_field, -1, -3)  # [..., 2, H, W]
  return channels_first.reshape(colour_field.shape[:-3] + (-1,))


def unflatten_field(flat, field_size=None):
  """The inverse of :func:`flatten_field`: [..., 2HW] -> [..., H, W, 2] (square fields).

  Args:
    flat: array [..., D], D = 2 * field_size^2, layout [a.ravel(), b.ravel()].
    field_size: H = W; None infers it from D.

  Returns:
    array [..., field_size, field_size, 2].
  """
  flat = np.asarray(flat)
  dim = flat.shape[-1]
  if field_size is None:
    field_size = int(round(np.sqrt(dim / 2)))
  if 2 * field_size * field_size != dim:
    raise ValueError(f"unflatten_field: {dim} values are not a {field_size}x{field_size}x2 field")
  channels_first = flat.reshape(flat.shape[:-1] + (2, field_size, field_size))
  return np.moveaxis(channels_first, -3, -1)


class StreamingPCA:
  """PCA accumulated batch by batch: the sum and scatter of the rows, in float64.

  The rows are shifted by the first batch's mean before they are accumulated, so the covariance
  S / N - mean mean^T does not lose digits to the (non-zero) mean colour.
  """

  def __init__(self, dim):
    self.dim = int(dim)
    self.count = 0
    self._shift = None
    self._sum = np.zeros(self.dim, np.float64)
    # Upper triangle only (BLAS syrk); Fortran order so BLAS updates it in place.
    self._scatter = np.zeros((self.dim, self.dim), np.float64, order="F")

  def update(self, rows):
    """Adds rows [n, D] (any float dtype) to the statistics."""
    rows = np.asarray(rows, np.float64)
    if rows.ndim != 2 or rows.shape[1] != self.dim:
      raise ValueError(f"StreamingPCA.update: expected rows [n, {self.dim}], got {rows.shape}")
    if not len(rows):
      return
    if self._shift is None:
      self._shift = rows.mean(axis=0)
    centred = rows - self._shift
    self._sum += centred.sum(axis=0)
    # centred.T is [D, n] and Fortran-ordered: syrk adds centred^T centred without a copy.
    self._scatter = blas.dsyrk(1.0, centred.T, beta=1.0, c=self._scatter, trans=0, lower=0,
                               overwrite_c=1)
    self.count += len(rows)

  def result(self, n_components):
    """The top principal components; consumes the accumulated scatter (call once).

    Args:
      n_components: K, the number of components kept.

    Returns:
      dict with ``mean`` [D], ``components`` [K, D] (orthonormal rows, sign fixed so each row's
      largest-magnitude entry is positive), ``variance`` [K] (descending; unbiased, N - 1),
      ``total_variance`` (trace of the covariance) and ``residual_variance`` (total minus the K
      variances: the variance outside the components). Variances below ``VARIANCE_FLOOR`` times
      the total (fewer than K + 1 distinct fields) are raised to it, with a warning saying how
      many photos are needed, so that no loss divides by ~0.
    """
    n = self.count
    if n < 2:
      raise ValueError(f"a PCA needs at least 2 colour fields, got {n}")
    if not 1 <= n_components <= self.dim:
      raise ValueError(f"n_components must be in [1, {self.dim}], got {n_components}")
    offset = self._sum / n
    cov = blas.dsyr(-float(n), offset, a=self._scatter, lower=0, overwrite_a=1)
    cov /= n - 1
    self._scatter = None
    total = float(np.trace(cov))
    variance, vectors = _top_eigenpairs(cov, n_components)
    residual = max(total - float(variance.sum()), 0.0)
    floor = VARIANCE_FLOOR * max(total, np.finfo(np.float64).tiny)
    degenerate = int(np.sum(variance < floor))
    if degenerate:
      logging.warning(
          "colour statistics: %d of the %d PCA variances are ~0 (%d colour fields give at most %d "
          "nonzero ones): raised to %.3g (%g of the total); L_mah needs at least %d distinct "
          "photos for %d components", degenerate, n_components, n, n - 1, floor, VARIANCE_FLOOR,
          n_components + 1, n_components)
      variance = np.maximum(variance, floor)
    components = vectors.T
    signs = np.sign(components[np.arange(n_components), np.argmax(np.abs(components), axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    return {
        "mean": self._shift + offset,
        "components": components,
        "variance": variance,
        "total_variance": total,
        "residual_variance": residual,
    }


def _top_eigenpairs(upper, k):
  """The k largest eigenpairs of a symmetric matrix of which only the upper triangle is valid."""
  dim = upper.shape[0]
  if dim < _LANCZOS_MIN_DIM or k >= dim // 2:
    values, vectors = scipy.linalg.eigh(upper, lower=False, subset_by_index=[dim - k, dim - 1],
                                        overwrite_a=True, check_finite=False)
  else:
    operator = scipy.sparse.linalg.LinearOperator(
        (dim, dim), dtype=np.float64,
        matvec=lambda v: blas.dsymv(1.0, upper, np.ravel(v), lower=0))
    # tol=0: to machine precision; a fixed start vector makes the result reproducible.
    values, vectors = scipy.sparse.linalg.eigsh(operator, k=k, which="LA", tol=0,
                                                v0=np.ones(dim) / np.sqrt(dim))
  order = np.argsort(values)[::-1]
  return np.maximum(values[order], 0.0), vectors[:, order]


def smooth_prior(prior, bins, sigma):
  """Gaussian smoothing of a distribution over ab bins (Zhang et al., sigma = 5 ab units).

  Each bin's mass is spread over the bin centres with weights exp(-d^2 / (2 sigma^2)) of their ab
  distance d, normalised per source bin, so the total is kept and no mass leaves the gamut.

  Args:
    prior: [Q] non-negative masses.
    bins: [Q, 2] bin centres in Lab ab units.
    sigma: kernel width in ab units; 0 returns the prior normalised.

  Returns:
    [Q] float64, sums to 1.
  """
  prior = np.asarray(prior, np.float64)
  if sigma > 0:
    bins = np.asarray(bins, np.float64)
    sq_dist = np.sum((bins[:, None, :] - bins[None, :, :]) ** 2, axis=-1)
    kernel = np.exp(-sq_dist / (2.0 * sigma * sigma))
    kernel /= kernel.sum(axis=0, keepdims=True)  # column j: where bin j's mass goes
    prior = kernel @ prior
  return prior / prior.sum()


def raw_weights(prior, floor=None):
  """The paper's (and authors' code's) colourfulness weights 1 / max(p, floor).

  Args:
    prior: [Q] distribution over the bins.
    floor: the smallest probability a bin counts as having; None: the smallest non-zero one of
      ``prior``. :func:`from_accumulated` passes the rarest observed bin of the unsmoothed
      histogram, so smoothing's far tails do not turn into astronomically large weights.

  Returns:
    [Q] float64.
  """
  prior = np.asarray(prior, np.float64)
  if floor is None:
    floor = prior[prior > 0].min()
  return 1.0 / np.maximum(prior, floor)


def stable_weights(prior, uniform_mix=0.5):
  """Zhang et al.'s rebalancing weights: 1 / ((1 - lambda) p + lambda / Q), with sum p w = 1.

  Args:
    prior: [Q] distribution over the bins (sums to 1).
    uniform_mix: lambda, the weight of the uniform distribution mixed into the prior, in (0, 1].

  Returns:
    [Q] float64 weights whose expectation under ``prior`` is 1.
  """
  if not 0 < uniform_mix <= 1:
    raise ValueError(f"uniform_mix (lambda) must be in (0, 1], got {uniform_mix}")
  prior = np.asarray(prior, np.float64)
  weights = 1.0 / ((1.0 - uniform_mix) * prior + uniform_mix / len(prior))
  return weights / np.sum(prior * weights)


@dataclasses.dataclass
class ColourStats:
  """Colour statistics of a training set; see the module docstring for units and layout.

  Arrays are float64. PCA arrays are in ab/128 units with D = 2 * field_size^2 in the layout
  [a.ravel(), b.ravel()]; the prior and weights are over ``bins`` (the 313 Zhang et al. bin
  centres in Lab ab units).
  """
  pca_mean: np.ndarray  # [D]
  pca_components: np.ndarray  # [K, D], orthonormal rows, by decreasing variance
  pca_variance: np.ndarray  # [K], unbiased (N - 1)
  pca_total_variance: float  # trace of the covariance
  pca_residual_variance: float  # total minus the K variances
  prior: np.ndarray  # [Q], smoothed with prior_sigma, sums to 1
  prior_raw: np.ndarray  # [Q], the unsmoothed histogram, sums to 1
  weights_raw: np.ndarray  # [Q], 1/prior, prior floored at the rarest observed bin
  weights_stable: np.ndarray  # [Q], Zhang et al., sum prior * weights_stable = 1
  bins: np.ndarray  # [Q, 2] ab bin centres
  image_count: int
  source: str
  version: str = divcolor_tf.__version__
  field_size: int = 64
  n_components: int = 20
  prior_sigma: float = 5.0
  uniform_mix: float = 0.5
  created: str = ""

  def weights(self, kind):
    """The colourfulness weights per bin [Q]: ``"raw"`` (1/p) or ``"stable"`` (Zhang et al.)."""
    if kind == "raw":
      return self.weights_raw
    if kind == "stable":
      return self.weights_stable
    raise ValueError(f"unknown colourfulness weights {kind!r} (known: {', '.join(WEIGHT_KINDS)})")

  @property
  def explained_variance_ratio(self):
    """[K] each component's share of the total variance."""
    return self.pca_variance / self.pca_total_variance

  def unflatten_mean(self, field_size=None):
    """The mean colour field [field_size, field_size, 2] in ab/128, float32."""
    return unflatten_field(self.pca_mean, field_size or self.field_size).astype(np.float32)

  def save(self, path, float_dtype=np.float64):
    """Writes one ``.npz`` (arrays and metadata; no pickles), atomically; returns ``path``.

    ``float_dtype``: the arrays' dtype on disk (np.float32 halves the file, as a float16 export
    stores it; :func:`load` reads either as float64)."""
    created = self.created or datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    record = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "created": np.array(created),
    }
    for field in dataclasses.fields(self):
      if field.name != "created":
        value = np.asarray(getattr(self, field.name))
        record[field.name] = value.astype(float_dtype) if value.dtype.kind == "f" else value
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # A file object: np.savez would append ".npz" to a name.
    with atomic.atomic_path(path) as temp, open(temp, "wb") as f:
      np.savez(f, **record)
    return path


_SCALARS = {"pca_total_variance": float, "pca_residual_variance": float, "image_count": int,
            "source": str, "version": str, "field_size": int, "n_components": int,
            "prior_sigma": float, "uniform_mix": float, "created": str}


def load(path):
  """Reads a stats file written by :meth:`ColourStats.save`.

  Raises:
    FileNotFoundError: ``path`` does not exist.
    ValueError: ``path`` is not a divcolor_tf stats file, or misses keys (one line, names the file).
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such stats file")
  try:
    record = atomic.read_npz(path)
  except ValueError as e:
    raise ValueError(f"{path}: not a divcolor_tf stats file (cannot read it as .npz: "
                     f"{e})") from None
  if "format" not in record or str(record["format"]) != FORMAT:
    raise ValueError(f"{path}: not a divcolor_tf stats file (no format={FORMAT!r} marker; "
                     "write one with divcolor-stats)")
  names = [field.name for field in dataclasses.fields(ColourStats)]
  missing = [name for name in names if name not in record]
  if missing:
    raise ValueError(f"{path}: stats file misses {', '.join(missing)}")
  values = {}
  for name in names:
    value = record[name]
    try:
      values[name] = (_SCALARS[name](value.item()) if name in _SCALARS
                      else value.astype(np.float64))
    except (TypeError, ValueError):
      raise ValueError(f"{path}: stats file entry {name} has an unusable value "
                       f"(dtype {value.dtype}, shape {value.shape})") from None
  stats = ColourStats(**values)
  dim = 2 * stats.field_size ** 2
  q = len(stats.bins)
  if (stats.pca_components.shape[1:] != (dim,) or stats.pca_mean.shape != (dim,)
      or stats.pca_variance.shape != stats.pca_components.shape[:1]
      or any(getattr(stats, n).shape != (q,) for n in ("prior", "prior_raw", "weights_raw",
                                                       "weights_stable"))):
    raise ValueError(f"{path}: stats file arrays have inconsistent shapes (components "
                     f"{stats.pca_components.shape}, field_size {stats.field_size}, {q} bins)")
  return stats


def from_accumulated(pca, bin_counts, bins, *, n_components=20, prior_sigma=5.0, uniform_mix=0.5,
                     field_size=64, source=""):
  """A :class:`ColourStats` from a filled :class:`StreamingPCA` and per-bin pixel counts.

  Args:
    pca: StreamingPCA over flattened colour fields (consumed).
    bin_counts: [Q] pixel counts per ab bin.
    bins: [Q, 2] ab bin centres in Lab units.
    n_components, prior_sigma, uniform_mix, field_size, source: as in :func:`compute`.
  """
  bin_counts = np.asarray(bin_counts, np.float64)
  if bin_counts.sum() <= 0:
    raise ValueError("no pixels were counted: cannot form a colour prior")
  prior_raw = bin_counts / bin_counts.sum()
  prior = smooth_prior(prior_raw, bins, prior_sigma)
  image_count = pca.count
  pcs = pca.result(n_components)
  return ColourStats(
      pca_mean=pcs["mean"], pca_components=pcs["components"], pca_variance=pcs["variance"],
      pca_total_variance=pcs["total_variance"], pca_residual_variance=pcs["residual_variance"],
      prior=prior, prior_raw=prior_raw,
      weights_raw=raw_weights(prior, floor=prior_raw[prior_raw > 0].min()),
      weights_stable=stable_weights(prior, uniform_mix),
      bins=np.asarray(bins, np.float64), image_count=image_count, source=source,
      field_size=field_size, n_components=n_components, prior_sigma=float(prior_sigma),
      uniform_mix=float(uniform_mix),
      created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))


def compute(source_or_paths, *, n_components=20, prior_sigma=5.0, uniform_mix=0.5, max_images=0,
            batch_size=64, drop_near_grey=False, skip_log=None, field_size=64,
            near_grey_threshold=None, progress=None, name=None):
  """Colour statistics of the photos of a training set, streamed batch by batch.

  Args:
    source_or_paths: a directory tree, a list file or a glob (``data.list_images``), or a list of
      image paths.
    n_components: K principal components kept (paper: 20).
    prior_sigma: Gaussian smoothing of the bin prior in ab units (Zhang et al.: 5); 0: none.
    uniform_mix: lambda of the stable weights (Zhang et al.: 0.5).
    max_images: use only the first this many paths (in listed order); 0: all.
    batch_size: photos decoded per step.
    drop_near_grey: leave out black-and-white photos (as ``data.make_dataset``).
    skip_log: a ``data.SkipLog`` that records unreadable / dropped photos; None: a private one.
    progress: a ``progress.Progress`` over the photos, advanced after each batch, or None.
    field_size: the colour field's side (paper: 64).
    near_grey_threshold: passed to ``data.make_dataset`` when not None.
    name: what the errors call a list of paths (e.g. "the training split of config data.train
      photos/"); None: its count and first path.

  Returns:
    ColourStats.

  Raises:
    data.DataPathError: no photos, or fewer than 2 usable ones (one line, with why they were
      skipped).
  """
  # TensorFlow only here: loading a stats file (training, evaluation) need not import it.
  from divcolor_tf import color  # pylint: disable=g-import-not-at-top  (TF ops; this module loads without TensorFlow)
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top  (the data package imports this module)

  if isinstance(source_or_paths, (str, os.PathLike)):
    source = data.source_name(os.fspath(source_or_paths))
    paths = data.list_images(source)
  else:
    paths = [os.fspath(p) for p in source_or_paths]
    source = f"{len(paths)} listed paths" + (f", first {data.source_name(paths[0])}" if paths else "")
  if max_images:
    paths = paths[:max_images]
  if not paths:
    raise data.DataPathError(f"{name or source}: no images to compute colour statistics from")
  if skip_log is None:
    skip_log = data.SkipLog()
  extra = {} if near_grey_threshold is None else {"near_grey_threshold": near_grey_threshold}
  # The grey input is not used here: the smallest size keeps decoding cheap.
  dataset = data.make_dataset(paths, field_size=field_size, grey_size=field_size,
                              batch_size=batch_size, drop_near_grey=drop_near_grey,
                              skip_log=skip_log, **extra)
  bins = np.asarray(color.ab_bins(), np.float64)
  pca = StreamingPCA(2 * field_size * field_size)
  bin_counts = np.zeros(len(bins), np.int64)
  for batch in dataset:
    fields = batch["colour_field"].numpy()
    pca.update(flatten_field(fields))
    nearest = np.asarray(color.nearest_bin(fields * color.AB_SCALE)).ravel()
    bin_counts += np.bincount(nearest, minlength=len(bins))
    if progress is not None:  # photos read and photos left out
      progress.update_to(pca.count + skip_log.count)
  if pca.count < 2:
    raise data.DataPathError(
        f"{name or source}: {pca.count} usable photo(s) of {len(paths)}; colour statistics need at least "
        f"2 ({skip_log.report() or 'none skipped'})")
  return from_accumulated(pca, bin_counts, bins, n_components=n_components,
                          prior_sigma=prior_sigma, uniform_mix=uniform_mix,
                          field_size=field_size, source=source)


def describe(stats):
  """A short human-readable summary of a :class:`ColourStats`, as a list of lines."""
  ratio = stats.explained_variance_ratio
  lines = [
      f"images: {stats.image_count} from {stats.source}",
      f"PCA: {stats.n_components} components of {stats.pca_components.shape[1]}-D colour fields "
      f"explain {ratio.sum():.1%} of the total variance {stats.pca_total_variance:.4g} "
      f"(first: {', '.join(f'{r:.1%}' for r in ratio[:5])}); residual variance "
      f"{stats.pca_residual_variance:.4g}",
      f"prior: {int(np.sum(stats.prior_raw > 0))} of {len(stats.bins)} bins observed, "
      f"smoothed with sigma {stats.prior_sigma:g}",
  ]
  for kind in WEIGHT_KINDS:
    w = stats.weights(kind)
    lines.append(f"weights {kind}: {w.min():.4g} .. {w.max():.4g} "
                 f"(max/min {w.max() / w.min():.3g})")
  return lines


def bin_weights_for(stats, loss_config):
  """The 313 bin weights of L_hist for a config's ``loss`` section: ``stats.weights`` of its
  ``colourfulness`` kind, or all ones for "uniform" (the plain L2 of Table 1's L2 column)."""
  if loss_config.colourfulness == "uniform":  # hist term reduces to plain L2 (Table 1's L2 column)
    return np.ones(len(stats.bins), np.float32)
  return stats.weights(loss_config.colourfulness)
