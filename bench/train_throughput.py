"""Images/s of one training step of each stage on real photos: the project's trainer against a
bare step, with and without XLA, with and without oneDNN.

  python bench/train_throughput.py                        # vae, features, mdn; every variant
  python bench/train_throughput.py --stage vae --variants trainer --onednn on \
      --setting vae.width=0.5 --setting vae.width=0.5,train.precision=mixed_bfloat16
  python bench/train_throughput.py --stage features --setting features.width=0.5,data.grey_size=128
  python bench/train_throughput.py --stage= --compare_workers    # 1 worker against 2, only

Stages: "vae" (train_vae.build_trainer), "features" (train_features.build_trainer), "mdn"
(train_mdn.build_trainer on cached features {"grey_features", "mean", "log_var"}, as
mdn.cache_features trains it; the batch is made once by an untrained trunk and encoder of the
config's sizes) and "joint" (train_joint.JointTrainer over untrained networks of the config's
sizes: its step decodes the M means without a gradient and the best one again with it; its
"bare" variant is the module's formula differentiated through all M decodes, the joint step as
it was before session 12, so trainer/bare is that change's speed-up).

Variants of a stage's step:
  trainer      the project's trainer, compiled as its train_*.py compiles it; its compiled
               train_function (what fit runs per step, without the callbacks) on the batch
  trainer+xla  the same with compile(jit_compile=True) (config train.jit_compile)
  bare         a tf.function step written here: the same networks, the same loss (through
               divcolor_tf.losses) and optimizer, without Keras's train_step, metrics, iterator
  bare+xla     the same with tf.function(jit_compile=True)
each under every --onednn setting: TensorFlow reads TF_ENABLE_ONEDNN_OPTS when it is imported, so
each setting runs in its own subprocess (one after the other).

jit_compile=True is must-compile: a step that runs was compiled whole by XLA, and one that cannot
be is reported with the op XLA refused. A trainer+xla variant also runs one validation step
(evaluate), which fit runs at every epoch's end.

The batch (the stage's batch size) is decoded once and held in memory, so the figure is the step
alone (forward, backward, optimizer update), not the input pipeline (bench/data_pipeline.py
measures that). In a process the variants are timed in turns (--rounds), each turn for at least
--steps steps and --seconds seconds, after two untimed steps (the first traces and compiles); the
best turn is reported. One table at the end: images/s and the ratio to the stage's best bare
variant. Not a test: figures go in the notes.

--compare_workers adds one worker against two (issue 30): the VAE step of the config in one
process (train.strategy=default) and in two worker processes on loopback (multi_worker, TF_CONFIG,
free ports), and the gradients' all-reduce alone, as bench/multi_worker.py measures it (run here
once per --setting).

Each --setting is a comma-separated list of config overrides (key=value) applied on top of
--config to every stage; one measurement each (default: the config as it is).
"""

import json
import os
import re
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STAGE_NAMES = ("vae", "features", "mdn", "joint")
VARIANTS = ("trainer", "trainer+xla", "bare", "bare+xla")
ONEDNN = {"on": "1", "off": "0"}

STAGE = flags.DEFINE_list("stage", list(STAGE_NAMES), f"stages to time, of {STAGE_NAMES}")
VARIANT = flags.DEFINE_list("variants", list(VARIANTS), f"step variants, of {VARIANTS}")
ONEDNN_FLAG = flags.DEFINE_list("onednn", ["on", "off"], "oneDNN settings (a subprocess each)")
CONFIG = flags.DEFINE_string("config", "configs/lfw.py:cpu", "config file[:variants]")
SETTINGS = flags.DEFINE_multi_string(
    "setting", None, "comma-separated key=value overrides; one measurement each (default: the "
    "config as it is)")
IMAGES = flags.DEFINE_string("images", "", "photos of the batch; empty: the config's data.train")
STEPS = flags.DEFINE_integer("steps", 3, "timed steps per turn, at least")
SECONDS = flags.DEFINE_float("seconds", 2.0, "timed seconds per turn, at least")
ROUNDS = flags.DEFINE_integer("rounds", 2, "turns per variant; the best is reported")
BATCH = flags.DEFINE_integer("batch_size", 0, "batch size; 0: the stage's own from the config")
COMPARE_WORKERS = flags.DEFINE_bool(
    "compare_workers", False, "also time the VAE step in 1 process against 2 workers on loopback "
    "and the all-reduce's share (bench/multi_worker.py)")
WORKER = flags.DEFINE_bool("worker", False, "internal: measure in this process (under the "
                           "TF_ENABLE_ONEDNN_OPTS its parent set) and print RESULT lines")


class Spec:
  """What a stage gives the timing: its batch, a trainer factory and the bare step's loss."""

  def __init__(self, batch, n, params, build, optimizer, bare_loss, variables):
    self.batch = batch  # dict of tensors, in memory
    self.n = n  # batch size
    self.params = params
    self.build = build  # () -> the project's trainer, not compiled
    self.optimizer = optimizer  # () -> a fresh optimizer, as the stage's train() makes it
    self.bare_loss = bare_loss  # (trainer, batch, seed [2] int64) -> per-example loss [B]
    self.variables = variables  # trainer -> the variables the step updates


def _batch(paths, n, grey_size, field_size=64):
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  ds = data.make_dataset(paths[:4 * n], field_size=field_size, grey_size=grey_size, batch_size=n,
                         drop_near_grey=True, drop_remainder=True,
                         skip_log=data.SkipLog(warn=False))
  return {k: v for k, v in next(iter(ds)).items() if k != "path"}


def vae_stage(config, paths):
  from divcolor_tf import losses  # pylint: disable=g-import-not-at-top
  from divcolor_tf.data import stats as stats_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import vae as train_vae  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import vae  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  n = BATCH.value or config.vae.batch_size
  stats = stats_lib.compute(paths[:64], n_components=config.stats.n_components)
  batch = _batch(paths, n, config.data.field_size, config.data.field_size)
  batch = {"colour_field": batch["colour_field"], "lightness": batch["lightness"]}

  def bare_loss(trainer, batch, seed):
    colour_field = batch["colour_field"]
    mean, log_var = trainer.encoder(colour_field, training=True)
    mean, log_var = tf.cast(mean, tf.float32), tf.cast(log_var, tf.float32)
    z = vae.sample_z(mean, log_var, seed=seed, truncated=bool(config.vae.truncated_noise))
    reconstruction = vae.decode(trainer.decoder, z, batch["lightness"], training=True)
    terms = losses.decoder_loss(
        colour_field, reconstruction, weights=trainer.bin_weights, components=trainer.components,
        variances=trainer.variances, loss_config=config.loss)
    return terms["decoder"] + trainer.kl_weight * losses.kl_loss(mean, log_var)

  probe = train_vae.build_trainer(config, stats)
  params = probe.encoder.count_params() + probe.decoder.count_params()
  return Spec(batch, n, params, lambda: train_vae.build_trainer(config, stats),
              lambda: training.make_optimizer(config.vae), bare_loss,
              lambda trainer: trainer.trainable_variables)


def _resize_matrix(size_in, size_out):
  """R [out, in] such that resizing along one axis (tf.image.resize, antialias=True, which is
  linear and separable) is R @ x: the feature trainer's target resize as matmuls, which XLA
  compiles (its ScaleAndTranslate op has no XLA kernel)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  columns = tf.eye(size_in)[:, :, None, None]  # size_in images [size_in, 1, 1], one-hot in height
  return tf.transpose(tf.image.resize(columns, [size_out, 1], antialias=True)[:, :, 0, 0])


def features_stage(config, paths):
  from divcolor_tf import color  # pylint: disable=g-import-not-at-top
  from divcolor_tf import losses  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import features as train_features  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import features  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  n = BATCH.value or config.features.batch_size
  batch = _batch(paths, n, config.data.grey_size)
  batch = {"grey": batch["grey"], "colour_field": batch["colour_field"]}

  def build():
    network = features.build_feature_network(config.features, grey_size=config.data.grey_size)
    # The rebalancing weights' values do not change the step's cost: no statistics needed.
    return train_features.FeatureTrainer(
        network, bin_weights=[1.0] * features.NUM_BINS, soft_k=config.features.soft_k,
        soft_sigma=config.features.soft_sigma, seed=config.train.seed)

  probe = build()
  field = int(batch["colour_field"].shape[1])
  resize = _resize_matrix(field, probe.output_size)
  ab = tf.cast(batch["colour_field"], tf.float32) * color.AB_SCALE
  expected = tf.image.resize(ab, [probe.output_size] * 2, antialias=True)
  got = tf.einsum("oi,bijc,pj->bopc", resize, ab, resize)
  error = float(tf.reduce_max(tf.abs(got - expected)))
  assert error < 1e-3, f"the resize as matmuls is off by {error} (ab units)"

  def bare_loss(trainer, batch, seed):
    del seed  # no noise in this step
    logits = tf.cast(trainer.network(batch["grey"], training=True)["logits"], tf.float32)
    ab = tf.einsum("oi,bijc,pj->bopc", resize,
                   tf.cast(batch["colour_field"], tf.float32) * color.AB_SCALE, resize)
    soft = color.soft_encode(ab, k=trainer.soft_k, sigma=trainer.soft_sigma)
    return losses.rebalanced_cross_entropy(logits, soft, trainer.bin_weights)

  return Spec(batch, n, probe.network.count_params(), build,
              lambda: training.make_optimizer(config.features),
              bare_loss, lambda trainer: trainer.network.trainable_variables)


def mdn_stage(config, paths):
  from divcolor_tf import losses  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import mdn as train_mdn  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import features  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import vae  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  n = BATCH.value or config.mdn.batch_size
  training.set_precision(training.precision_of(config.train))  # the frozen networks' own
  trunk = features.build_trunk(features.build_feature_network(
      config.features, grey_size=config.data.grey_size))
  encoder = vae.build_encoder(config.vae, field_size=config.data.field_size)
  batch = train_mdn.frozen_features(_batch(paths, n, config.data.grey_size), trunk, encoder)
  training.set_precision(training.precision_of(config.mdn, training.precision_of(config.train)))
  config.mdn.cache_features = True  # the trainer reads the features, not the photos

  def build():
    return train_mdn.build_trainer(config, trunk, encoder)

  probe = build()
  batch["grey_features"] = tf.cast(batch["grey_features"], probe.mdn.compute_dtype)

  def bare_loss(trainer, batch, seed):
    z = vae.sample_z(batch["mean"], batch["log_var"], seed=seed,
                     truncated=bool(config.vae.truncated_noise))
    outputs = trainer.mdn(batch["grey_features"], training=True)
    return losses.mdn_loss(z, tf.cast(outputs["means"], tf.float32),
                           tf.cast(outputs["logits"], tf.float32), variance=trainer.variance)

  return Spec(batch, n, probe.mdn.count_params(), build,
              lambda: training.make_optimizer(config.mdn), bare_loss,
              lambda trainer: trainer.mdn.trainable_variables)


def joint_stage(config, paths):
  from divcolor_tf import losses  # pylint: disable=g-import-not-at-top
  from divcolor_tf.data import stats as stats_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf.trainers import joint as train_joint  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import features  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import mdn as mdn_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import vae  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  joint = config.joint
  n = BATCH.value or joint.batch_size
  stats = stats_lib.compute(paths[:64], n_components=config.stats.n_components)
  trunk = features.build_trunk(features.build_feature_network(
      config.features, grey_size=config.data.grey_size))
  models = vae.build_vae(config.vae, field_size=config.data.field_size)
  batch = _batch(paths, n, config.data.grey_size, config.data.field_size)
  batch = {k: batch[k] for k in ("grey", "colour_field", "lightness")}
  weights = stats_lib.bin_weights_for(stats, config.loss)

  def build():
    mdn = mdn_lib.build_mdn(config.mdn, latent_dim=config.vae.latent_dim,
                            grey_features_shape=tuple(int(v) for v in trunk.output.shape[1:]))
    return train_joint.JointTrainer(
        trunk, mdn, models.decoder, models.encoder, bin_weights=weights, weighted=joint.weighted,
        weight_power=joint.weight_power, ce_factor=joint.ce_factor,
        recon_factor=joint.recon_factor, chroma_factor=joint.chroma_factor,
        spatial_factor=joint.spatial_factor, k=int(config.colorize.k), seed=config.train.seed)

  def bare_loss(trainer, batch, seed):
    """The module's formula differentiated through all M decodes (the step before session 12)."""
    del seed
    target = batch["colour_field"]
    out = trainer(batch, training=True)
    w = (losses.pixel_weights(target, trainer.bin_weights) ** trainer.weight_power
         if trainer.weighted else tf.ones(tf.shape(target)[:-1]))
    errors = train_joint.weighted_mean(train_joint.pixel_errors(target, out["fields"]), w)
    best = tf.argmin(errors, axis=1, output_type=tf.int32)
    chosen = tf.gather(out["fields"], best, batch_dims=1)
    loss = (tf.reduce_min(errors, 1)
            + trainer.ce_factor * tf.nn.sparse_softmax_cross_entropy_with_logits(
                best, out["logits"])
            + trainer.chroma_factor * tf.abs(train_joint.chroma(chosen)
                                             - train_joint.chroma(target))
            + trainer.spatial_factor * tf.abs(train_joint.spread(chosen)
                                              - train_joint.spread(target)))
    if trainer.recon_factor:
      mean, _ = trainer.frozen.encoder(target, training=False)
      recon = vae.decode(trainer.decoder, mean, batch["lightness"])
      loss += trainer.recon_factor * train_joint.weighted_mean(
          train_joint.pixel_errors(target, recon[:, None]), w)[:, 0]
    return loss

  probe = build()
  params = int(sum(np.prod(v.shape) for v in probe.optimized_variables))
  return Spec(batch, n, params, build, lambda: training.make_optimizer(joint), bare_loss,
              lambda trainer: trainer.optimized_variables)


STAGES = {"vae": vae_stage, "features": features_stage, "mdn": mdn_stage, "joint": joint_stage}


def _refused(error):
  """What an error says, on one line; for an XLA refusal, the ops without an XLA kernel."""
  ops = sorted(set(re.findall(r"No registered '(\w+)' OpKernel for XLA", str(error))))
  if ops:
    return "no XLA kernel for " + ", ".join(ops)
  return f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"


def _trainer_step(spec, jit):
  """The project's step: (step function, sync function, first step's seconds, note)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  trainer = spec.build()
  trainer.compile(optimizer=spec.optimizer(), jit_compile=jit)
  if jit and not trainer.jit_compile:
    raise RuntimeError("Keras turned jit_compile off (a layer that does not support XLA)")
  ds = tf.data.Dataset.from_tensors(spec.batch).repeat()
  start = time.perf_counter()
  trainer.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)  # builds, traces and compiles
  first = time.perf_counter() - start
  iterator = iter(ds)
  note = ""
  if jit:
    try:
      trainer.evaluate(ds, steps=1, verbose=0)
      note = "validation step ok (compiled without XLA)"
    except Exception as e:  # pylint: disable=broad-except
      note = "validation step failed: " + _refused(e)
  return (lambda: trainer.train_function(iterator)), (lambda out: float(out["loss"])), first, note


def _bare_step(spec, jit):
  """The bench's own step on the same networks and loss: (step, sync, first step's seconds, '')."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  trainer = spec.build()  # holds the networks (and the loss's constants); its step is not used
  variables = spec.variables(trainer)
  optimizer = spec.optimizer()
  optimizer.build(variables)

  @tf.function(jit_compile=jit)
  def step(batch):
    seed = tf.stack([tf.constant(0, tf.int64), tf.cast(optimizer.iterations, tf.int64)])
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(spec.bare_loss(trainer, batch, seed))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  start = time.perf_counter()
  float(step(spec.batch))
  return (lambda: step(spec.batch)), float, time.perf_counter() - start, ""


def _measure(stage, setting, onednn):
  """Times every variant of one stage and setting in this process; prints a RESULT line each."""
  import keras  # pylint: disable=g-import-not-at-top
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf import training  # pylint: disable=g-import-not-at-top

  config = config_lib.load(CONFIG.value, [s for s in setting.split(",") if s])
  training.set_precision(training.precision_of(config.train))
  paths = data.list_images(IMAGES.value or config.data.train)
  spec = STAGES[stage](config, paths)
  steps, results = {}, {}
  for variant in VARIANT.value:
    result = {"stage": stage, "setting": setting, "onednn": onednn, "variant": variant,
              "batch": spec.n, "params": spec.params, "rates": [], "first_s": None, "error": "",
              "note": ""}
    results[variant] = result
    make = _bare_step if variant.startswith("bare") else _trainer_step
    try:
      step, sync, result["first_s"], result["note"] = make(spec, variant.endswith("+xla"))
      sync(step())  # a second untimed step
      steps[variant] = step, sync
    except Exception as e:  # pylint: disable=broad-except
      result["error"] = _refused(e)
  for _ in range(ROUNDS.value):
    for variant, (step, sync) in steps.items():
      count, start = 0, time.perf_counter()
      while count < STEPS.value or time.perf_counter() - start < SECONDS.value:
        out = step()
        count += 1
      sync(out)
      results[variant]["rates"].append(spec.n * count / (time.perf_counter() - start))
  for result in results.values():
    rate = max(result["rates"]) if result["rates"] else 0.0
    print(f"  oneDNN {onednn:3s} {stage:8s} {setting or '-':20s} {result['variant']:12s} "
          f"{rate:8.1f} images/s {result['error']}", file=sys.stderr, flush=True)
    print("RESULT " + json.dumps(result), flush=True)
  keras.backend.clear_session()


def _worker():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  onednn = {"0": "off"}.get(os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""), "on")
  print(f"oneDNN {onednn}: {os.cpu_count()} cores, TF {tf.__version__}", file=sys.stderr,
        flush=True)
  for stage in STAGE.value:
    for setting in SETTINGS.value or [""]:
      _measure(stage, setting, onednn)


def _table(results):
  """One line per (stage, setting, oneDNN, variant): images/s and the ratio to the best bare."""
  width = max([21] + [len(r["setting"] or "-") for r in results]) + 1  # the setting column
  lines = [f"{'stage':9s}{'setting':{width}s}{'oneDNN':8s}{'variant':13s}{'img/s':>8s}"
           f"{'vs best bare':>14s}{'1st step s':>12s}  notes"]
  groups = {}
  for r in results:
    groups.setdefault((r["stage"], r["setting"]), []).append(r)
  for (stage, setting), group in groups.items():
    best = max([max(r["rates"]) for r in group if r["variant"].startswith("bare") and r["rates"]],
               default=0.0)
    r0 = group[0]
    lines.append(f"-- {stage}: batch {r0['batch']}, {r0['params'] / 1e6:.2f}M params")
    for r in group:
      rate = max(r["rates"]) if r["rates"] else 0.0
      ratio = f"{rate / best:.2f}" if best and rate else "-"
      first = f"{r['first_s']:.1f}" if r["first_s"] is not None else "-"
      notes = r["error"] or r["note"]
      lines.append(f"{stage:9s}{setting or '-':{width}s}{r['onednn']:8s}{r['variant']:13s}"
                   f"{rate:8.1f}{ratio:>14s}{first:>12s}  {notes}")
  return "\n".join(lines)


def main(argv):
  del argv
  for name, values, known in (("stage", STAGE.value, STAGE_NAMES),
                              ("variants", VARIANT.value, VARIANTS),
                              ("onednn", ONEDNN_FLAG.value, tuple(ONEDNN))):
    unknown = sorted(set(values) - set(known))
    if unknown:
      raise app.UsageError(f"--{name}: unknown {unknown} (known: {', '.join(known)})")
  if WORKER.value:
    _worker()
    return
  if STAGE.value:
    _stage_tables()
  if COMPARE_WORKERS.value:
    _compare_workers()


def _compare_workers():
  """bench/multi_worker.py's table, once per --setting (its --setting takes one key=value)."""
  script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multi_worker.py")
  for setting in SETTINGS.value or [""]:
    command = [sys.executable, script, f"--config={CONFIG.value}"]
    command += [f"--setting={item}" for item in setting.split(",") if item]
    if IMAGES.value:
      command.append(f"--images={IMAGES.value}")
    print(f"-- one worker against two{': ' + setting if setting else ''}", flush=True)
    if subprocess.run(command, check=False).returncode:
      raise SystemExit("bench/multi_worker.py failed")


def _stage_tables():
  print(f"config {CONFIG.value}; stages {','.join(STAGE.value)}; {os.cpu_count()} cores; "
        f"{ROUNDS.value} turns of >= {STEPS.value} steps and {SECONDS.value:g} s", flush=True)
  results = []
  for onednn in ONEDNN_FLAG.value:
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=ONEDNN[onednn])
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--worker"],
                         env=env, stdout=subprocess.PIPE, text=True, check=False)
    if out.returncode:
      raise SystemExit(f"the oneDNN {onednn} worker failed (exit {out.returncode})")
    results += [json.loads(line[len("RESULT "):]) for line in out.stdout.splitlines()
                if line.startswith("RESULT ")]
  print(_table(results))


if __name__ == "__main__":
  app.run(main)
