"""tf.data input pipelines: photos on disk -> colour fields, lightness and the grey input.

Each dataset element (:func:`make_dataset`) is a dict:

  colour_field  float32 [F, F, 2]  the photo's ab channels at F x F (paper: 64), in ab/128 units
  lightness     float32 [F, F, 1]  L in [0, 100] at F x F (the "+skip" VAE's grey input)
  grey          float32 [G, G, 1]  L in [0, 100] at G x G (the feature network's input, paper 224)
  path          string  []         the source file's path, as bytes (``os.fsdecode`` gives the
                                   str of :func:`sources.list_images`)

The photo is squashed to each square size (no crop; the authors' code resized whole photos to
64x64) with an antialiased bilinear resize of its sRGB values, then converted to CIE Lab with
:mod:`divcolor_tf.color` inside the graph.

A file that cannot be decoded is skipped with one warning naming it (once per file, however many
epochs), counted by a :class:`sources.SkipLog`, and reported at the end; it never stops an epoch.
``drop_near_grey`` also leaves out black-and-white photos: those whose mean chroma
sqrt(a^2 + b^2)/128 over the F x F field is below ``near_grey_threshold``.
"""

import functools
import os

import numpy as np

from divcolor_tf.data import sources


def _decoder(skip_log):
  """A numpy function path -> (uint8 RGB [H, W, 3], ok); unreadable files give ok=False."""

  def decode(path):
    path = os.fsdecode(path)  # the tf.string's bytes -> the OS's name for the file
    try:
      return sources.load_rgb(path, max_megapixels=sources.TRAINING_MAX_MEGAPIXELS,
                              budget_name="the training reader's, data.TRAINING_MAX_MEGAPIXELS"), True
    except sources.ImageError as e:
      skip_log.add(path, e.problem)
      return np.zeros((sources.MIN_SIDE, sources.MIN_SIDE, 3), np.uint8), False

  return decode


def make_dataset(paths, field_size=64, grey_size=224, batch_size=32, shuffle=False, seed=0,
                 epoch=0, **kwargs):
  """A tf.data.Dataset of batched examples (see the module docstring for the features): one
  epoch of :func:`epoch_datasets` (its arguments; ``epoch`` picks the order when shuffling)."""
  return epoch_datasets(paths, field_size=field_size, grey_size=grey_size, batch_size=batch_size,
                        shuffle=shuffle, seed=seed, **kwargs)(epoch)


def epoch_seed(seed, epoch):
  """The shuffle seed of 0-based ``epoch`` of a run seeded ``seed``: a function of the two only."""
  return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0] >> 1)


def epoch_batches(examples, epoch, *, shuffle, seed, shuffle_buffer, repeat, batch_size,
                  drop_remainder):
  """Epoch ``epoch`` of unbatched ``examples``: a buffer shuffled with :func:`epoch_seed`, then
  repeated (steps_per_epoch training) and batched (``batch_size`` None: unbatched), prefetched."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (this module loads without TensorFlow)
  ds = examples
  if shuffle:
    ds = ds.shuffle(shuffle_buffer, seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False)
  if repeat:
    ds = ds.repeat()
  if batch_size:
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  return ds.prefetch(tf.data.AUTOTUNE)


def _load_example(path, *, decode, field_size, grey_size, grey_detail=0):
  """One photo's example (module docstring), whether it decoded, and its mean chroma (ab/128)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (the data layer loads without TF)
  from divcolor_tf import color  # pylint: disable=g-import-not-at-top  (TF ops, as above)
  rgb, ok = tf.numpy_function(decode, [path], (tf.uint8, tf.bool), stateful=False)
  rgb.set_shape([None, None, 3])
  ok.set_shape([])
  rgb = tf.image.convert_image_dtype(rgb, tf.float32)
  small = tf.clip_by_value(tf.image.resize(rgb, [field_size, field_size], antialias=True), 0.0, 1.0)
  lab = color.rgb_to_lab(small)
  if grey_size == field_size:
    grey = lab[..., :1]
  else:
    if grey_detail and grey_detail < grey_size:  # the detail of smaller photos (data.grey_detail)
      rgb = tf.clip_by_value(tf.image.resize(rgb, [grey_detail, grey_detail], antialias=True),
                             0.0, 1.0)
    large = tf.clip_by_value(tf.image.resize(rgb, [grey_size, grey_size], antialias=True), 0.0,
                             1.0)
    grey = color.rgb_to_lab(large)[..., :1]
  chroma = tf.reduce_mean(tf.norm(lab[..., 1:], axis=-1)) / color.AB_SCALE
  return {
      "colour_field": lab[..., 1:] / color.AB_SCALE,
      "lightness": lab[..., :1],
      "grey": grey,
      "path": path,
  }, ok, chroma


def _kept(skip_log, drop_near_grey, near_grey_threshold):
  """The filter of :func:`_load_example`'s triples: decoded, and not near-grey when asked (a
  near-grey photo is logged in ``skip_log``)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (the data layer loads without TF)

  def keep(path, ok, chroma):
    if not ok:
      return False
    if drop_near_grey and chroma < near_grey_threshold:
      skip_log.add(path, f"near-grey (mean chroma {chroma:.4f} < {near_grey_threshold})")
      return False
    return True

  return lambda example, ok, chroma: tf.numpy_function(keep, [example["path"], ok, chroma],
                                                       tf.bool, stateful=False)


def epoch_datasets(paths, field_size=64, grey_size=224, batch_size=32, shuffle=False, seed=0,
                   repeat=False, cache=False, drop_near_grey=False,
                   near_grey_threshold=sources.NEAR_GREY_THRESHOLD, drop_remainder=False,
                   shuffle_buffer=2048, skip_log=None, num_parallel_calls=None, grey_detail=0):
  """A function ``epoch -> tf.data.Dataset`` of batched examples, each epoch's order a function
  of (seed, epoch) alone.

  So a run resumed at epoch e in a new process sees exactly the batches the uninterrupted run
  saw (tf.data's own ``reshuffle_each_iteration`` counts iterations within a process, so every
  resumed process replayed the first epoch's order). Without the cache, each epoch reads the
  file list in its own permutation, then shuffles a buffer of examples with the epoch's seed;
  with the cache, the file list is permuted once (seed), decoded into the in-memory cache in the
  first pass (shared by every epoch's dataset) and each epoch shuffles a buffer of it with the
  epoch's seed.

  Args:
    paths: a list of photo paths, or any source :func:`list_images` accepts.
    field_size: F, the colour field's side (paper 64).
    grey_size: G, the grey input's side (paper 224).
    batch_size: examples per batch; None: unbatched.
    shuffle: shuffle the photos (the file list, then a buffer of examples; see above).
    seed: the run's seed; with the epoch it fixes the order.
    repeat: repeat forever (for steps_per_epoch training).
    cache: keep decoded, resized examples in memory after the first pass.
    drop_near_grey: leave out black-and-white photos (counted in skip_log).
    near_grey_threshold: mean chroma, ab/128 units, below which a photo is near-grey.
    drop_remainder: drop a last partial batch (needed for a fixed global batch).
    shuffle_buffer: examples in the shuffle buffer.
    skip_log: a :class:`SkipLog` recording skipped photos; None: a private one that warns.
    num_parallel_calls: decode parallelism; None: tf.data.AUTOTUNE.
    grey_detail: > 0: the grey input is squashed through this size first (data.grey_detail).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (the data layer loads without TF)

  paths = sources.list_images(paths)
  if not paths:
    raise ValueError("make_dataset: no photos given")
  skip_log = sources.SkipLog() if skip_log is None else skip_log
  parallel = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
  load = functools.partial(_load_example, decode=_decoder(skip_log), field_size=field_size,
                           grey_size=grey_size, grey_detail=grey_detail)
  keep_fn = _kept(skip_log, drop_near_grey, near_grey_threshold)

  def examples(order):
    # As bytes: tf.constant refuses a str holding a surrogate-escaped (non-UTF-8) name.
    names = tf.constant([os.fsencode(paths[i]) for i in order], tf.string)
    ds = tf.data.Dataset.from_tensor_slices(names)
    ds = ds.map(load, num_parallel_calls=parallel, deterministic=True)  # seeded = reproducible
    ds = ds.filter(keep_fn)
    return ds.map(lambda example, ok, chroma: example)

  def permutation(*key):
    return np.random.default_rng(list(key)).permutation(len(paths))

  cached = examples(permutation(seed) if shuffle else range(len(paths))).cache() if cache else None

  def dataset(epoch=0):
    if cached is not None:
      ds = cached
    else:
      ds = examples(permutation(seed, epoch) if shuffle else range(len(paths)))
    return epoch_batches(ds, epoch, shuffle=shuffle, seed=seed, shuffle_buffer=shuffle_buffer,
                         repeat=repeat, batch_size=batch_size, drop_remainder=drop_remainder)

  return dataset
