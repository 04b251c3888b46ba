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
  Beside them (not the paper's): the mean pairwise distance between the K (a diversity measure
  in the error's own unit) and the colourfulness of Hasler & Suesstrunk (2003) of the best, the
  first and the true colorization (:class:`Table3`).

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


def mean_pairwise_distance(colorizations):
  """Per image, the mean over the K(K-1)/2 pairs of its K colorizations of their mean absolute
  difference per pixel (mean over pixels and the two channels, ab/128): [B, K, H, W, 2] -> [B].
  0 for K = 1 (no pair)."""
  c = np.asarray(colorizations, np.float64)
  k = c.shape[1]
  total = np.zeros(c.shape[0])
  for i in range(k):  # pair by pair: [B, K, K, H, W, 2] at once would be K times the input
    for j in range(i + 1, k):
      total += np.abs(c[:, i] - c[:, j]).mean(axis=(1, 2, 3))
  return total / max(k * (k - 1) // 2, 1)


def colourfulness(srgb):
  """Hasler & Suesstrunk (2003)'s colourfulness M of sRGB images in [0, 255]: [..., H, W, 3] ->
  [...].

  M = sqrt(sigma_rg^2 + sigma_yb^2) + 0.3 sqrt(mu_rg^2 + mu_yb^2), with rg = R - G and
  yb = (R + G) / 2 - B per pixel, mu and sigma their mean and (population) standard deviation over
  the image's pixels. A grey image scores 0; the authors' scale: 33 "moderately", 59 "quite", 82
  "highly" colourful.
  """
  rgb = np.asarray(srgb, np.float64)
  if rgb.ndim < 3 or rgb.shape[-1] != 3:
    raise ValueError(f"colourfulness: sRGB images [..., H, W, 3] expected, got shape {rgb.shape}")
  rg = rgb[..., 0] - rgb[..., 1]
  yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
  axes = (-2, -1)
  return (np.sqrt(rg.var(axis=axes) + yb.var(axis=axes))
          + 0.3 * np.sqrt(rg.mean(axis=axes) ** 2 + yb.mean(axis=axes) ** 2))


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
  """Accumulates the Table 3 figures over batches, and how colourful and diverse the outputs are.

  eob, variance: the paper's error-of-best and variance across K (module docstring).
  chroma_ratio: mean chroma of each photo's best colorization over that of its truth (the ratio of
    the means over photos; 1 = as colourful as the photos, < 1 greyer).
  spatial_ratio: the same for :func:`spatial_variation` (< 1: colour more uniform than in the
    photos, e.g. a global tint where the photo has a blue shirt on a red face).
  top1: the mean absolute error of the FIRST colorization (the top-ranked one: highest weight),
    what a user who keeps one output gets.
  pairwise: the mean over photos of :func:`mean_pairwise_distance` of its K colorizations (0 for a
    row of one colorization).
  colourful_best, colourful_top1, colourful_truth: the mean over photos of :func:`colourfulness`
    of the best colorization (the error-of-best one), of the first, and of the photo's own colour
    field, each joined with the photo's lightness at the colour field's resolution (64x64) as sRGB
    in [0, 255]; only when :meth:`update` is given ``to_srgb``.
  """

  COLUMNS = ("eob", "variance", "chroma_ratio", "spatial_ratio", "top1", "pairwise",
             "colourful_best", "colourful_top1", "colourful_truth")
  COLOURFUL = ("colourful_best", "colourful_top1", "colourful_truth")

  def __init__(self):
    self.values = {k: [] for k in ("eob", "variance", "chroma_best", "chroma_true",
                                   "spatial_best", "spatial_true", "top1", "pairwise")
                   + self.COLOURFUL}

  def update(self, target, colorizations, to_srgb=None):
    """target [B, H, W, 2], colorizations [B, K, H, W, 2] (ab/128); ``to_srgb``: fields
    [B, n, H, W, 2] -> sRGB [B, n, H, W, 3] in [0, 255], each joined with its own photo's
    lightness (for the colourfulness columns; None: they are left out)."""
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
    self.values["pairwise"].append(mean_pairwise_distance(colorizations))
    if to_srgb is not None:
      fields = np.stack([chosen, colorizations[:, 0], np.asarray(target, chosen.dtype)], axis=1)
      images = np.asarray(to_srgb(fields))
      for i, column in enumerate(self.COLOURFUL):
        self.values[column].append(colourfulness(images[:, i]))

  @property
  def count(self):
    return int(sum(len(v) for v in self.values["eob"]))

  def result(self):
    """{column: mean over photos}; the colourfulness columns only when they were measured."""
    if not self.values["eob"]:
      return {k: float("nan") for k in self.COLUMNS}
    mean = {k: float(np.concatenate(v).mean()) for k, v in self.values.items() if v}
    out = {"eob": mean["eob"], "variance": mean["variance"],
           "chroma_ratio": mean["chroma_best"] / max(mean["chroma_true"], 1e-12),
           "spatial_ratio": mean["spatial_best"] / max(mean["spatial_true"], 1e-12),
           "top1": mean["top1"], "pairwise": mean["pairwise"]}
    out.update({k: mean[k] for k in self.COLOURFUL if k in mean})
    return out


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
