"""Images/s of one training step of a stage, at a few model sizes, on real photos.

  python bench/train_throughput.py --stage features
  python bench/train_throughput.py --stage features --setting features.width=0.5,data.grey_size=128
  python bench/train_throughput.py --stage vae --setting vae.width=0.5 --setting vae.width=1.0

Each --setting is a comma-separated list of config overrides (key=value) applied on top of
--config; one line is printed per setting. The batch (the stage's batch size) is decoded once and
held in memory, so the figure is the step alone (forward, backward, Adam update), not the input
pipeline (bench/data_pipeline.py measures that). Not a test: figures go in the notes.

A stage is an entry of STAGES: a function (config, paths) -> (trainer compiled, batch dict,
batch size). Add the MDN's once its trainer exists.
"""

import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STAGE = flags.DEFINE_enum("stage", "features", ["features", "vae"], "which trainer to time")
CONFIG = flags.DEFINE_string("config", "configs/lfw.py:cpu", "config file[:variants]")
SETTINGS = flags.DEFINE_multi_string(
    "setting", None, "comma-separated key=value overrides; one measurement each (default: the "
    "stage's DEFAULT_SETTINGS)")
IMAGES = flags.DEFINE_string("images", "", "photos of the batch; empty: the config's data.train")
STEPS = flags.DEFINE_integer("steps", 5, "timed steps per setting (after 2 warm-up steps)")
BATCH = flags.DEFINE_integer("batch_size", 0, "batch size; 0: the stage's own from the config")

DEFAULT_SETTINGS = {
    "features": [f"features.width={w},data.grey_size={s}"
                 for w, s in ((1.0, 224), (0.5, 128), (0.25, 128), (0.25, 96))],
    "vae": ["vae.width=0.5", "vae.width=1.0"],
}


def _batch(paths, n, grey_size, field_size=64):
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  ds = data.make_dataset(paths[:4 * n], field_size=field_size, grey_size=grey_size, batch_size=n,
                         drop_near_grey=True, drop_remainder=True,
                         skip_log=data.SkipLog(warn=False))
  return {k: v for k, v in next(iter(ds)).items() if k != "path"}


def features_stage(config, paths):
  from divcolor_tf import train_features  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import features  # pylint: disable=g-import-not-at-top

  n = BATCH.value or config.features.batch_size
  network = features.build_feature_network(config.features, grey_size=config.data.grey_size)
  # The rebalancing weights' values do not change the step's cost: no statistics needed.
  trainer = train_features.FeatureTrainer(
      network, bin_weights=[1.0] * features.NUM_BINS, soft_k=config.features.soft_k,
      soft_sigma=config.features.soft_sigma)
  trainer.compile(optimizer=training.make_optimizer(
      config.train, learning_rate=config.features.learning_rate))
  batch = _batch(paths, n, config.data.grey_size)
  return trainer, {"grey": batch["grey"], "colour_field": batch["colour_field"]}, n, \
      network.count_params()


def vae_stage(config, paths):
  from divcolor_tf import stats as stats_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import train_vae  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top

  n = BATCH.value or config.train.batch_size
  stats = stats_lib.compute(paths[:64], n_components=config.stats.n_components)
  trainer = train_vae.build_trainer(config, stats)
  trainer.compile(optimizer=training.make_optimizer(config.train))
  batch = _batch(paths, n, config.data.field_size, config.data.field_size)
  params = trainer.encoder.count_params() + trainer.decoder.count_params()
  return trainer, {"colour_field": batch["colour_field"], "lightness": batch["lightness"]}, n, params


STAGES = {"features": features_stage, "vae": vae_stage}


def main(argv):
  del argv
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top

  settings = SETTINGS.value or DEFAULT_SETTINGS[STAGE.value]
  base = config_lib.load(CONFIG.value)
  paths = data.list_images(IMAGES.value or base.data.train)
  print(f"stage {STAGE.value}; config {CONFIG.value}; {os.cpu_count()} cores; "
        f"TF {tf.__version__}; {STEPS.value} timed steps")
  for setting in settings:
    config = config_lib.load(CONFIG.value, [s for s in setting.split(",") if s])
    training.set_precision(config.train.mixed_precision)
    trainer, batch, n, params = STAGES[STAGE.value](config, paths)
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    trainer.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)  # tracing, then one more step
    start = time.perf_counter()
    logs = trainer.fit(ds, epochs=1, steps_per_epoch=STEPS.value, verbose=0).history
    elapsed = time.perf_counter() - start
    logs = {k: v[-1] for k, v in logs.items()}
    rate = n * STEPS.value / elapsed
    print(f"{setting:40s} batch {n:3d}  {params / 1e6:6.2f}M params  "
          f"{rate:7.1f} images/s  ({elapsed / STEPS.value:.2f} s/step, loss {logs['loss']:.3f}, "
          f"bf16 {bool(config.train.mixed_precision)})", flush=True)
    del trainer
    keras.backend.clear_session()


if __name__ == "__main__":
  app.run(main)
