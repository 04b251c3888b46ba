"""Figures in the paper's style: one row per photo, its grey input, its top-k colorizations in
descending order of mixture weight, and the photo's own colours (Figures 1, 5-7 of the paper).

:func:`figure` lays out cells of ``cell`` x ``cell`` pixels (each image fitted inside, centred on
white), a header naming the columns and, under each colorization, its mixture weight. It is
numpy and Pillow only, so a 20-photo figure of 12-megapixel photos costs what its thumbnails do.
:func:`colorized_rows` colorizes the photos with any colorizer (workdir or export), naming each
photo that cannot be read in a one-line ``on_error`` while the others go on.
"""

import numpy as np


HEADER = 22  # pixels of the column titles
CAPTION = 16  # pixels under a colorization for its weight
GAP = 4  # pixels between cells
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


def _fit(rgb, cell):
  """uint8 RGB shrunk (or enlarged) to fit a ``cell`` x ``cell`` square, centred on white."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = Image.fromarray(np.asarray(rgb, np.uint8))
  scale = cell / max(image.size)
  size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
  image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
  canvas = Image.new("RGB", (cell, cell), BACKGROUND)
  canvas.paste(image, ((cell - size[0]) // 2, (cell - size[1]) // 2))
  return canvas


def _grey(rgb):
  """The photo's lightness as a grey uint8 RGB image (what the model sees)."""
  from divcolor_tf.io import photos  # pylint: disable=g-import-not-at-top
  from skimage import color as skcolor  # pylint: disable=g-import-not-at-top
  lightness = skcolor.rgb2lab(photos.as_float_rgb(rgb))[..., 0]
  grey = np.clip(np.round(lightness / 100.0 * 255.0), 0, 255).astype(np.uint8)
  return np.repeat(grey[..., None], 3, axis=-1)


def figure(rows, k, *, truth=True, cell=160, sampled=False):
  """The figure as uint8 RGB [H, W, 3].

  Args:
    rows: a list of (photo uint8 [h, w, 3], colorization) pairs; ``colorization`` has
      ``colorizations`` [k, h, w, 3] and ``weights`` [k] (``colorize.Colorization``).
    k: colorizations per row.
    truth: add a last column with the photo's own colours.
    cell: the side of every cell, in pixels.
    sampled: the colorizations are draws from the mixture (captions say "sample").
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from PIL import ImageDraw  # pylint: disable=g-import-not-at-top
  if not rows:
    raise ValueError("no photos to draw")
  titles = ["input (L)"] + [f"{'sample' if sampled else '#'}{i}" for i in range(1, k + 1)]
  if truth:
    titles.append("ground truth")
  columns = len(titles)
  row_height = cell + CAPTION
  width = columns * cell + (columns + 1) * GAP
  height = HEADER + len(rows) * (row_height + GAP) + GAP
  canvas = Image.new("RGB", (width, height), BACKGROUND)
  draw = ImageDraw.Draw(canvas)
  for c, title in enumerate(titles):
    x = GAP + c * (cell + GAP)
    draw.text((x + cell // 2, HEADER // 2), title, fill=INK, anchor="mm")
  for r, (photo, result) in enumerate(rows):
    y = HEADER + GAP + r * (row_height + GAP)
    cells = [_grey(photo)] + list(result.colorizations[:k]) + ([photo] if truth else [])
    for c, image in enumerate(cells):
      x = GAP + c * (cell + GAP)
      canvas.paste(_fit(image, cell), (x, y))
      if 1 <= c <= k:
        draw.text((x + cell // 2, y + cell + CAPTION // 2), f"pi = {result.weights[c - 1]:.3f}",
                  fill=INK, anchor="mm")
  return np.asarray(canvas)


def colorized_rows(colorizer, paths, k, *, samples=0, seed=0, on_error=None, progress=None):
  """[(photo, colorization)] for the photos of ``paths`` that can be read; each one that cannot
  is named in a one-line ``on_error(message)``. ``samples`` > 0 draws that many from the mixture
  (photo i from its own stream of ``seed``) instead of the top-k means."""
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.inference import outputs  # pylint: disable=g-import-not-at-top
  rows = []
  for index, path in enumerate(paths):
    try:
      photo = data.load_rgb(path)
      if samples:
        result = colorizer.colorize(photo, samples=samples, seed=outputs.sample_seed(seed, index))
      else:
        result = colorizer.colorize(photo, k=k)
      rows.append((photo, result))
    except (data.ImageError, OSError, ValueError) as e:
      if on_error is not None:
        on_error(str(e) if isinstance(e, data.ImageError)
                 else f"{data.display_path(path)}: {' '.join(str(e).split())}")
    if progress is not None:
      progress.update()
  return rows
