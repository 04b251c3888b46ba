"""One worker against two on this machine: the VAE's training step under train.strategy=default
(one process) and multi_worker (two processes on loopback, TF_CONFIG, free ports), and how much of
the two-worker step is the gradients' all-reduce.

  python bench/multi_worker.py                     # configs/lfw.py:cpu VAE (width 0.5), batch 32
  python bench/multi_worker.py --setting vae.width=0.25 --steps 30

Each run builds the VAE trainer of the config (trainers/vae.build_trainer) and times its step on
one batch of real photos held in memory (the step, not the input pipeline): the default strategy
through the project's one-replica path (a tf.function of train_step), the two workers through
training.loop's strategy.run loop over distributed batches of the same GLOBAL batch. The
all-reduce alone is then timed in the two workers: one collective SUM of tensors shaped like every
trainable variable, as the optimizer reduces the gradients. On one machine the two workers share
its cores (each gets --threads intra-op threads), so the two-worker figure is the price of the
protocol here, not a speed-up: across machines each worker has its own. Prints one table.
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

CONFIG = flags.DEFINE_string("config", "configs/lfw.py:cpu", "config (path[:variants])")
SETTING = flags.DEFINE_multi_string("setting", [], "config overrides key=value")
STEPS = flags.DEFINE_integer("steps", 20, "timed steps (after 3 untimed)")
THREADS = flags.DEFINE_integer("threads", 1, "intra-op threads of each of the two workers")
ROLE = flags.DEFINE_string("role", "", "internal: single | worker")
IMAGES = flags.DEFINE_string("images", "", "photos (default: the config's data.train)")


def _setup(strategy_name):
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  from divcolor_tf.data import stats as stats_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load(CONFIG.value, SETTING.value + [f"train.strategy={strategy_name}"])
  strategy = training.stage.configure(config.train)
  training.set_precision(training.precision_of(config.train))
  paths = data.list_images(IMAGES.value or config.data.train)[:256]
  stats = stats_lib.compute(paths, n_components=config.stats.n_components)
  ds = data.make_dataset(paths, field_size=config.data.field_size, grey_size=config.data.field_size,
                         batch_size=config.vae.batch_size, drop_remainder=True)
  batch = next(iter(ds.map(lambda b: {k: v for k, v in b.items() if k != "path"})))
  return config, strategy, stats, batch


def _run(role):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if role == "worker":
    tf.config.threading.set_intra_op_parallelism_threads(THREADS.value)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS.value)
  from divcolor_tf.trainers import vae as train_vae  # pylint: disable=g-import-not-at-top
  from divcolor_tf.training import loop  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  config, strategy, stats, batch = _setup("multi_worker" if role == "worker" else "default")
  with strategy.scope():
    trainer = train_vae.build_trainer(config, stats)
    trainer.compile(optimizer=training.make_optimizer(config.vae))
  if role == "worker":
    train, _ = loop._step_functions(trainer)  # pylint: disable=protected-access
    items = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(loop.distribute(strategy, items))
    step = lambda: train(next(iterator))
  else:
    trainer.optimizer.build(trainer.trainable_variables)
    function = tf.function(trainer.train_step)
    step = lambda: function(batch)
  for _ in range(3):
    float(step()["loss"])
  start = time.perf_counter()
  for _ in range(STEPS.value):
    logs = step()
  float(logs["loss"])
  step_s = (time.perf_counter() - start) / STEPS.value
  result = {"role": role, "step_s": step_s, "batch": int(config.vae.batch_size),
            "params": int(sum(v.numpy().size for v in trainer.trainable_variables))}
  if role == "worker":
    shapes = [v.shape for v in trainer.trainable_variables]

    @tf.function
    def reduce_all():
      def replica():
        context = tf.distribute.get_replica_context()
        return context.all_reduce("SUM", [tf.ones(s) for s in shapes])
      return strategy.run(replica)

    for _ in range(3):
      reduce_all()
    start = time.perf_counter()
    for _ in range(STEPS.value):
      out = reduce_all()
    float(tf.reduce_sum(strategy.experimental_local_results(out)[0][0]))
    result["all_reduce_s"] = (time.perf_counter() - start) / STEPS.value
    result["chief"] = training.is_chief()
  print("RESULT " + json.dumps(result), flush=True)


def _child(role, environ):
  command = [sys.executable, __file__, f"--role={role}", f"--config={CONFIG.value}",
             f"--steps={STEPS.value}", f"--threads={THREADS.value}"]
  command += [f"--setting={s}" for s in SETTING.value]
  if IMAGES.value:
    command.append(f"--images={IMAGES.value}")
  return subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def _results(process):
  out, err = process.communicate(timeout=3600)
  lines = [l for l in out.splitlines() if l.startswith("RESULT ")]
  if process.returncode or not lines:
    sys.exit(f"a bench process failed:\n{err[-3000:]}")
  return json.loads(lines[-1][len("RESULT "):])


def main(argv):
  del argv
  if ROLE.value:
    _run(ROLE.value)
    return
  base = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  base.pop("TF_CONFIG", None)
  single = _results(_child("single", base))
  from divcolor_tf.training import strategy  # pylint: disable=g-import-not-at-top
  workers = [_child("worker", dict(base, TF_CONFIG=config))
             for config in strategy.loopback_cluster(2)]
  two = [_results(p) for p in workers]
  chief = next(r for r in two if r["chief"])
  batch = single["batch"]
  print(f"VAE of {CONFIG.value} {' '.join(SETTING.value)}: global batch {batch}, "
        f"{single['params']:,} parameters, {STEPS.value} steps, {os.cpu_count()} cores")
  print(f"{'':34s}{'step s':>9s}{'images/s':>10s}")
  print(f"{'1 process (default strategy)':34s}{single['step_s']:9.3f}{batch / single['step_s']:10.1f}")
  print(f"{'2 workers (multi_worker, loopback)':34s}{chief['step_s']:9.3f}"
        f"{batch / chief['step_s']:10.1f}")
  print(f"all-reduce of the gradients alone: {chief['all_reduce_s'] * 1e3:.1f} ms a step, "
        f"{100 * chief['all_reduce_s'] / chief['step_s']:.0f}% of the two-worker step; "
        f"two workers / one process: {chief['step_s'] / single['step_s']:.2f}x the step time")


if __name__ == "__main__":
  app.run(main)
