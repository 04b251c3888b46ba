"""The gradient step every trainer shares (``ObjectiveTrainer``), its optimizer and step decay.
"""

from absl import logging
import keras
import tensorflow as tf


class ObjectiveTrainer(keras.Model):
  """The gradient step every trainer of the project takes; subclasses define ``objective``.

  ``objective(batch, training)`` returns the per-example loss [B] and a dict of terms to log;
  each term that has a tracker (a Mean named in ``metric_names``, which starts with "loss") is
  logged. The loss is averaged over the GLOBAL batch, so the step is the same on 1..N devices.
  ``optimized_variables`` (default: every trainable variable) are what the step updates.
  """

  def __init__(self, metric_names, seed=0, **kwargs):
    super().__init__(**kwargs)
    self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}
    self.seed = int(seed)

  def noise_seed(self, inputs, training):
    """The stateless seed [2] of a step's noise, so that a resumed run draws the noise the
    uninterrupted run drew.

    Training: a function of the run's seed and the optimizer's step (restored with a checkpoint);
    the draws are made for the global batch and cut to each replica's rows
    (``models.vae.replica_rows``), so 1, 2 or N replicas draw the same noise for a row.
    Validation, which takes no optimizer step: a
    function of the run's seed and the batch's content (``inputs``, a fingerprint), so each
    validation batch gets its own noise, the same in every epoch and every process.
    """
    if training:
      key = tf.cast(self.optimizer.iterations, tf.int64)
    else:
      rows = tf.reshape(inputs, [tf.shape(inputs)[0], -1])
      first = tf.concat([tf.fingerprint(rows), tf.zeros([1, 8], tf.uint8)], 0)[0]  # 0 rows: 0
      key = tf.bitcast(first, tf.int64) // 2 - (1 << 62)  # < 0: not a step
    return tf.stack([tf.constant(self.seed, tf.int64), key])

  @property
  def metrics(self):
    return list(self.trackers.values())

  @property
  def optimized_variables(self):
    return self.trainable_variables

  def objective(self, batch, training):
    raise NotImplementedError

  def _update_metrics(self, per_example, terms):
    self.trackers["loss"].update_state(per_example)
    for name, value in terms.items():
      if name in self.trackers:
        self.trackers[name].update_state(value)
    return {name: tracker.result() for name, tracker in self.trackers.items()}

  def train_step(self, batch):
    with tf.GradientTape() as tape:
      per_example, terms = self.objective(batch, training=True)
      loss = tf.nn.compute_average_loss(per_example)  # divides by the GLOBAL batch size
      scaled = self.optimizer.scale_loss(loss)
    variables = self.optimized_variables
    gradients = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    return self._update_metrics(per_example, terms)

  def test_step(self, batch):
    per_example, terms = self.objective(batch, training=False)
    return self._update_metrics(per_example, terms)

  def make_test_function(self, force=False):
    """Validation is compiled without XLA, even after ``compile(jit_compile=True)``: its noise
    seed (:meth:`noise_seed`) hashes the batch with tf.fingerprint, which has no XLA kernel."""
    jit_compile = self.jit_compile
    self.jit_compile = False
    try:
      return super().make_test_function(force)
    finally:
      self.jit_compile = jit_compile


def make_optimizer(section, learning_rate=None):
  """The optimizer of a stage's config section (``config.vae``, ``config.mdn``, ``config.cgan``,
  ...: ``schema.SCHEDULE``): its ``optimizer`` ("adam", with its ``beta_1``, or "sgd" with
  momentum 0.9) at its ``learning_rate`` (or ``learning_rate``), the gradients' global norm
  clipped to its ``clipnorm`` (0: not clipped). A section without the optimizer's fields (an older
  config's) gets their defaults."""
  kwargs = {"learning_rate": learning_rate or section.learning_rate}
  if section.get("clipnorm", 0.0):
    kwargs["global_clipnorm"] = section.clipnorm
  name = section.get("optimizer", "adam")
  if name == "adam":
    return keras.optimizers.Adam(beta_1=section.get("beta_1", 0.9), **kwargs)
  if name == "sgd":
    return keras.optimizers.SGD(momentum=0.9, **kwargs)
  raise ValueError(f"optimizer={name!r}: expected 'adam' or 'sgd'")


def step_decay_rate(epoch, learning_rate, decay_epochs=(), factor=0.1):
  """The learning rate of 0-based ``epoch``: ``learning_rate`` times ``factor`` per boundary passed.

  ``decay_epochs`` are 1-based epoch counts: (6,) trains epochs 1..6 at ``learning_rate`` and
  epoch 7 onward at ``learning_rate * factor``.
  """
  return learning_rate * factor ** sum(1 for boundary in decay_epochs if epoch >= boundary)


def step_decay(learning_rate, decay_epochs=(), factor=0.1):
  """Keras' LearningRateScheduler with :func:`step_decay_rate`.

  It sets the rate at each epoch's start from the absolute epoch index (``initial_epoch`` on a
  resume), so a resumed run gets the rate of the epoch it resumes at.
  """
  def rate(epoch):
    value = step_decay_rate(epoch, learning_rate, tuple(decay_epochs), factor)
    logging.info("epoch %d: learning rate %.3g", epoch + 1, value)
    return value

  return keras.callbacks.LearningRateScheduler(rate)
