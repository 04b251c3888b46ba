"""Config variants: the names a config file takes after its colon (``configs/lfw.py:cpu_skip,tiny``),
a registry of name -> function(config) (:data:`VARIANTS`) applied in order by
:func:`apply_variants`. A dataset's own recipes (with their measured figures) live in its file in
``configs/`` and join the registry through ``apply_variants(..., variants=)``.
"""

from divcolor_tf.config import files
from divcolor_tf.config import schema


def tiny(c):
  """Shrinks a config in place to the tiny twin used by tests (same schema, seconds per step).

  A smoke test, not a model: 2 steps of a 1/16-width network, whose colorizations come out flat
  grey; ``smoke_test`` makes every trainer say so in its log (training.start_stage).
  """
  c.smoke_test = True
  c.data.grey_size = 64
  c.data.max_images = 64
  c.data.shuffle_buffer = 64
  c.stats.max_images = 64
  c.vae.width = 1 / 16
  c.vae.latent_dim = 8
  c.vae.batch_size = 8
  c.vae.epochs = 1
  c.vae.steps_per_epoch = 2
  c.train.image_summaries = 2
  c.features.width = 1 / 16
  c.features.epochs = 1
  c.features.batch_size = 4
  c.features.steps_per_epoch = 2
  c.mdn.width = 1 / 16
  c.mdn.epochs = 1
  c.mdn.batch_size = 4
  c.mdn.steps_per_epoch = 2
  c.joint.epochs = 1
  c.joint.batch_size = 4
  c.joint.steps_per_epoch = 2
  c.cvae.width = 1 / 16
  c.cvae.latent_dim = 8
  c.cvae.epochs = 1
  c.cvae.batch_size = 4
  c.cvae.steps_per_epoch = 2
  c.cvae.samples = 16
  c.cgan.width = 1 / 16
  c.cgan.epochs = 1
  c.cgan.batch_size = 4
  c.cgan.steps_per_epoch = 2
  c.cgan.samples = 16
  return c


def cpu(c):
  """Sizes a config for a 2-core CPU without a GPU (the runs behind this project's shipped figures).

  VAE: half width (9.0M parameters instead of 32.9M; ~3.5x faster per image), Adam 2e-4: measured
  stable on LFW before the project existed, where a quarter-width VAE with Adam 1e-3 diverged (its
  KL ran away). float32: this CPU (AMD EPYC, no AVX512-BF16) runs bf16 convolutions ~13x SLOWER
  than float32 (`python bench/train_throughput.py --stage vae --setting vae.width=0.5
  --setting vae.width=0.5,train.precision=mixed_bfloat16`), so mixed precision stays off.
  """
  c.vae.width = 0.5
  c.vae.log_variance_limit = 5.0  # without it the KL exploded within 10 steps (models/vae.py)
  c.train.precision = "float32"
  c.vae.learning_rate = 2e-4
  # 8 epochs, the last 2 at a quarter of the rate (~80 min here, 1.9 s per step of 32). At a constant
  # 2e-4 the held-out loss stalled and wandered after epoch 6 (val loss 64.0, 60.8, 58.4, 61.0,
  # 65.6 for epochs 6-10; Table 1 abs. error 0.058 at epoch 6, 0.061 at epoch 10).
  c.vae.epochs = 8
  c.vae.lr_decay_epochs = (6,)
  c.vae.lr_decay_factor = 0.25
  # Feature network: quarter width at 96x96 grey input (2.0M parameters, G 12x12x128; ~18 img/s
  # for a training step here against ~11 at 128x128: bench/train_throughput.py --stage features).
  # Trained from scratch in a few epochs, so 10x Zhang et al.'s learning rate.
  c.data.grey_size = 96
  c.features.width = 0.25
  c.features.learning_rate = 3e-4
  c.features.epochs = 3
  # MDN: 1/8 width (0.8M parameters on G 12x12x128); G and the posterior are cached after epoch 1.
  c.mdn.width = 0.125
  c.mdn.epochs = 10
  c.mdn.learning_rate = 3e-4
  c.mdn.cache_features = True
  # The baselines at the VAE's width (the CVAE is the VAE's networks plus a grey encoder), with
  # the VAE's measured-stable rate and log-variance bound for the CVAE.
  c.cvae.width = 0.5
  c.cvae.log_variance_limit = 5.0
  c.cvae.learning_rate = 2e-4
  c.cgan.width = 0.5


def cpu_skip(c):
  """The "+skip" recipe for a 2-core CPU (issue: colorizations that depend on the photo).

  ``cpu`` plus the "Ours+skip" decoder, whose grey encoder gives the decoder the photo's own
  structure so that z only has to carry the colour choices. Without L_mah, as the authors' code
  trained its skip variant: the Mahalanobis term ties the decoder to whole-field PCA layouts (it
  also doubled the step time here: 2.56 s against 1.28 s per batch of 32 at width 0.5, measured
  with bench/train_throughput.py). The last convolution is reflection-padded (no corner blotch).
  Decoded examples are cached in memory after the first epoch. The schedule is ``cpu``'s: 8
  epochs, the last 2 at a quarter of the rate.
  """
  cpu(c)
  c.vae.skip = True
  c.vae.output_padding = "reflect"  # no corner blotch (models/vae.py)
  c.loss.mah_factor = 0.0
  c.data.cache = True


ABLATIONS = {
    # Table 1/2 columns. "l2": the plain L2 loss (L_hist with every weight 1), nothing else.
    "l2": dict(hist_factor=1.0, mah_factor=0.0, grad_factor=0.0, colourfulness="uniform"),
    # "mah": the specificity loss L_mah alone.
    "mah": dict(hist_factor=0.0, mah_factor=1.0, grad_factor=0.0),
    # "all": every term of Eq. 2-4 with the paper's weights, the base config's, set explicitly:
    # after cpu_skip, which leaves L_mah out, an empty "all" kept it out (issue 28's ablation).
    "all": {key: schema.base_config().loss[key]
            for key in ("hist_factor", "mah_factor", "grad_factor", "colourfulness")},
}


def _ablation(name):
  return lambda c: c.loss.update(ABLATIONS[name])


def settings(values):
  """A variant that sets ``values`` ({"section.field": value}); a field that moved
  (``schema.MOVED``) is a ConfigError saying where it went."""
  def apply(c):
    for key, value in values.items():
      moved = schema.moved_problem(key)
      if moved:
        raise schema.ConfigError(f"{key}: {moved}")
      section, field_name = key.split(".")
      c[section][field_name] = value
  return apply


def skip(c):
  """The "Ours+skip" decoder (Section 6.3): z multiplied into the grey encoder's 4x4 map."""
  c.vae.skip = True


def authors(c):
  """The authors' code's choices where they differ from the paper (REFERENCE.md)."""
  c.vae.bn_before_tanh = True
  c.vae.encoder_dropout = 0.3
  c.vae.truncated_noise = True
  c.loss.hist_norm = "sqrt"
  c.loss.colourfulness = "raw"
  c.loss.kl_factor = 9e-3
  c.loss.kl_ramp_epochs = 10


# name -> function(config): the variants every dataset config accepts after its colon. A config
# file adds its own (its recipes) through apply_variants' ``variants``.
VARIANTS = {
    "cpu": cpu,
    "cpu_skip": cpu_skip,
    **{name: _ablation(name) for name in ABLATIONS},
    "skip": skip,
    "authors": authors,
}


def apply_variants(c, arg, tiny_overrides=None, variants=None):
  """Applies a config file's ``:arg``, a comma-separated list of variant names, in order.

  Names: ``tiny`` (the test twin; ``tiny_overrides`` are the file's own data paths for it), the
  names of :data:`VARIANTS` (``cpu``, ``cpu_skip``, the loss ablations ``l2`` / ``mah`` /
  ``all`` of Tables 1-2, ``skip``, ``authors``) and those of ``variants``, the calling file's
  own recipes (name -> function(config); they take precedence).
  """
  registry = {**VARIANTS, **(variants or {})}
  for name in filter(None, (arg or "").split(",")):
    if name == "tiny":
      tiny(c)
      for key, value in (tiny_overrides or {}).items():
        files.set_path(c, key, str(value))
    elif name in registry:
      registry[name](c)
    else:
      known = ["tiny", *registry]
      raise ValueError(f"unknown config variant {name!r} (known: {', '.join(known)})")
  return c
