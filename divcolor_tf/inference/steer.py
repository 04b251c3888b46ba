"""Choosing and steering one photo's colorizations: more like one output, a blend of two, colour
hints (``divcolor_tf.steer``; ``divcolor-web`` is a page over these functions).

They work on any colorizer with a mixture over codes (ours: a workdir's ``Colorizer`` and an
export's ``SavedModelColorizer`` alike), through the contract's two steps only:
``mixture(grey L) -> (means [B, M, d], log-weights [B, M])`` and ``decode(z [B, K, d], L at the
colour field's size) -> colour fields [B, K, F, F, 2]``, and the photo's own lightness, joined at
full resolution as ``colorize`` joins it (:func:`fullres.join_lightness`). A baseline (CVAE, cGAN,
prior) has no mixture of means to steer: :func:`prepare` refuses it in one line.

"Output i" is the i-th mean by mixture weight (``colorize(photo, k)``'s i-th colorization,
0-based), or a code z [d] itself (e.g. one of a previous result's ``z``), so that a result can be
steered again. Every function returns a :class:`contract.Colorization` at the photo's own size.

  * :func:`sample_around`: n draws near output i, from its mixture component with a chosen spread:
    z = mu_i + spread * sigma * eps, eps ~ N(0, I), sigma^2 the mixture's variance (spread 1: the
    component's own draws, what ``sample`` draws from that component).
  * :func:`blend`: the decoded code between outputs i and j, z = (1 - t) z_i + t z_j: a walk in
    the embedding, through the decoder, not a crossfade of pixels; t = 0 and t = 1 are outputs i
    and j exactly.
  * :func:`with_hints`: colorizations that honour colour hints, points (x, y, rgb) of the photo.
    The choice: MAP in the embedding. For each of the top-k components, z starts at its mean and
    moves to the minimum of

      loss(z) = sum_h |f(z)(x_h, y_h) - ab_h|^2 / (2 tau^2) + |z - mu|^2 / (2 sigma^2)

    where f(z)(x, y) is the decoded colour field at the hint's position, bilinearly sampled as the
    join upsamples it (so a hint is honoured where it was put, at any photo size), ab_h the hint
    colour's own ab (CIE Lab of its sRGB, /128; its L is the photo's), tau the tolerance of a hint
    (``tolerance``, ab/128 units) and sigma^2 the mixture's variance: the negative log posterior
    of a Gaussian hint likelihood and the component's own Gaussian. The prior keeps z where the
    decoder makes plausible fields (a hint recolours the region it belongs to, and the rest of
    the photo moves little) instead of forcing a pixel. It is minimised by Gauss-Newton: at each
    of ``iterations`` (2) steps the decoder is linearised at the hint points (its Jacobian there,
    2 x hints rows, by ``tf.GradientTape.batch_jacobian``) and the quadratic problem is solved
    exactly (a d x d system); a step that made the loss worse (the linearisation overshot, e.g. a
    hint the photo's L cannot reach) is halved instead, and the best iterate of each start is
    kept.

    Where the time goes (a 1-megapixel photo, k = 5, one hint): the decoder, nothing else (the
    mixture is not run again; the page joins at its preview's size). A Jacobian at k codes costs
    about 2.5 decodes of k codes (one forward pass, one backward pass per hint coordinate), so
    2 steps from each start's own Jacobian plus the final decode (the previous version) cost ~6
    decodes. The first step therefore linearises the decoder at the top mean's code only and
    uses that Jacobian for every start (``shared_steps``, 1): a k-th of the cost, and measured
    as good a first step (bench/steer.py's rocket sky, after one step: 20.8 ab from the hint
    with the top mean's Jacobian, 23.0 with each start's own); the second step uses each
    start's own Jacobian, which is what brings the starts close (two steps of the shared
    Jacobian stopped farther on the cat's fur, 7.7 against 6.4-6.7 ab, and moved the rest
    more). With the top means' fields kept from when they were shown (:meth:`Photo.fields`
    keeps the fields it decodes), a hint costs ~4 decodes of k codes, and more with more hints
    (each adds two backward passes to the Jacobian). The Jacobian is traced once, for any
    number of hints and codes (an input signature). Not taken: a Jacobian of the hinted pixels'
    receptive field only (an export's decoder is one opaque signature, and its backward pass is
    dense), XLA (``jit_compile``: 1.5x slower here), one Gauss-Newton step (23.0 ab from the
    rocket's sky hint against 15.1), a secant (Broyden) update of the first Jacobian instead of
    a second one (no closer than one step). Why not Adam on z (the first version): 30 Adam
    steps on the same loss took 6-9 s for k = 5 on this project's 2-core CPU, each step a
    decoder gradient, and stopped farther from the hints. Not taken either: editing pixels
    around the hint (not the model's colours; no global consistency). ``bench/steer.py``
    measures how close hinted pixels come and how far the rest moves.
"""

import collections

import numpy as np
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf.inference import contract
from divcolor_tf.inference import fullres


FIELDS_KEPT = 64  # decoded fields a Photo keeps (32 KB each at 64x64)
_JOINS = {}  # gamut -> fullres.traced_join (traced once for any size and K)
_LIGHTNESS = tf.function(fullres.photo_lightness)  # one trace per input dtype


def _join(gamut):
  if gamut not in _JOINS:
    _JOINS[gamut] = fullres.traced_join(gamut)
  return _JOINS[gamut]


class Photo:
  """One photo prepared for steering (:func:`prepare`): its lightness at full resolution and at
  the models' sizes, and its mixture (computed once). ``at_size`` gives the same photo joined at
  another size (the page's previews), sharing the mixture."""

  def __init__(self, colorizer, lightness, field_lightness, means, logits):
    self.colorizer = colorizer
    self.lightness = lightness  # [1, H, W, 1] float32: what outputs are joined with
    self.field_lightness = field_lightness  # [1, F, F, 1]
    self.means = np.asarray(means, np.float32)[0]  # [M, d]
    self.logits = np.asarray(logits, np.float32)[0]  # [M]; log-weights rank as logits do
    self.weights = np.exp(self.logits - self.logits.max())
    self.weights /= self.weights.sum()
    self.order = np.argsort(-self.logits, kind="stable")  # components by weight, descending
    self.sigma = float(np.sqrt(colorizer.variance))
    self.full_size = self.size  # what hints' (x, y) are given in, also at_size's copies
    # code bytes -> its field [F, F, 2], shared with at_size's copies (same codes, same L): the
    # top means' fields decoded once serve every later hint, blend end and download
    self._decoded = collections.OrderedDict()

  @property
  def size(self):
    """(height, width) of the outputs."""
    return int(self.lightness.shape[1]), int(self.lightness.shape[2])

  def at_size(self, max_side):
    """This photo with outputs at most ``max_side`` pixels on their longer side (itself when it is
    that small already): the same codes, a smaller join."""
    h, w = self.size
    if max(h, w) <= max_side:
      return self
    scale = max_side / max(h, w)
    size = [max(1, round(h * scale)), max(1, round(w * scale))]
    other = object.__new__(Photo)
    other.__dict__.update(self.__dict__)
    other.lightness = tf.image.resize(self.lightness, size, method="bilinear", antialias=True)
    return other

  def code(self, i):
    """(z [d], component, weight) of output i: the i-th mean by weight, or a code [d] itself
    (its nearest mean's component and weight)."""
    if np.ndim(i) == 0:
      if isinstance(i, bool) or int(i) != i or not 0 <= int(i) < len(self.order):
        raise ValueError(f"output {i!r}: must be in [0, {len(self.order)}) (by mixture weight)")
      component = int(self.order[int(i)])
      return self.means[component], component, float(self.weights[component])
    z = np.asarray(i, np.float32).reshape(-1)
    if z.shape[0] != self.means.shape[1]:
      raise ValueError(f"a code of size {z.shape[0]}; this model's codes have "
                       f"{self.means.shape[1]}")
    component = int(np.argmin(((self.means - z) ** 2).sum(axis=1)))
    return z, component, float(self.weights[component])

  def fields(self, z):
    """Colour fields [K, F, F, 2] of codes z [K, d], decoded one code at a time: a code's field
    does not depend on the codes beside it (a batched decoder's kernels round differently for
    another batch size), so a blend at t = 0 is output i to the bit, whatever else is decoded.
    The last ``FIELDS_KEPT`` fields are kept by code, so a code shown once (the top means) is not
    decoded again by a hint, a blend end or a download."""
    z = np.asarray(z, np.float32)
    out = []
    for code in z:
      key = code.tobytes()
      field = self._decoded.get(key)
      if field is None:
        field = self.colorizer.decode(tf.constant(code[None, None]), self.field_lightness)[0, 0]
        self._decoded[key] = field
        while len(self._decoded) > FIELDS_KEPT:
          self._decoded.popitem(last=False)
      else:
        self._decoded.move_to_end(key)
      out.append(field)
    return tf.stack(out)

  def result(self, z, components, fields=None):
    """The :class:`contract.Colorization` of codes z [K, d] at this photo's size."""
    z = np.asarray(z, np.float32)
    fields = self.fields(z) if fields is None else tf.convert_to_tensor(fields, tf.float32)
    rgb = _join(self.colorizer.gamut)(self.lightness, fields[None])
    components = np.asarray(components, np.int64)
    return contract.Colorization(colorizations=rgb[0].numpy(), ab=np.asarray(fields),
                                 weights=self.weights[components].astype(np.float32), z=z,
                                 components=components)

  def top_k(self, k=None):
    """The top-k means by weight, as ``colorize(photo, k)`` gives them."""
    k = self.colorizer.k if k is None else int(k)
    components = self.order[:k]
    return self.result(self.means[components], components)


def check(colorizer):
  """Raises a one-line ValueError unless ``colorizer`` has a mixture over codes to steer."""
  if not (callable(getattr(colorizer, "mixture", None)) and callable(
      getattr(colorizer, "decode", None)) and getattr(colorizer, "grey_size", None)
          and getattr(colorizer, "variance", None)):
    raise ValueError(f"{type(colorizer).__name__}: steering needs a mixture over codes (ours); "
                     "a baseline has none, and an export made before the grey_mixture signature "
                     "needs exporting again")


def prepare(colorizer, photo):
  """A :class:`Photo` of an RGB or grey photo (uint8 or float [0, 1]; any size within the
  colorizer's ``max_megapixels``) for ``colorizer``; a :class:`Photo` is returned as it is.

  Raises:
    ValueError: one line: a colorizer without a mixture (a baseline), a photo over the budget or
      not an image.
  """
  if isinstance(photo, Photo):
    return photo
  check(colorizer)
  rgb = fullres.checked_rgb(photo, "photo", colorizer.max_megapixels)
  lightness = _LIGHTNESS(tf.constant(rgb[None]))
  grey = colorizer.grey_input(lightness)
  field = fullres.squash(lightness, colorizer.field_size, colorizer.antialias)
  means, logits = colorizer.mixture(grey)
  return Photo(colorizer, lightness, field, means, logits)


def sample_around(colorizer, photo, i, n=4, spread=1.0, seed=0):
  """``n`` colorizations near output ``i``: z = mu_i + spread * sigma * eps (module docstring);
  the same seed gives the same draws. ``components`` and ``weights`` are output i's."""
  photo = prepare(colorizer, photo)
  if isinstance(n, bool) or int(n) != n or n < 1:
    raise ValueError(f"sample_around: n must be a positive integer, got {n!r}")
  if not float(spread) >= 0:
    raise ValueError(f"sample_around: spread must be >= 0, got {spread!r}")
  z, component, _ = photo.code(i)
  eps = np.random.default_rng(seed).standard_normal((int(n), z.shape[0])).astype(np.float32)
  codes = z[None] + np.float32(float(spread) * photo.sigma) * eps
  return photo.result(codes, [component] * int(n))


def blend(colorizer, photo, i, j, t):
  """The decoded code between outputs ``i`` and ``j``: z = (1 - t) z_i + t z_j, for one t or a
  sequence of them (one colorization each); t = 0 and 1 decode z_i and z_j themselves. Each
  output's component is the nearer end's."""
  photo = prepare(colorizer, photo)
  (z_i, c_i, _), (z_j, c_j, _) = photo.code(i), photo.code(j)
  ts = np.atleast_1d(np.asarray(t, np.float64))
  if ts.ndim != 1 or not np.all(np.isfinite(ts)):
    raise ValueError(f"blend: t must be a number or a sequence of numbers, got {t!r}")
  codes = [z_i if s == 0 else z_j if s == 1 else ((1 - s) * z_i + s * z_j).astype(np.float32)
           for s in ts]
  return photo.result(np.stack(codes), [c_i if s <= 0.5 else c_j for s in ts])


def hint_ab(rgb):
  """A hint's colour, sRGB (0-255 ints, or a '#rrggbb' string), as its CIE Lab ab / 128."""
  if isinstance(rgb, str):
    text = rgb.lstrip("#")
    if len(text) != 6:
      raise ValueError(f"hint colour {rgb!r}: not #rrggbb")
    rgb = [int(text[k:k + 2], 16) for k in (0, 2, 4)]
  rgb = np.asarray(rgb, np.float32).reshape(-1)
  if rgb.shape != (3,) or not np.all((rgb >= 0) & (rgb <= 255)):
    raise ValueError(f"hint colour {rgb!r}: need three values in [0, 255]")
  return color.rgb_to_l_ab(tf.constant(rgb / 255.0))[1].numpy()


def _taps(position, size, field):
  """The two taps and the upper weight of bilinear upsampling (half-pixel centres, as
  ``tf.image.resize`` and the join) of a photo coordinate along one axis."""
  p = (position + 0.5) * field / size - 0.5
  floor = np.floor(p)
  return (int(max(floor, 0)), int(min(np.ceil(p), field - 1)), float(p - floor))


def hint_points(photo, hints):
  """Hints [(x, y, rgb)] in the photo's pixels (its full resolution, also for an ``at_size``
  copy) -> (indices [N, 4] into a flattened F*F field, weights [N, 4], target ab [N, 2]), each
  hint's field position as the join samples it."""
  h, w = photo.full_size
  f = int(photo.field_lightness.shape[1])
  indices, weights, targets = [], [], []
  for hint in hints:
    try:
      x, y, rgb = hint
    except (TypeError, ValueError):
      raise ValueError(f"hint {hint!r}: need (x, y, rgb)") from None
    if not (0 <= float(x) < w and 0 <= float(y) < h):
      raise ValueError(f"hint at ({x}, {y}): outside the photo ({w}x{h})")
    top, bottom, wy = _taps(float(y), h, f)
    left, right, wx = _taps(float(x), w, f)
    indices.append([top * f + left, top * f + right, bottom * f + left, bottom * f + right])
    weights.append([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx])
    targets.append(hint_ab(rgb))
  return (np.asarray(indices, np.int32), np.asarray(weights, np.float32),
          np.asarray(targets, np.float32))


def sample_fields(fields, indices, weights):
  """ab [K, N, 2] of colour fields [K, F, F, 2] at hint points (:func:`hint_points`)."""
  k, f = tf.shape(fields)[0], tf.shape(fields)[1]
  flat = tf.reshape(fields, tf.stack([k, f * f, 2]))
  taps = tf.gather(flat, indices, axis=1)  # [K, N, 4, 2]
  return tf.reduce_sum(taps * weights[None, :, :, None], axis=2)


def with_hints(colorizer, photo, hints, k=None, iterations=2, tolerance=0.01, shared_steps=1):
  """Colorizations that honour colour ``hints`` [(x, y, rgb)] (x, y: the photo's pixels; rgb:
  0-255 values or '#rrggbb'): for each of the top-k components, z moved from its mean to the MAP
  of the hint error and the component's prior by ``iterations`` Gauss-Newton steps (module
  docstring; ``tolerance`` is tau, ab/128), the first ``shared_steps`` of them linearised at the
  top start's code only. No hints: the top-k means. Ordered as the components, by weight."""
  photo = prepare(colorizer, photo)
  k = colorizer.k if k is None else int(k)
  components = photo.order[:k]
  mean = photo.means[components]
  if not hints:
    return photo.result(mean, components)
  indices, weights, targets = (tf.constant(v) for v in hint_points(photo, hints))
  targets = tf.reshape(targets, [-1]).numpy().astype(np.float64)
  hint_weight, prior_weight = 1.0 / tolerance**2, 1.0 / photo.colorizer.variance
  jacobian = _jacobian(photo.colorizer)

  def hinted_ab(z):  # [K, 2N] of the fields of codes z, as the result decodes them
    fields = photo.fields(z)
    return tf.reshape(sample_fields(fields, indices, weights), [len(z), -1]).numpy().astype(
        np.float64)

  def loss(z, ab):  # [K]: the negative log posterior, up to a constant
    return (hint_weight * ((ab - targets) ** 2).sum(-1) / 2
            + prior_weight * ((z - mean) ** 2).sum(-1) / 2)

  z, ab = mean, None
  best, best_loss = mean, np.full(len(mean), np.inf)
  eye = np.eye(mean.shape[1], dtype=np.float64)
  for step in range(int(iterations)):
    if step < shared_steps:  # one code's Jacobian for every start (module docstring)
      ab = hinted_ab(z) if ab is None else ab
      jac = np.repeat(jacobian(photo.field_lightness, tf.constant(z[:1]), indices,
                               weights)[1].numpy().astype(np.float64), len(z), axis=0)
    else:
      ab, jac = (v.numpy().astype(np.float64) for v in jacobian(
          photo.field_lightness, tf.constant(z), indices, weights))
    current = loss(z, ab)
    better = current < best_loss
    best = np.where(better[:, None], z, best)
    best_loss = np.where(better, current, best_loss)
    # argmin over delta of |J delta - (target - ab)|^2 w_h / 2 + |z + delta - mean|^2 w_p / 2
    lhs = hint_weight * np.einsum("kod,koe->kde", jac, jac) + prior_weight * eye
    rhs = (hint_weight * np.einsum("kod,ko->kd", jac, targets - ab)
           + prior_weight * (mean - z))
    moved = z + np.linalg.solve(lhs, rhs[..., None])[..., 0]
    # where the last step made things worse (the linearisation overshot), halve it instead
    z = np.where(better[:, None], moved, best + 0.5 * (z - best)).astype(np.float32)
    ab = None
  last = loss(z, hinted_ab(z))  # decoded as the result decodes them (and kept)
  return photo.result(np.where((last < best_loss)[:, None], z, best), components)


def warm_up(colorizer, photo):
  """Traces :func:`with_hints`' Jacobian for ``colorizer`` (once; ~4 s on this project's 2-core
  CPU, as long as the first hint took otherwise) by running it at one code of ``photo``: the page
  does this while a user looks at the first photo's outputs, before any hint is given."""
  photo = prepare(colorizer, photo)
  indices, weights, _ = hint_points(photo, [(0, 0, (0, 0, 0))])
  _jacobian(photo.colorizer)(photo.field_lightness, tf.constant(photo.means[photo.order[:1]]),
                             tf.constant(indices), tf.constant(weights))


# The Jacobian's input signature: one trace for any number of codes and hints (a trace takes
# seconds; the page's first hint should not pay one per hint count).
_JACOBIAN_SIGNATURE = (tf.TensorSpec([1, None, None, 1], tf.float32),  # L at the field's size
                       tf.TensorSpec([None, None], tf.float32),  # z [K, d]
                       tf.TensorSpec([None, 4], tf.int32),  # hint_points' indices
                       tf.TensorSpec([None, 4], tf.float32))  # and weights


def _jacobian(colorizer):
  """:func:`_hinted_ab` of ``colorizer``, traced once."""
  return contract.traced_once(colorizer, ("steer", "jacobian"), lambda: tf.function(
      lambda *args: _hinted_ab(colorizer, *args), input_signature=_JACOBIAN_SIGNATURE))


def _hinted_ab(colorizer, field_lightness, z, indices, weights):
  """ab [K, 2N] of codes z [K, d] at the hint points and its Jacobian in z [K, 2N, d] (each
  code's own: the decoder treats codes independently)."""
  with tf.GradientTape(watch_accessed_variables=False) as tape:
    tape.watch(z)
    fields = colorizer.decode(z[None], field_lightness)[0]
    ab = tf.reshape(sample_fields(fields, indices, weights), [tf.shape(z)[0], -1])
  return ab, tape.batch_jacobian(ab, z)
