"""k colorizations of a clip, each steady in time within a shot (issue 46).

Colorizing each frame alone flickers: the mixture the MDN predicts moves a little from frame to
frame, its top component can change places with the next, and the decoded colour field follows.
Here a clip gets one mixture per shot instead:

1. Shots (:func:`shot_starts`): consecutive frames' lightness histograms (32 bins, at 96x64) are
   compared by total variation distance, and their pixels by mean |delta Y|; a frame starts a
   new shot when both jump (distance > :data:`CUT_HISTOGRAM` and mean |delta Y| >
   :data:`CUT_PIXELS`, 0-255 units). Measured on the shared clips: bikes_cuts.mp4's five cuts
   score 0.23-0.71 and 47-83, its other pairs at most 0.12 and 20; the fastest motion of the
   handheld cockatoo_handheld.mp4 (a beak sweeping past the lens, no cut) reaches 0.175 and 42,
   hence 0.20. A fast pan or a flash can still start a shot; a dissolve is not a cut.
2. One mixture per shot (:func:`plan`): every frame's mixture (the MDN's component means and
   weights from its grey image at the trunk's size) is computed in a first pass, which keeps
   only those (frames x M x d floats), and averaged over the shot: the component means, and the
   weights (softmax of the logits). Version i of the shot is the component with the i-th largest
   averaged weight, and decodes its averaged mean z_i for every frame of the shot.
3. Frames (:func:`steady_frames`, a second pass): each frame decodes the shot's k codes with its
   own 64x64 lightness (which a "+skip" decoder reads) and joins the fields with its own
   full-resolution lightness (:class:`divcolor_tf.inference.steer.Photo`): within a shot, only
   the frame's lightness changes a version's colours.
4. A temporal filter on each version's 64x64 colour field (:class:`TemporalFilter`), within a
   shot: ``field_t = g * decoded_t + (1 - g) * field_{t-1}``, with g per pixel from the change
   of the frame's own 64x64 lightness, ``g = 1 - temporal * max(0, 1 - |L_t - L_{t-1}| / tau)``:
   where the lightness held, the field mostly keeps its previous value; where it changed by tau
   or more (a moving thing), g = 1 and the field follows the new decode (nothing smeared). A
   shot's first frame takes its decoded fields as they are. Why: a "+skip" decoder re-reads
   each frame's lightness, so its field shifts a little everywhere when the frame changes
   anywhere; this is what the held code leaves of the flicker.

:func:`colorize_video` writes ``<stem>_1.mp4`` .. ``<stem>_k.mp4`` (and ``<stem>_grid.mp4``: the
grey input beside the k versions, downscaled) at the clip's size and frame rate, each complete
before it is renamed. Only colorizers with a mixture over codes (ours); a baseline is refused in
one line.
"""

import collections
from concurrent import futures
import os
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from divcolor_tf.inference import fullres
from divcolor_tf.inference import steer
from divcolor_tf.video import frames as frames_lib

CUT_HISTOGRAM = 0.20  # total variation distance of consecutive 32-bin lightness histograms
CUT_PIXELS = 30.0  # mean |delta Y| of consecutive frames, 0-255
SHOT_SIZE = (96, 64)  # (width, height) the shot detector reads frames at
HISTOGRAM_BINS = 32
BATCH = 8  # frames through the MDN at once, and at most through the decoder at once (pass 2)
# Pass 2 decodes the k codes of up to BATCH frames in one batch while they hold at most this many
# pixels (the frames and their lightness are kept until decoded): 640x360 frames go 8 at a time
# (a batch of 40 codes costs 26% less a frame than 8 batches of 5), 1080p ones one at a time.
DECODE_PIXELS = 2_500_000
# The k versions of a frame are joined in one call while k frames hold at most this many pixels
# (~30% less than k joins at 640x360; 1080p at k = 5 still is); larger frames are joined one
# version at a time, which holds one full-size version, not k (250 MB at 4K, k = 5).
JOIN_PIXELS = 1920 * 1080 * 5
ENCODE_AHEAD = 12  # outputs (versions and grid frames) that may wait for the encoder thread
ENCODE_AHEAD_PIXELS = 1920 * 1088  # larger outputs are encoded in the caller's thread, waiting
GRID_HEIGHT = 180  # panel height of the grid video (at most the clip's own)
TEMPORAL = 0.95  # default memory of the temporal filter (0: off); measured, docs/quality.md 24
TEMPORAL_TAU = 8.0  # |delta L| (0-100) of the 64x64 lightness at which a pixel forgets


def _grey(rgb):
  return rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])


class ShotDetector:
  """Feeds frames one at a time (uint8 RGB at any size; :data:`SHOT_SIZE` is what the shared
  thresholds were measured at) and collects the indices of the frames that start a shot."""

  def __init__(self):
    self.starts, self.count = [0], 0
    self._previous = None

  def add(self, rgb_small):
    grey = _grey(rgb_small)
    histogram = np.histogram(grey, bins=HISTOGRAM_BINS, range=(0, 256))[0] / grey.size
    if self._previous is not None:
      last_histogram, last_grey = self._previous
      distance = 0.5 * np.abs(histogram - last_histogram).sum()
      pixels = np.abs(grey - last_grey).mean()
      if distance > CUT_HISTOGRAM and pixels > CUT_PIXELS:
        self.starts.append(self.count)
    self._previous = histogram, grey
    self.count += 1


def shot_starts(path):
  """The frames of ``path`` that start a shot ([0, ...]), from its grey frames at low resolution
  (a cheap pass: FFmpeg scales each frame down as it decodes)."""
  detector = ShotDetector()
  for rgb in frames_lib.rgb_frames(path, size=SHOT_SIZE):
    detector.add(rgb)
  return detector.starts


class Plan(NamedTuple):
  """A clip's shots and the codes of its k versions."""
  info: frames_lib.Info
  starts: list  # first frame of each shot
  frames: int  # frames decoded
  codes: np.ndarray  # [S, k, d]: version i of shot s decodes codes[s, i]
  components: np.ndarray  # [S, k] the mixture component of each code
  weights: np.ndarray  # [S, k] its averaged weight, descending within a shot
  means: np.ndarray  # [S, M, d] each shot's averaged mixture
  logits: np.ndarray  # [S, M] log of its averaged weights

  def shot_of(self, frame):
    return int(np.searchsorted(self.starts, frame, side="right") - 1)


def check(colorizer):
  """One-line ValueError unless ``colorizer`` has a mixture over codes (ours)."""
  if not (callable(getattr(colorizer, "mixture", None))
          and callable(getattr(colorizer, "decode", None))
          and getattr(colorizer, "grey_size", None)):
    raise ValueError(f"{type(colorizer).__name__}: video colorization needs a mixture over codes "
                     "(ours); a baseline has none")


_LIGHTNESS = tf.function(fullres.photo_lightness)


def _lightness(colorizer, rgb, grey=True):
  """(L [1, H, W, 1], grey L [1, G, G, 1] (None unless ``grey``), field L [1, F, F, 1]) of a
  uint8 frame."""
  lightness = _LIGHTNESS(tf.constant(rgb[None]))
  return (lightness, colorizer.grey_input(lightness) if grey else None,
          fullres.squash(lightness, colorizer.field_size, colorizer.antialias))


def plan(colorizer, path, k=5, max_frames=None, max_megapixels=None):
  """Pass 1: shots and each shot's mixture and top-k codes (module docstring).

  Raises:
    ValueError: one line: a colorizer without a mixture, k out of range, a bad video, frames
      over ``max_megapixels`` (:func:`frames.over_budget`: None, 4K; 0, no limit).
  """
  check(colorizer)
  if isinstance(k, bool) or int(k) != k or not 1 <= k <= colorizer.num_components:
    raise ValueError(f"k must be in [1, {colorizer.num_components}], got {k!r}")
  info = frames_lib.probe(path)
  problem = frames_lib.over_budget(info.width, info.height, max_megapixels)
  if problem:
    raise frames_lib.VideoError(path, problem)
  detector = ShotDetector()
  means, weights, batch = [], [], []

  def flush():
    if batch:
      mu, logits = colorizer.mixture(tf.concat(batch, 0))
      logits = np.asarray(logits, np.float64)
      w = np.exp(logits - logits.max(-1, keepdims=True))
      means.append(np.asarray(mu, np.float32))
      weights.append(w / w.sum(-1, keepdims=True))
      batch.clear()

  budget = frames_lib.megapixel_budget(max_megapixels)
  for index, frame in enumerate(frames_lib.decoded_frames(path, small=SHOT_SIZE,
                                                          max_megapixels=budget)):
    if max_frames and index >= max_frames:
      break
    detector.add(frame.small)  # FFmpeg's scaler, as shot_starts reads them
    batch.append(_lightness(colorizer, frame.rgb)[1])
    if len(batch) == BATCH:
      flush()
  flush()
  means, weights = np.concatenate(means), np.concatenate(weights)
  bounds = detector.starts + [detector.count]
  shot_means = np.stack([means[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])
  shot_weights = np.stack([weights[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])
  order = np.argsort(-shot_weights, axis=1, kind="stable")[:, :int(k)]
  return Plan(info, detector.starts, detector.count,
              np.take_along_axis(shot_means, order[..., None], 1), order,
              np.take_along_axis(shot_weights, order, 1).astype(np.float32),
              shot_means, np.log(shot_weights).astype(np.float32))


class TemporalFilter:
  """A streaming, lightness-gated temporal filter of colour fields (module docstring, 4).

  This is blind temporal consistency (Bonneel et al. 2015, "Blind video temporal consistency";
  Lai et al. 2018, "Learning blind video temporal consistency") in its zero-flow case: they
  warp the previous output by optical flow before blending it with the new frame; here the
  previous field is blended in place, and the gate (the change of the frame's own lightness)
  turns the blend off wherever something moved. No flow: it would cost more than the decode
  itself on this machine (dense flow per frame against k 64x64 decodes), and within a shot the
  held code already keeps a moving thing's colour; only the small shifts of still regions are
  left to remove. Cheap (elementwise on [k, F, F, 2] tensors), keeps only the previous frame's
  fields and lightness, deterministic.

  Args:
    temporal: memory in [0, 1): the weight of the previous field where the lightness did not
      change; 0 turns the filter off (the decoded fields as they are, to the bit).
    tau: the |delta L| (CIE L, 0-100, at the field's size) from which a pixel takes its new
      decode alone.
  """

  def __init__(self, temporal=TEMPORAL, tau=TEMPORAL_TAU):
    if isinstance(temporal, bool) or not 0 <= float(temporal) < 1:
      raise ValueError(f"temporal must be in [0, 1), got {temporal!r}")
    if not float(tau) > 0:
      raise ValueError(f"tau must be > 0, got {tau!r}")
    self.temporal, self.tau = float(temporal), float(tau)
    self.reset()

  def reset(self):
    self._fields = self._lightness = None

  def gate(self, field_lightness):
    """g [1, F, F, 1]: the weight of the new decode at each pixel (1 on a shot's first frame)."""
    if self._lightness is None:
      return tf.ones_like(field_lightness)
    still = tf.nn.relu(1.0 - tf.abs(field_lightness - self._lightness) / self.tau)
    return 1.0 - self.temporal * still

  def __call__(self, fields, field_lightness, start=False):
    """The filtered fields [k, F, F, 2] of this frame's decoded ``fields`` and its lightness
    [1, F, F, 1]; ``start``: the frame starts a shot (no memory of the one before)."""
    if self.temporal == 0:
      return fields
    if start:
      self.reset()
    fields = tf.convert_to_tensor(fields, tf.float32)
    field_lightness = tf.convert_to_tensor(field_lightness, tf.float32)
    if self._fields is not None:
      g = self.gate(field_lightness)
      fields = g * fields + (1.0 - g) * self._fields
    self._fields, self._lightness = fields, field_lightness
    return fields


def steady_frames(colorizer, path, the_plan, temporal=TEMPORAL):
  """Pass 2: yields (frame index, uint8 RGB frame, :class:`contract.Colorization` of its k
  versions: the shot's codes decoded with this frame's lightness, through the temporal filter
  of memory ``temporal``, :class:`TemporalFilter`; 0: off)."""
  for index, frame, photo, fields in _steady_fields(colorizer, path, the_plan, 0, temporal):
    shot = the_plan.shot_of(index)
    yield index, frame.rgb, photo.result(the_plan.codes[shot], the_plan.components[shot],
                                         fields=fields)


def _steady_fields(colorizer, path, the_plan, max_megapixels=0, temporal=TEMPORAL):
  """Pass 2's parts: (frame index, :class:`frames.Frame`, its :class:`steer.Photo`, the colour
  fields [k, F, F, 2] of the shot's codes decoded with this frame's lightness, through a
  :class:`TemporalFilter` of memory ``temporal`` reset at each shot's first frame). Frames are
  decoded up to :data:`BATCH` at a time while they hold at most :data:`DECODE_PIXELS`, each
  frame's own size counted (a clip may change size within the budget; a 1080p frame goes alone),
  each with its own shot's codes and lightness, then filtered and yielded in order."""
  smooth = TemporalFilter(temporal)
  starts = set(the_plan.starts)
  pending = []  # (index, frame, lightness, field lightness) not decoded yet

  def decoded():
    shots = [the_plan.shot_of(index) for index, *_ in pending]
    z = np.stack([the_plan.codes[shot] for shot in shots])  # [B, k, d]
    fields = colorizer.decode(tf.constant(z), tf.concat([p[3] for p in pending], 0))
    for (index, frame, lightness, field), shot, frame_fields in zip(pending, shots, fields):
      photo = steer.Photo(colorizer, lightness, field, the_plan.means[shot][None],
                          the_plan.logits[shot][None])
      yield index, frame, photo, smooth(frame_fields, field, start=index in starts)
    pending.clear()

  for index, frame in enumerate(frames_lib.decoded_frames(path, max_megapixels=max_megapixels)):
    if index >= the_plan.frames:
      break
    lightness, _, field = _lightness(colorizer, frame.rgb, grey=False)
    pending.append((index, frame, lightness, field))
    held = sum(int(p[1].rgb.shape[0]) * int(p[1].rgb.shape[1]) for p in pending)
    if len(pending) == BATCH or held + frame.rgb.shape[0] * frame.rgb.shape[1] > DECODE_PIXELS:
      yield from decoded()
  if pending:
    yield from decoded()


def _versions(photo, fields):
  """Yields the uint8 RGB [H, W, 3] of each colour field joined with the frame's lightness: all k
  in one join while they hold at most :data:`JOIN_PIXELS`, else one version at a time (a join of
  all k at once held k full frames twice: 250 MB at 4K, k = 5). A field's join does not depend
  on the fields beside it, so both give the same pixels."""
  join = steer._join(photo.colorizer.gamut)  # pylint: disable=protected-access
  h, w = photo.size
  k = int(fields.shape[0])
  if h * w * k <= JOIN_PIXELS:
    yield from join(photo.lightness, fields[None]).numpy()[0]
    return
  for i in range(k):
    yield join(photo.lightness, fields[None, i:i + 1])[0, 0].numpy()


def grid_panel(rgb, height):
  """One panel of the grid: ``rgb`` ``height`` pixels high, an even width (a panel already that
  size is kept as it is)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  h, w = rgb.shape[:2]
  width = max(2, int(round(w * height / h / 2)) * 2)
  if (h, w) == (height, width):
    return np.asarray(rgb, np.uint8)
  return np.asarray(Image.fromarray(np.asarray(rgb, np.uint8)).resize(
      (width, height), Image.Resampling.BILINEAR))


def grid_frame(rgb, colorizations, height):
  """The grey input beside the k colorizations (full size, or already :func:`grid_panel`s), each
  ``height`` pixels high (even widths)."""
  small = grid_panel(rgb, height)  # made grey at the panel's size, not the frame's
  grey = np.repeat(_grey(small).round().clip(0, 255).astype(np.uint8)[..., None], 3, -1)
  return np.concatenate([grey] + [grid_panel(p, height) for p in colorizations], axis=1)


def grid_size(info, k):
  """(width, height) of a clip's grid video: k + 1 panels :data:`GRID_HEIGHT` high at most."""
  height = max(2, min(GRID_HEIGHT, info.height) // 2 * 2)
  return (k + 1) * max(2, int(round(info.width * height / info.height / 2)) * 2), height


def output_files(stem, k, grid=False):
  return [f"{stem}_{i}.mp4" for i in range(1, k + 1)] + ([f"{stem}_grid.mp4"] if grid else [])


def colorize_video(colorizer, path, output_dir=None, k=5, grid=False, *, stem=None,
                   replace=False, max_frames=None, max_megapixels=None, temporal=TEMPORAL):
  """Writes the k steady versions of the clip ``path`` (module docstring) as
  ``<stem>_1.mp4`` .. ``<stem>_k.mp4`` (``stem``: ``output_dir/<name of path>`` by default) and,
  with ``grid``, ``<stem>_grid.mp4``; all renamed into place together once complete (exclusive
  unless ``replace``), every frame at its input frame's timestamp (a variable frame rate kept).
  Frames over ``max_megapixels`` (None: :data:`frames.MAX_FRAME_MEGAPIXELS`, 4K; 0: no limit)
  are refused in one line before any is decoded. ``temporal``: the memory of the temporal
  filter on the colour fields (:class:`TemporalFilter`; 0: off). Returns the :class:`Plan`.

  Raises:
    ValueError: one line naming the file (:class:`frames.VideoError`), or a colorizer without a
      mixture; FileExistsError: not ``replace`` and an output exists (nothing of this call's is
      left).
  """
  TemporalFilter(temporal)  # a bad memory is refused before any frame is decoded
  the_plan = plan(colorizer, path, k, max_frames, max_megapixels)
  if stem is None:
    stem = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0])
  os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
  info = the_plan.info
  finals = output_files(stem, k, grid)
  writers = []
  try:
    for i, final in enumerate(finals):
      if grid and i == k:
        writers.append(frames_lib.Writer(final, *grid_size(info, k), info.rate,
                                         time_base=info.time_base))
      else:
        writers.append(frames_lib.Writer(final, info.width, info.height, info.rate,
                                         audio_from=path, time_base=info.time_base))
    budget = frames_lib.megapixel_budget(max_megapixels)
    with _Encoding(writers) as encoding:
      for _, frame, photo, fields in _steady_fields(colorizer, path, the_plan, budget,
                                                     temporal):
        panels = []
        for i, rgb in enumerate(_versions(photo, fields)):
          encoding.write(i, rgb, frame.pts, frame.duration)
          if grid:
            panels.append(grid_panel(rgb, writers[k].height))
        if grid:
          encoding.write(k, grid_frame(frame.rgb, panels, writers[k].height), frame.pts,
                         frame.duration)
    for writer in writers:
      writer.close()
    frames_lib.publish_all(writers, replace=replace)
  finally:
    for writer in writers:
      writer.discard()
  return the_plan


class _Encoding:
  """Writes outputs to their writers on a thread of its own while the next frame is decoded and
  joined (x264 and TensorFlow each leave part of the 2 cores idle: 640x360, k = 5, 7.7 -> 8.4-8.8
  frames/s on a 2-core Xeon), at most :data:`ENCODE_AHEAD` outputs waiting; an output over
  :data:`ENCODE_AHEAD_PIXELS` is written in the caller's thread once those have been (above 1080p:
  nothing held beyond the output being written). An encoder's error is raised at a later write or
  at the end, and the outputs still waiting are dropped."""

  def __init__(self, writers):
    self._writers = writers
    self._pool = futures.ThreadPoolExecutor(1, thread_name_prefix="divcolor-encode")
    self._waiting = collections.deque()

  def _drain(self, keep):
    while len(self._waiting) > keep:
      self._waiting.popleft().result()

  def write(self, i, rgb, pts, duration):
    if rgb.shape[0] * rgb.shape[1] > ENCODE_AHEAD_PIXELS:
      self._drain(0)
      self._writers[i].write(rgb, pts, duration)
      return
    self._drain(ENCODE_AHEAD - 1)
    self._waiting.append(self._pool.submit(self._writers[i].write, rgb, pts, duration))

  def __enter__(self):
    return self

  def __exit__(self, *error):
    try:
      if error[0] is None:
        self._drain(0)  # every output written, or the first error raised
    finally:
      self._pool.shutdown(wait=True, cancel_futures=True)
