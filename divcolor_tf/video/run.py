"""divcolor-colorize's videos: the folder-run rules of :mod:`divcolor_tf.inference.outputs`
applied to clips (a video's set is ``<stem>_1.mp4`` .. ``<stem>_k.mp4`` and, with a grid,
``<stem>_grid.mp4``; its stem as a photo's, :func:`outputs.output_stem`).

Without ``overwrite`` or ``skip_existing`` nothing already there is touched: a clip whose files
all exist is skipped, one with only some is a one-line error. ``overwrite`` replaces a set,
``skip_existing`` skips a complete one (every file an MP4 at the clip's size with its frame
count) and redoes the others; both replace only files this project wrote
(:func:`frames.ours`). A clip that cannot be read or written is one line naming it; the others go
on.
"""

import os
from typing import NamedTuple

from absl import logging

from divcolor_tf import data
from divcolor_tf.inference import outputs
from divcolor_tf.io import atomic
from divcolor_tf.video import frames
from divcolor_tf.video import steady


class Summary(NamedTuple):
  total: int
  done: int
  skipped: int
  failed: list


def _set_problems(files, info, k, grid):
  """[(file, problem)] of a clip's set; [] when complete (:func:`frames.complete`)."""
  sizes = [(info.width, info.height)] * k + ([steady.grid_size(info, k)] if grid else [])
  return [(f, p) for f, size in zip(files, sizes) for p in [frames.complete(f, info, *size)] if p]


def _one(colorizer, path, stem, k, grid, overwrite, skip_existing, on_error, max_megapixels,
         temporal):
  files = steady.output_files(stem, k, grid)
  existing = [f for f in files if os.path.lexists(f)]
  shown = data.display_path(path)
  if existing and not (overwrite or skip_existing):
    if len(existing) == len(files):
      return "skipped"
    on_error(f"{shown}: {len(existing)} of its {len(files)} output files exist "
             f"({data.display_path(existing[0])}: an interrupted run?); --skip_existing completes "
             "the set, --overwrite replaces it")
    return "failed"
  foreign = [f for f in existing if not frames.ours(f)]
  if foreign:
    on_error(f"{data.display_path(foreign[0])}: exists and was not written by divcolor_tf; not "
             f"replaced (its video {shown} is left undone)")
    return "failed"
  try:
    if skip_existing and len(existing) == len(files) and not _set_problems(
        files, frames.probe(path), k, grid):
      return "skipped"
    steady.colorize_video(colorizer, path, k=k, grid=grid, stem=stem,
                          replace=overwrite or skip_existing, max_megapixels=max_megapixels,
                          temporal=temporal)
  except FileExistsError:
    on_error(f"{shown}: its outputs appeared meanwhile (another run?); left alone")
    return "failed"
  except frames.VideoError as e:
    on_error(str(e))
    return "failed"
  except (OSError, ValueError) as e:
    on_error(f"{shown}: {atomic.brief(e, None)}")
    return "failed"
  return "done"


def colorize_videos(colorizer, paths, output_dir, *, input_root=None, k=5, grid=False,
                    overwrite=False, skip_existing=False, on_error=None, progress=None,
                    max_megapixels=None, temporal=steady.TEMPORAL):
  """Colorizes each clip of ``paths`` into ``output_dir`` (module docstring): a
  :class:`Summary`. A colorizer without a mixture (a baseline) fails them all in one line; a
  clip whose frames are over ``max_megapixels`` (None: :data:`frames.MAX_FRAME_MEGAPIXELS`, 4K;
  0: no limit) is one line. ``temporal``: the temporal filter's memory (steady.TemporalFilter;
  0: off)."""
  on_error = on_error or (lambda message: logging.error("%s", message))
  paths = list(paths)
  try:
    steady.check(colorizer)
    frames.av_module()
  except ValueError as e:
    on_error(f"{len(paths)} video(s) not colorized: {e}")
    return Summary(len(paths), 0, 0, list(paths))
  outcomes = {"done": [], "skipped": [], "failed": []}
  for path in paths:
    stem = outputs.output_stem(path, input_root, output_dir)
    atomic.remove_stale_temps(os.path.dirname(stem) or ".")
    outcome = _one(colorizer, path, stem, k, grid, overwrite, skip_existing, on_error,
                   max_megapixels, temporal)
    outcomes[outcome].append(path)
    if progress is not None:
      progress.update()
  return Summary(len(paths), len(outcomes["done"]), len(outcomes["skipped"]), outcomes["failed"])
