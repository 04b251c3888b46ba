"""The device strategy and the precision policy every trainer runs under.

One code path for 1..N devices: trainers build their models inside ``strategy.scope()`` and scale
per-example losses by the global batch (``tf.nn.compute_average_loss``); Keras then all-reduces the
gradients. On CPU, several devices are simulated with
``tf.config.set_logical_device_configuration`` (see ``split_cpu``).
"""

import keras
import tensorflow as tf


def split_cpu(n):
  """Splits the physical CPU into n logical devices (call before TensorFlow initialises)."""
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])


def get_strategy(num_devices=0):
  """MirroredStrategy over the first ``num_devices`` devices (0: all); the default strategy for one.

  GPUs are preferred when present; otherwise the (possibly split) CPU devices are used.
  """
  devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
  if num_devices:
    if num_devices > len(devices):
      raise ValueError(f"num_devices={num_devices} but only {len(devices)} devices are visible")
    devices = devices[:num_devices]
  if len(devices) > 1:
    # Reduction through one device works on CPU and GPU alike (NCCL needs GPUs).
    return tf.distribute.MirroredStrategy(
        [d.name for d in devices],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
  return tf.distribute.get_strategy()


def set_precision(mixed):
  """bf16 compute with fp32 variables (measured ~1.5x faster on this CPU), or plain fp32."""
  keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed else "float32")
