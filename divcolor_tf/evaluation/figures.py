"""Figures in the paper's style: one row per photo, its grey input, its top-k colorizations in
descending order of mixture weight, and the photo's own colours (Figures 1, 5-7 of the paper).

:func:`figure` lays out each photo's images with their longer side ``cell`` pixels, a header
naming the columns and, under each colorization, its mixture weight. A row is as tall as its
photo's images and a column as wide as the widest (:func:`_layout`): square cells left a blank
band of a third of a cell above and below every landscape photo. It is numpy and Pillow only, so
a 20-photo figure of 12-megapixel photos costs what its thumbnails do.
:func:`colorized_rows` colorizes the photos with any colorizer (workdir or export), naming each
photo that cannot be read in a one-line ``on_error`` while the others go on.
"""

import numpy as np

from divcolor_tf import data
from divcolor_tf.inference import outputs
from divcolor_tf.io import atomic
from divcolor_tf.io import photos


HEADER = 22  # pixels of the column titles
CAPTION = 16  # pixels under a colorization for its weight
GAP = 4  # pixels between cells
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


def _fitted_size(shape, cell):
  """(width, height) of an image of ``shape`` [h, w, ...] with its longer side ``cell``."""
  height, width = shape[:2]
  scale = cell / max(height, width)
  return max(1, round(width * scale)), max(1, round(height * scale))


def _fit(rgb, cell):
  """uint8 RGB shrunk (or enlarged) so that its longer side is ``cell``, as a Pillow image."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  rgb = np.asarray(rgb, np.uint8)
  return Image.fromarray(rgb).resize(_fitted_size(rgb.shape, cell), Image.Resampling.LANCZOS,
                                     reducing_gap=3.0)


def _layout(photos, cell):
  """(column width, [row height]) for rows of ``photos``: the widest fitted photo, each one's
  height (a row's images all have its photo's size)."""
  sizes = [_fitted_size(np.shape(photo), cell) for photo in photos]
  return max(width for width, _ in sizes), [height for _, height in sizes]


def _grey(rgb):
  """The photo's lightness as a grey uint8 RGB image (what the model sees)."""
  from skimage import color as skcolor  # pylint: disable=g-import-not-at-top  (scikit-image on first use: a light import)
  lightness = skcolor.rgb2lab(photos.as_float_rgb(rgb))[..., 0]
  grey = np.clip(np.round(lightness / 100.0 * 255.0), 0, 255).astype(np.uint8)
  return np.repeat(grey[..., None], 3, axis=-1)


def figure(rows, k, *, truth=True, cell=160, sampled=False, methods=None, column_titles=None):
  """The figure as uint8 RGB [H, W, 3].

  Args:
    rows: a list of (photo uint8 [h, w, 3], colorization) pairs; ``colorization`` has
      ``colorizations`` [k, h, w, 3] and ``weights`` [k] (``colorize.Colorization``). With
      ``methods``, a list of them instead, one per method, in the order of ``methods``.
    k: colorizations per row (per method).
    truth: add a last column with the photo's own colours.
    cell: the longer side of every image, in pixels.
    sampled: the colorizations are draws from the mixture (captions say "sample").
    methods: the methods' names, for the paper's comparison layout (Figures 7 and 8): per photo
      the grey input, each method's k colorizations side by side, the truth.
    column_titles: the colorization columns' titles (default "#1".."#k", or "sample1"..).
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  from PIL import ImageDraw  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  if not rows:
    raise ValueError("no photos to draw")
  if methods:
    return _comparison(rows, k, methods, truth=truth, cell=cell, sampled=sampled)
  titles = ["input (L)"] + list(column_titles or (
      f"{'sample' if sampled else '#'}{i}" for i in range(1, k + 1)))
  if truth:
    titles.append("ground truth")
  columns = len(titles)
  column, heights = _layout([photo for photo, _ in rows], cell)
  width = columns * column + (columns + 1) * GAP
  height = HEADER + sum(h + CAPTION + GAP for h in heights) + GAP
  canvas = Image.new("RGB", (width, height), BACKGROUND)
  draw = ImageDraw.Draw(canvas)
  for c, title in enumerate(titles):
    x = GAP + c * (column + GAP)
    draw.text((x + column // 2, HEADER // 2), title, fill=INK, anchor="mm")
  y = HEADER + GAP
  for (photo, result), row_height in zip(rows, heights):
    cells = [_grey(photo)] + list(result.colorizations[:k]) + ([photo] if truth else [])
    for c, image in enumerate(cells):
      x = GAP + c * (column + GAP)
      fitted = _fit(image, cell)
      canvas.paste(fitted, (x + (column - fitted.width) // 2,
                            y + (row_height - fitted.height) // 2))
      if 1 <= c <= k:
        draw.text((x + column // 2, y + row_height + CAPTION // 2),
                  f"pi = {result.weights[c - 1]:.3f}", fill=INK, anchor="mm")
    y += row_height + CAPTION + GAP
  return np.asarray(canvas)


class _Joined:
  """The colorizations of several methods for one photo, as one row of :func:`figure`."""

  def __init__(self, results, k):
    self.colorizations = [image for r in results for image in list(r.colorizations)[:k]]
    self.weights = [w for r in results for w in list(r.weights)[:k]]


def _comparison(rows, k, methods, *, truth, cell, sampled):
  """:func:`figure` in the comparison layout: a title row naming each method over its k columns."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  from PIL import ImageDraw  # pylint: disable=g-import-not-at-top  (Pillow on first use: a light import)
  for _, results in rows:
    if len(results) != len(methods):
      raise ValueError(f"{len(methods)} methods named but a row has {len(results)}")
  numbers = [f"{'sample' if sampled else '#'}{i}" for i in range(1, k + 1)]
  body = figure([(photo, _Joined(results, k)) for photo, results in rows], k * len(methods),
                truth=truth, cell=cell, sampled=sampled, column_titles=numbers * len(methods))
  top = HEADER
  canvas = Image.new("RGB", (body.shape[1], body.shape[0] + top), BACKGROUND)
  canvas.paste(Image.fromarray(body), (0, top))
  draw = ImageDraw.Draw(canvas)
  column, _ = _layout([photo for photo, _ in rows], cell)
  for m, name in enumerate(methods):
    first = 1 + m * k  # the method's first column (column 0 is the input)
    x0 = GAP + first * (column + GAP)
    x1 = GAP + (first + k) * (column + GAP) - GAP
    draw.text(((x0 + x1) // 2, top // 2), name, fill=INK, anchor="mm")
    draw.line([(x0, top - 3), (x1, top - 3)], fill=INK)
  return np.asarray(canvas)


def colorized_rows(colorizer, paths, k, *, samples=0, seed=0, on_error=None, progress=None,
                   first_index=0):
  """[(photo, colorization)] for the photos of ``paths`` that can be read; each one that cannot
  is named in a one-line ``on_error(message)``. ``samples`` > 0 draws that many from the mixture
  (photo i from its own stream of ``seed``; ``paths[0]`` is photo ``first_index``) instead of the
  top-k means."""
  rows = []
  for index, path in enumerate(paths, start=first_index):
    try:
      photo = data.load_rgb(path, max_megapixels=getattr(colorizer, "max_megapixels", None))
      if samples:
        result = colorizer.colorize(photo, samples=samples, seed=outputs.sample_seed(seed, index))
      else:
        result = colorizer.colorize(photo, k=k)
      rows.append((photo, result))
    except (data.ImageError, OSError, ValueError) as e:
      if on_error is not None:
        on_error(str(e) if isinstance(e, data.ImageError)
                 else f"{data.display_path(path)}: {atomic.brief(e, None)}")
    if progress is not None:
      progress.update()
  return rows
