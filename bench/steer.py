r"""How well colour hints are honoured (divcolor_tf.steer.with_hints), and what else moves.

  python bench/steer.py                      # the bundled general model
  python bench/steer.py --model lfw --tolerance 0.02
  git show HEAD~1:divcolor_tf/inference/steer.py > /tmp/steer_old.py
  python bench/steer.py --against /tmp/steer_old.py   # a previous with_hints in the same run

For each case (a photo of scikit-image's and hints on it, e.g. a blue hint in the rocket's sky),
the k = 5 top means and their hinted versions, at the photo's full resolution, measured in CIE Lab
on the output pixels (what a user sees):

  * hint |dab| before -> after: mean over the 5 outputs and the hints of |ab(output at the hinted
    pixel) - ab(hint colour)| (ab units, not /128), for the top means and for the hinted outputs.
    The hinted pixel keeps the photo's own L, so a hint colour much lighter or darker than its
    pixel cannot be reached exactly (the gamut fit gives up chroma there).
  * near region |dab|: the same over the pixels within 5% of the photo's diagonal of a hint.
  * rest moves: mean |ab(hinted) - ab(top)| over the pixels farther than 15% of the diagonal from
    every hint (how much of the change leaks into the rest of the photo).
  * ms: one with_hints call (k = 5, the photo prepared: its mixture computed and its top 5
    shown, as on the page), after a warm-up; the median of --repeat.

With --against, each case is also run through another version of ``with_hints`` (a copy of an
older steer.py, loaded from that path; only its with_hints and Jacobian are used, over this
version's Photo), interleaved with this one's, so both rows share the machine's load: the machine
is shared, and timings of separate runs are not comparable.

Not a test: figures go in the notes (README, "Choose and steer colorizations in your browser").
"""

import importlib.util
import os
import statistics
import time

from absl import app
from absl import flags
import numpy as np
import skimage
from skimage import color as skcolor
from skimage import io as skio

flags.DEFINE_string("model", "imagenet", "A bundled model's name or a path.")
flags.DEFINE_float("tolerance", 0.01, "with_hints' tolerance (tau, ab/128).")
flags.DEFINE_integer("iterations", 2, "with_hints' Gauss-Newton steps.")
flags.DEFINE_integer("shared_steps", None, "with_hints' shared_steps (None: its default).")
flags.DEFINE_string("against", None, "Path of another steer.py whose with_hints to compare.")
flags.DEFINE_integer("repeat", 3, "Timed calls of each version (the median is printed).")
FLAGS = flags.FLAGS

# (photo of scikit-image's data folder, [(x, y, colour)], what the hint means)
CASES = (
    ("rocket.jpg", [(200, 160, "#2f6fe0")], "blue in the dusk sky"),
    ("rocket.jpg", [(560, 60, "#2f6fe0"), (200, 160, "#2f6fe0")], "two blue sky hints"),
    ("chelsea.png", [(150, 150, "#e08030")], "orange on the cat's fur"),
    ("coffee.png", [(300, 200, "#c02020")], "red on a white rim, L 98"),  # out of reach
    ("astronaut.png", [(250, 350, "#2050c0")], "blue suit"),
)


def _distance(shape, hints):
  h, w = shape
  yy, xx = np.mgrid[:h, :w]
  nearest = np.min([np.hypot(xx - x, yy - y) for x, y, _ in hints], axis=0)
  return nearest / np.hypot(h, w)


def _versions(dc):
  """{name: with_hints} of this version and, with --against, the other one."""
  versions = {"this": dc.steer.with_hints}
  if FLAGS.against:
    spec = importlib.util.spec_from_file_location("steer_against", FLAGS.against)
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)
    other.Photo = dc.steer.Photo  # its prepare() passes this version's prepared photo through
    versions["against"] = other.with_hints
  return versions


def main(argv):
  del argv
  import divcolor_tf as dc  # pylint: disable=g-import-not-at-top
  model = dc.load(FLAGS.model)
  folder = os.path.join(os.path.dirname(skimage.__file__), "data")
  versions = _versions(dc)
  print(f"model {FLAGS.model}, k 5, tolerance {FLAGS.tolerance}, {FLAGS.iterations} iterations, "
        f"shared_steps {FLAGS.shared_steps or 'default'}; load average {os.getloadavg()[0]:.1f}")
  print(f"{'case':32s} {'version':8s} {'hint |dab|':>16s} {'near region':>16s} "
        f"{'rest moves':>10s} {'ms':>6s}")
  for name, hints, what in CASES:
    rgb = skio.imread(os.path.join(folder, name))[..., :3]
    photo = dc.steer.prepare(model, rgb)
    top = photo.top_k(5)

    def shown():  # a photo as the page holds it: prepared, its top 5 shown (their fields kept),
      fresh = dc.steer.prepare(model, rgb)  # no code of an earlier call decoded and kept
      fresh.top_k(5)
      return fresh

    shared = {} if FLAGS.shared_steps is None else {"shared_steps": FLAGS.shared_steps}
    call = lambda fn, on: fn(model, on, hints, k=5, iterations=FLAGS.iterations,
                             tolerance=FLAGS.tolerance,
                             **(shared if fn is versions["this"] else {}))
    results, times = {}, {version: [] for version in versions}
    for version, fn in versions.items():
      results[version] = call(fn, shown())  # warm-up (traces)
    for _ in range(FLAGS.repeat):  # interleaved: the versions share the load
      for version, fn in versions.items():
        on = shown()
        start = time.perf_counter()
        call(fn, on)
        times[version].append(time.perf_counter() - start)
    ab_top = skcolor.rgb2lab(top.colorizations)[..., 1:]
    targets = np.stack([dc.steer.hint_ab(c) * 128 for *_, c in hints])
    at = lambda ab: np.mean([np.abs(ab[:, int(y), int(x)] - t).mean()
                             for (x, y, _), t in zip(hints, targets)])
    distance = _distance(rgb.shape[:2], hints)
    near = distance < 0.05
    region = lambda ab: np.mean([np.abs(ab[:, near] - t).mean() for t in targets])
    for version, hinted in results.items():
      ab_hint = skcolor.rgb2lab(hinted.colorizations)[..., 1:]
      rest = np.abs(ab_hint - ab_top)[:, distance > 0.15].mean()
      ms = statistics.median(times[version]) * 1000
      print(f"{name.split('.')[0] + ': ' + what:32s} {version:8s} {at(ab_top):6.1f} -> "
            f"{at(ab_hint):5.1f}  {region(ab_top):6.1f} -> {region(ab_hint):5.1f}  {rest:10.1f} "
            f"{ms:6.0f}", flush=True)
  print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
  app.run(main)
