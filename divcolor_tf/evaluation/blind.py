"""Photo-blind answers that frame Table 3: the training mean field and a k-colour-field palette.

A colorizer whose K outputs do not depend on the photo can still score a fair error-of-best: K
fixed whole colour fields, chosen once from the training split, cover the common layouts (warm
face on a neutral background, a cooler one, ...). A model is only *conditional* if it beats that.

  palette-k   k-means (k = the evaluated K) over training colour fields (64x64x2 ab/128, squared
              Euclidean distance on the flattened field); every photo gets the same k fields, and
              its error-of-best is that of the closest one.
  mean field  the training split's mean colour field (the PCA mean of ``stats.npz``).

Both are fitted on the training split only (never on the photos they are scored on) and stored in
one ``baselines.npz`` (``mean`` [F, F, 2] and ``palette_k`` [k, F, F, 2] for k = 1..M): beside a
training workdir, made on first use by ``divcolor-evaluate``; inside an export, in
``assets.extra/`` (``divcolor-export`` copies it), so a shipped model is evaluated without its
training photos.
"""

import os

from absl import logging
import numpy as np

from divcolor_tf import data
from divcolor_tf.io import atomic
from divcolor_tf import workdir as workdir_lib


FILE = workdir_lib.BASELINES
FIELDS = 3000  # training colour fields the palette is fitted on (the measurement used 3,000)


def palette_kmeans(rows, k, *, seed=0, iterations=60, restarts=4):
  """k-means (Lloyd, k-means++ seeding) of ``rows`` [N, D]; the best of ``restarts`` runs.

  Returns:
    (centres [k, D] float32, inertia: the mean squared distance of a row to its centre).
  """
  rows = np.asarray(rows, np.float64)
  n = len(rows)
  if not 1 <= k <= n:
    raise ValueError(f"kmeans: k must be in [1, {n}] for {n} rows, got {k}")
  rng = np.random.default_rng(seed)
  sq_norms = (rows ** 2).sum(1)
  best = None
  for _ in range(restarts):
    centres = [rows[rng.integers(n)]]
    for _ in range(1, k):  # k-means++: next centre drawn by squared distance to the nearest
      dist = np.min([((rows - c) ** 2).sum(1) for c in centres], axis=0)
      centres.append(rows[rng.choice(n, p=dist / dist.sum())] if dist.sum() > 0
                     else rows[rng.integers(n)])
    centres = np.stack(centres)
    for _ in range(iterations):
      d2 = sq_norms[:, None] - 2 * rows @ centres.T + (centres ** 2).sum(1)[None]
      labels = d2.argmin(1)
      new = np.stack([rows[labels == j].mean(0) if np.any(labels == j) else centres[j]
                      for j in range(k)])
      if np.allclose(new, centres):
        break
      centres = new
    d2 = sq_norms[:, None] - 2 * rows @ centres.T + (centres ** 2).sum(1)[None]
    inertia = float(np.maximum(d2.min(1), 0).mean())
    if best is None or inertia < best[1]:
      best = (centres.astype(np.float32), inertia)
  return best


def training_fields(paths, field_size=64, max_fields=FIELDS, seed=0, drop_near_grey=True,
                    near_grey_threshold=None):
  """Up to ``max_fields`` colour fields [N, F, F, 2] (ab/128) of a seeded sample of ``paths``."""
  paths = list(data.list_images(paths))
  if len(paths) > max_fields:
    order = np.random.default_rng(seed).permutation(len(paths))[:max_fields]
    paths = [paths[i] for i in sorted(order)]
  kwargs = {}
  if near_grey_threshold is not None:
    kwargs["near_grey_threshold"] = near_grey_threshold
  ds = data.make_dataset(paths, field_size=field_size, grey_size=field_size, batch_size=64,
                         drop_near_grey=drop_near_grey, skip_log=data.SkipLog(warn=False),
                         **kwargs)
  return np.concatenate([b["colour_field"].numpy() for b in ds])


def fit(fields, mean_field, max_k=8, seed=0):
  """{'mean': [F, F, 2], 'palette_1'..'palette_{max_k}': [k, F, F, 2]} from training fields."""
  fields = np.asarray(fields, np.float32)
  shape = fields.shape[1:]
  rows = fields.reshape(len(fields), -1)
  out = {"mean": np.asarray(mean_field, np.float32).reshape(shape)}
  for k in range(1, max_k + 1):
    centres, _ = palette_kmeans(rows, k, seed=seed)
    out[f"palette_{k}"] = centres.reshape((k,) + shape)
  return out


def save(baselines, path):
  """Writes ``baselines`` (a dict of arrays) to ``path`` atomically."""
  with atomic.atomic_path(path) as temp, open(temp, "wb") as f:
    np.savez(f, **baselines)
  return path


def load(path):
  """Reads a ``baselines.npz`` written by :func:`save`.

  Raises:
    ValueError: ``path`` is not a baselines file (not an .npz of plain arrays, e.g. a pickled
      one; no ``mean``; a palette that is not k fields of the mean's shape); one line, names it.
  """
  path = os.fspath(path)
  try:
    record = atomic.read_npz(path)
  except ValueError as e:
    raise ValueError(f"{path}: not a photo-blind baselines file ({e}); delete it and "
                     "divcolor-evaluate fits it again from the training photos") from None
  mean = record.get("mean")
  if mean is None or mean.ndim != 3 or mean.shape[-1] != 2:
    raise ValueError(f"{path}: not a photo-blind baselines file (no 'mean' colour field "
                     "[F, F, 2]); delete it and divcolor-evaluate fits it again")
  for name, value in record.items():
    if name.startswith("palette_"):
      k = name[len("palette_"):]
      if not k.isdigit() or value.shape != (int(k),) + mean.shape:
        raise ValueError(f"{path}: baselines entry {name} has shape {value.shape}, not "
                         f"({k}, {', '.join(map(str, mean.shape))})")
  return record


def for_model(model_dir, config, stats=None, max_k=8):
  """The baselines of a model directory: its ``baselines.npz`` (a workdir's, or an export's
  ``assets.extra/``), else fitted on the config's training split and saved beside the workdir's
  other files; None (with a log line) when neither is possible, e.g. a shipped model on a machine
  without its training photos and no stored baselines.
  """
  for candidate in (os.path.join(model_dir, FILE), os.path.join(model_dir, "assets.extra", FILE)):
    if os.path.isfile(candidate):
      return load(candidate)
  if stats is None:
    logging.info("%s: no %s and no stats.npz: photo-blind baselines left out", model_dir, FILE)
    return None
  try:
    train_paths, _ = data.config_paths(config.data)
  except (ValueError, FileNotFoundError) as e:
    logging.info("%s: training photos unavailable (%s): photo-blind baselines left out",
                 model_dir, e)
    return None
  logging.info("fitting the photo-blind baselines on %d training photos (at most %d fields)",
               len(train_paths), FIELDS)
  fields = training_fields(train_paths, int(config.data.field_size),
                           drop_near_grey=bool(config.data.drop_near_grey),
                           near_grey_threshold=float(config.data.near_grey_threshold))
  result = fit(fields, stats.unflatten_mean(int(config.data.field_size)), max_k=max_k)
  if os.path.isfile(workdir_lib.path(model_dir, workdir_lib.CONFIG)):  # a workdir, not an export
    save(result, workdir_lib.path(model_dir, FILE))
  return result
