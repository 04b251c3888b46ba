"""The paper's evaluation protocols (Section 7.2, Tables 1-3), in ab/128 units.

Table 1: mean absolute error per pixel between the ground-truth colour field C and the decoder's
  reconstruction f(mu(C)) from the encoder's own mean embedding (an embedding test, not
  colorization).
Table 2: the same, each pixel weighted by the colourfulness weight of its ground-truth colour bin
  (the weights of L_hist, Section 3.1).
Both over all pixels ("All") and over an 8x8 uniformly spaced grid in the centre of the image
  ("Grid", which avoids counting many correlated neighbouring pixels).

Table 3 (Section 7.3): K diverse colorizations per image (paper K = 5, the top-5 means), scored
  over all pixels of the 64x64 field by the error-of-best (the mean absolute error per pixel of the
  colorization closest to the ground truth) and the variance across the K (the paper's proxy for
  diversity: the variance over the K values of each pixel and channel, averaged over pixels and
  channels; the population variance, dividing by K, as numpy's default).

"Absolute error per pixel" is read as the mean over pixels of the mean over the two channels of
|C - f|, in ab/128 units (the authors' unit). The grid takes the centre pixel of each cell of an
8x8 partition of the field: rows and columns 4, 12, ..., 60 of a 64x64 field (the paper does not
give its exact positions).
"""

import numpy as np


GRID = 8


def grid_positions(size, n=GRID):
  """Row/column indices of an n x n uniformly spaced grid centred in a size x size field."""
  step = size / n
  return (np.arange(n) * step + step / 2).astype(np.int64)


def absolute_error(target, pred, pixel_weights=None, grid=False):
  """Per-image (weighted) mean absolute error per pixel.

  Args:
    target, pred: [B, H, W, 2] colour fields (ab/128).
    pixel_weights: optional [B, H, W] colourfulness weights of the target's pixels.
    grid: evaluate only on the centred 8x8 grid.

  Returns:
    [B] float64 errors.
  """
  err = np.abs(np.asarray(target, np.float64) - np.asarray(pred, np.float64)).mean(-1)
  if pixel_weights is not None:
    err = err * np.asarray(pixel_weights, np.float64)
  if grid:
    rows = grid_positions(err.shape[1])
    cols = grid_positions(err.shape[2])
    err = err[:, rows][:, :, cols]
  return err.reshape(err.shape[0], -1).mean(-1)


def error_of_best(target, colorizations):
  """Table 3: per image, the smallest mean absolute error among K colorizations.

  Args:
    target: [B, H, W, 2]; colorizations: [B, K, H, W, 2] (ab/128).

  Returns:
    ([B] errors of the best colorization, [B] its index).
  """
  target = np.asarray(target, np.float64)[:, None]
  errs = np.abs(target - np.asarray(colorizations, np.float64)).mean(axis=(2, 3, 4))
  return errs.min(1), errs.argmin(1)


def diversity_variance(colorizations):
  """Table 3: per image, the variance across the K colorizations, averaged over pixels/channels."""
  c = np.asarray(colorizations, np.float64)
  return c.var(axis=1).mean(axis=(1, 2, 3))


class Table12:
  """Accumulates the Table 1 and Table 2 errors over batches."""

  COLUMNS = ("abs_all", "abs_grid", "weighted_all", "weighted_grid")

  def __init__(self):
    self.values = {k: [] for k in self.COLUMNS}

  def update(self, target, pred, pixel_weights):
    self.values["abs_all"].append(absolute_error(target, pred))
    self.values["abs_grid"].append(absolute_error(target, pred, grid=True))
    self.values["weighted_all"].append(absolute_error(target, pred, pixel_weights))
    self.values["weighted_grid"].append(absolute_error(target, pred, pixel_weights, grid=True))

  @property
  def count(self):
    return int(sum(len(v) for v in self.values["abs_all"]))

  def result(self):
    return {k: float(np.concatenate(v).mean()) if v else float("nan")
            for k, v in self.values.items()}


def mean_chroma(fields):
  """Mean chroma sqrt(a^2 + b^2) over the pixels of each field: [..., H, W, 2] -> [...]."""
  f = np.asarray(fields, np.float64)
  return np.sqrt((f ** 2).sum(-1)).mean(axis=(-2, -1))


def spatial_variation(fields):
  """How much colour varies across a field: sqrt(var_pixels(a) + var_pixels(b)), [..., H, W, 2]
  -> [...]. A single global tint scores 0 however strong it is."""
  f = np.asarray(fields, np.float64)
  return np.sqrt(f.var(axis=(-3, -2)).sum(-1))


class Table3:
  """Accumulates the Table 3 figures over batches, and how colourful the best colorization is.

  eob, variance: the paper's error-of-best and variance across K (module docstring).
  chroma_ratio: mean chroma of each photo's best colorization over that of its truth (the ratio of
    the means over photos; 1 = as colourful as the photos, < 1 greyer).
  spatial_ratio: the same for :func:`spatial_variation` (< 1: colour more uniform than in the
    photos, e.g. a global tint where the photo has a blue shirt on a red face).
  top1: the mean absolute error of the FIRST colorization (the top-ranked one: highest weight),
    what a user who keeps one output gets.
  """

  COLUMNS = ("eob", "variance", "chroma_ratio", "spatial_ratio", "top1")

  def __init__(self):
    self.values = {k: [] for k in ("eob", "variance", "chroma_best", "chroma_true",
                                   "spatial_best", "spatial_true", "top1")}

  def update(self, target, colorizations):
    """target [B, H, W, 2], colorizations [B, K, H, W, 2] (ab/128)."""
    colorizations = np.asarray(colorizations)
    errors, best = error_of_best(target, colorizations)
    chosen = colorizations[np.arange(len(best)), best]
    self.values["eob"].append(errors)
    self.values["variance"].append(diversity_variance(colorizations))
    self.values["chroma_best"].append(mean_chroma(chosen))
    self.values["chroma_true"].append(mean_chroma(target))
    self.values["spatial_best"].append(spatial_variation(chosen))
    self.values["spatial_true"].append(spatial_variation(target))
    self.values["top1"].append(error_of_best(target, colorizations[:, :1])[0])

  @property
  def count(self):
    return int(sum(len(v) for v in self.values["eob"]))

  def result(self):
    if not self.values["eob"]:
      return {k: float("nan") for k in self.COLUMNS}
    mean = {k: float(np.concatenate(v).mean()) for k, v in self.values.items()}
    return {"eob": mean["eob"], "variance": mean["variance"],
            "chroma_ratio": mean["chroma_best"] / max(mean["chroma_true"], 1e-12),
            "spatial_ratio": mean["spatial_best"] / max(mean["spatial_true"], 1e-12),
            "top1": mean["top1"]}


def markdown_table(rows, columns, headers=None):
  """rows: list of (name, {column: value}); a markdown table with 3 significant digits."""
  headers = headers or columns
  out = ["| | " + " | ".join(headers) + " |", "|---|" + "---|" * len(columns)]
  for name, values in rows:
    cells = []
    for c in columns:
      v = values.get(c)
      cells.append("" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v)))
    out.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(out)
