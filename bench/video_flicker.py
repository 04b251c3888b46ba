r"""Flicker of per-frame against steady video colorization (issue 46), and what it costs.

  python bench/video_flicker.py                      # the bundled general model, 60 frames a clip
  python bench/video_flicker.py --frames 0 --clips bikes_cuts.mp4   # a whole clip
  python bench/video_flicker.py --temporal 0,0.9,0.95:4   # temporal filter settings side by side

For each clip of ../shared/data/video (its first --frames frames):

  * flicker: mean |delta ab| (CIE Lab units, Euclidean) between consecutive frames over the pixels
    whose lightness barely changed (|delta L| < 2, the true frames' L), at most 320 pixels on the
    longer side; frame pairs across a shot cut (the detected ones) are left out. For the true
    colours, per-frame colorization (top-1 of each frame alone, ``colorizer.colorize``), and each
    steady version (divcolor_tf.video.steady: one mixture per shot, its i-th code in every frame,
    through its temporal filter; --temporal compares several filter settings in one run, each
    applied to the same decoded fields).
  * held: each version's first decoded field of the shot held through the shot (a colour field
    that never changes), joined with each frame's own lightness: what is left of the flicker is
    the join's and 8-bit output's own, the floor under any steadier field (reported, not a
    method).
  * error: mean per-pixel |ab - ab_true| at 64x64 (the decoded field against the true frame's ab
    shrunk to 64x64), averaged over frames, for the same outputs, and best of k per frame (the
    steady versions, and per-frame colorization's top-k means): steadiness must not be bought
    with quality.

Not a test: the table goes in docs/quality.md ("Video: steady versions").
"""

import os
import time

from absl import app
from absl import flags
import numpy as np
from PIL import Image
from skimage import color as skcolor

flags.DEFINE_string("model", "imagenet", "A bundled model's name or a path.")
flags.DEFINE_integer("frames", 60, "Frames of each clip (0: all).")
flags.DEFINE_integer("k", 5, "Steady versions.")
flags.DEFINE_list("clips", ["carphone_qcif.mp4", "bikes_cuts.mp4", "squirrel_static.mp4",
                            "cockatoo_handheld.mp4", "foreman_cif.264"], "Clips of the folder.")
flags.DEFINE_string("folder", None, "The clips' folder (default: ../shared/data/video).")
flags.DEFINE_list("temporal", None, "Temporal filter settings to compare side by side, each "
                  "MEMORY or MEMORY:TAU (steady.TemporalFilter; 0: off), e.g. 0,0.8,0.9:3 "
                  "(default: the library's default alone).")
FLAGS = flags.FLAGS

MEASURE_SIDE = 320
STILL_L = 2.0


def _small_lab(rgb):
  h, w = rgb.shape[:2]
  scale = min(1.0, MEASURE_SIDE / max(h, w))
  if scale < 1:
    rgb = np.asarray(Image.fromarray(rgb).resize((round(w * scale), round(h * scale)),
                                                 Image.Resampling.BILINEAR))
  return skcolor.rgb2lab(rgb)


def _true_field(rgb, size):
  lab = skcolor.rgb2lab(np.asarray(Image.fromarray(rgb).resize((size, size),
                                                               Image.Resampling.BOX)))
  return lab[..., 1:]


class Flicker:
  """Accumulates mean |delta ab| over still pixels of consecutive frames of one output."""

  def __init__(self):
    self.total, self.count, self.last = 0.0, 0, None

  def add(self, lab, still):
    if self.last is not None and still is not None:
      delta = np.hypot(*(lab[..., 1:] - self.last[..., 1:]).transpose(2, 0, 1))
      self.total += float(delta[still].sum())
      self.count += int(still.sum())
    self.last = lab

  def value(self):
    return self.total / max(self.count, 1)


def _filters(settings):
  """{label: steady.TemporalFilter} of --temporal's settings."""
  from divcolor_tf.video import steady  # pylint: disable=g-import-not-at-top
  if not settings:
    settings = [str(steady.TEMPORAL)]
  out = {}
  for setting in settings:
    memory, _, tau = setting.partition(":")
    out[setting] = steady.TemporalFilter(float(memory), float(tau or steady.TEMPORAL_TAU))
  return out


def measure(model, path, frames_limit, k, settings=None):
  """(plan, flicker {name: value}, error {name: value}) of one clip; names "true", "per-frame
  i" (the i-th mean of each frame's own mixture) and "steady i", i = 1..k, for one temporal
  filter setting; with several ``settings`` (--temporal), "steady@SETTING i" for each (the
  frame's decoded fields are the same; each setting filters and joins them)."""
  from divcolor_tf.video import steady  # pylint: disable=g-import-not-at-top
  plan = steady.plan(model, path, k, max_frames=frames_limit or None)
  filters = _filters(settings)
  kinds = ["per-frame"] + (["steady"] if len(filters) == 1 else
                           [f"steady@{s}" for s in filters]) + ["held"]
  names = ["true"] + [f"{kind} {i + 1}" for kind in kinds for i in range(k)]
  flicker = {n: Flicker() for n in names}
  errors = {n: [] for n in names[1:] + [f"{kind} best" for kind in kinds]}
  true_lab = held = None
  starts = set(plan.starts)
  for index, frame, photo, fields in steady._steady_fields(model, path, plan, 0, 0):  # pylint: disable=protected-access
    rgb = frame.rgb
    shot = plan.shot_of(index)
    lab = _small_lab(rgb)
    cut = index in starts
    still = None if cut or true_lab is None else np.abs(lab[..., 0] - true_lab[..., 0]) < STILL_L
    true_lab = lab
    alone = model.colorize(rgb, k=k)
    truth = _true_field(rgb, int(fields.shape[1]))
    outputs = {"true": lab}
    err = lambda ab: np.hypot(*(128 * np.asarray(ab) - truth).transpose(2, 0, 1)).mean()
    results = [("per-frame", alone)]
    for kind, smooth in zip(kinds[1:-1], filters.values()):
      filtered = smooth(fields, photo.field_lightness, start=cut)
      results.append((kind, photo.result(plan.codes[shot], plan.components[shot],
                                         fields=filtered)))
    if cut or held is None:  # the shot's first decoded fields, held through the shot
      held = fields
    results.append(("held", photo.result(plan.codes[shot], plan.components[shot], fields=held)))
    for kind, out in results:
      values = [err(a) for a in out.ab]
      errors[f"{kind} best"].append(min(values))
      for i in range(k):
        outputs[f"{kind} {i + 1}"] = _small_lab(np.asarray(out.colorizations[i]))
        errors[f"{kind} {i + 1}"].append(values[i])
    for name, out in outputs.items():
      if cut:
        flicker[name].last = None
      flicker[name].add(out, still)
  return plan, {n: f.value() for n, f in flicker.items()}, {n: float(np.mean(v))
                                                          for n, v in errors.items()}


def main(argv):
  del argv
  import divcolor_tf as dc  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  folder = FLAGS.folder or data.shared_data("video")
  model = dc.load(FLAGS.model)
  k = FLAGS.k
  row = lambda values, kind, fmt: " / ".join(fmt.format(values[f"{kind} {i + 1}"])
                                             for i in range(k))
  print(f"flicker: mean |delta ab| of consecutive frames where |delta L| < {STILL_L} "
        f"(outputs #1 / ... / #{k}); error: mean |ab - true ab| at 64x64, best of {k} per frame")
  print("| clip (frames, shots) | true colours | per-frame flicker | steady flicker | "
        f"per-frame error | steady error | best of {k}: per-frame / steady |")
  print("|---|---|---|---|---|---|---|")
  for name in FLAGS.clips:
    start = time.time()
    plan, flicker, errors = measure(model, os.path.join(folder, name), FLAGS.frames, k,
                                    FLAGS.temporal)
    kinds = [n[:-2] for n in flicker if n.startswith("steady") and n.endswith(" 1")]
    print(f"  {name} held fields (each version's first field of the shot in every frame, joined "
          f"with the frame's own lightness: the floor of any steadier field): flicker "
          f"{row(flicker, 'held', '{:.2f}')}; per-frame top-1 {flicker['per-frame 1']:.2f}",
          flush=True)
    for kind in kinds:
      label = name if len(kinds) == 1 else f"{name} temporal={kind.partition('@')[2]}"
      print(f"| {label} ({plan.frames}, {len(plan.starts)}) | {flicker['true']:.2f} | "
            f"{row(flicker, 'per-frame', '{:.2f}')} | {row(flicker, kind, '{:.2f}')} | "
            f"{row(errors, 'per-frame', '{:.1f}')} | {row(errors, kind, '{:.1f}')} | "
            f"{errors['per-frame best']:.1f} / {errors[kind + ' best']:.1f} |", flush=True)
    for kind in kinds:  # issue 46's bars: worst version against the true colours, per version
      worst = max(flicker[f"{kind} {i + 1}"] for i in range(k))
      halves = max(flicker[f"{kind} {i + 1}"] / flicker[f"per-frame {i + 1}"] for i in range(k))
      print(f"  {name} {kind}: worst steady / true {worst / flicker['true']:.2f}x, worst "
            f"steady / per-frame (same rank) {halves:.2f}x, / per-frame top-1 "
            f"{worst / flicker['per-frame 1']:.2f}x, best-of-{k} error "
            f"{errors[kind + ' best'] / errors['per-frame best'] - 1:+.1%}", flush=True)
    print(f"  ({name}: {time.time() - start:.0f} s, shots start at {plan.starts})", flush=True)


if __name__ == "__main__":
  app.run(main)
