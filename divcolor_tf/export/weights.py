"""An export's weights stored in float16, its computation in float32 (``export_saved_model(...,
weights="float16")``, ``divcolor-export --weights float16``).

Each float variable of the exported Keras models gets a float16 copy, a ``tf.Variable`` named by
the variable's Keras path (the name the float32 export gives it, so ``exported.export_variables``
/ ``unpack`` / ``config.init_from`` read it by the same name and cast it back with
``assign(value.astype(weight.dtype))``). The traced signatures run inside :class:`Float16Scope`,
a ``keras.StatelessScope`` in which reading a Keras variable gives its float16 copy cast to the
variable's own dtype (float32). So the graph reads only the copies (and the ExportArchive, which
saves the variables its endpoints read, saves only them: half the bytes), while every layer,
batch normalisation's moving statistics included, computes in float32 as the float32 export
does: the served graph is the float32 one with a Cast after each variable read, and runs as fast
on CPUs without float16 units. Nothing of the Keras models is changed or cloned; the same
mechanism covers the baselines' models.

TF restores a float16 tensor only whole: a checkpoint slice of one ("Dtype half not supported"
from RestoreV2, in ``tf.saved_model.load`` and the session loader alike; TF 2.21) does not load.
``MaxShardSizePolicy`` fills each shard to the byte and slices the tensor at the boundary, so a
float16 export is sharded by :class:`WholeTensorShards` instead: whole tensors, a new shard when
the next does not fit (a tensor larger than the cap alone in its shard).

A variable with a value beyond float16's range (|v| > 65504) would become inf: it keeps its
float32 storage (logged). Values below float16's normal range (6.1e-5) lose relative precision
but not absolute (at most 3e-8), which no layer here is sensitive to (measured: docs/deploy.md).
"""

import functools

from absl import logging
import keras
import numpy as np
import tensorflow as tf


WEIGHTS = ("float32", "float16")  # the storage dtypes of an export's variables
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504


def keras_models(colorizer):
  """The Keras models a colorizer holds (trunk, MDN, decoder, encoder; a baseline's decoder,
  encoder or generator), each once."""
  models = []
  for value in vars(colorizer).values():
    if isinstance(value, keras.Model) and all(value is not m for m in models):
      models.append(value)
  return models


class Float16Weights:
  """float16 copies of the float variables of Keras models, read as float32 by traced code."""

  def __init__(self, models):
    """Args:
      models: the Keras models whose variables the traced functions read.
    """
    self.copies = {}  # id(Keras variable) -> its float16 tf.Variable
    self.kept = []  # Keras paths kept in float32 (values beyond float16's range)
    self._kept_ids = set()
    self._variables = []  # the Keras variables copied or kept, held so their ids stay theirs
    seen = set()
    for model in models:
      for variable in model.variables:
        if id(variable) in seen or not keras.backend.is_float_dtype(variable.dtype):
          continue
        seen.add(id(variable))
        value = np.asarray(variable.numpy())
        if value.size and not np.all(np.abs(value) <= FLOAT16_MAX):
          self.kept.append(variable.path)
          self._kept_ids.add(id(variable))
          self._variables.append(variable)
          continue
        self.copies[id(variable)] = tf.Variable(value.astype(np.float16),
                                                trainable=variable.trainable, name=variable.path)
        self._variables.append(variable)
    if self.kept:
      logging.warning("kept in float32 (values beyond float16's range): %s",
                      ", ".join(self.kept))

  def read(self, variable):
    """The float16 copy of a Keras variable cast to its dtype; None for one kept in float32 or
    not a float.

    Raises:
      ValueError: one line, for a float variable of none of the models (one created while
        tracing would be read as its initializer's values, one of another model saved in
        float32: neither is what the export claims to hold).
    """
    copy = self.copies.get(id(variable))
    if copy is not None:
      return tf.cast(copy, variable.dtype)
    if id(variable) not in self._kept_ids and keras.backend.is_float_dtype(variable.dtype):
      raise ValueError(f"float16 export: {variable.path} is read by a signature but belongs to "
                       "none of the exported models (created while tracing?)")
    return None

  def wrap(self, fn):
    """``fn`` run inside a :class:`Float16Scope` over these copies (same parameters)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
      with Float16Scope(self):
        return fn(*args, **kwargs)
    return wrapped


class Float16Scope(keras.StatelessScope):
  """A ``keras.StatelessScope`` whose reads of a Keras variable give its float16 copy, cast to
  float32 (a fresh Cast at each read, so a read inside a loop body, e.g. ``colorize_bytes``'s
  ``map_fn``, stays in its own graph); one kept in float32 or not a float reads as usual, a
  float variable of no exported model is refused (:meth:`Float16Weights.read`), and an update
  made inside the scope (none at inference) is read back as StatelessScope reads it."""

  def __init__(self, weights):
    super().__init__()
    self._weights = weights

  def get_current_value(self, variable):
    value = super().get_current_value(variable)
    return self._weights.read(variable) if value is None else value


class WholeTensorShards(tf.train.experimental.ShardingCallback):
  """Checkpoint shards of at most ``max_shard_bytes`` holding whole tensors (none sliced: TF
  cannot restore a slice of a float16 tensor); a tensor larger than the cap has a shard of its
  own. A string counts by its bytes (the object graph, ~14 kB on the tiny models, once went
  uncounted and took the last shard over the cap); one whose length is known only when the graph
  runs goes into a last shard of its own."""

  def __init__(self, max_shard_bytes):
    self.max_shard_bytes = int(max_shard_bytes)

  @property
  def description(self):
    return f"Whole tensors in shards of at most {self.max_shard_bytes} bytes."

  def __call__(self, shardable_tensors):
    shards, used, unsized = [{}], 0, {}
    for shardable in shardable_tensors:
      size = _static_bytes(shardable)
      if size is None:  # a string or variant whose bytes only running the graph would tell
        unsized.setdefault(shardable.checkpoint_key, {})[shardable.slice_spec] = shardable.tensor
        continue
      if shards[-1] and used + size > self.max_shard_bytes:
        shards.append({})
        used = 0
      shards[-1].setdefault(shardable.checkpoint_key, {})[shardable.slice_spec] = shardable.tensor
      used += size
    if unsized:  # a shard of their own, so that no sized shard goes over the cap
      shards.append(unsized)
    return [shard for shard in shards if shard]


def _static_bytes(shardable):
  """The bytes of a shardable tensor, or None when only running the graph would tell."""
  if shardable.dtype in (tf.string, tf.variant) or not shardable.shape.is_fully_defined():
    value = tf.get_static_value(shardable.tensor) if shardable.dtype == tf.string else None
    if value is None:
      return None
    return sum(len(v) for v in np.asarray(value, dtype=object).ravel())
  return shardable.shape.num_elements() * tf.as_dtype(shardable.dtype).size
