"""The config schema shared by every dataset config in ``configs/``, and its helpers.

Each file in ``configs/`` exposes ``get_config(arg=None)`` returning an
``ml_collections.ConfigDict`` built from :func:`base_config`; ``arg="tiny"`` gives the tiny twin
(same schema, sizes small enough for a test on two CPU cores). Command-line tools load a config
with absl's ``config_flags`` (``--config configs/lfw.py:tiny --config.train.epochs=3``) and write
the resolved config beside their outputs with :func:`save_resolved`.

Field names follow the paper: ``colour_field`` (64x64 ab/128), ``grey`` (lightness L), ``latent_dim``
(d), loss weights as ``{term}_factor``.
"""

import ast
import json
import os

import ml_collections

from divcolor_tf import atomic

PAPER = "Deshpande et al., Learning Diverse Image Colorization, CVPR 2017"


def shared_data(*parts):
  """A path under the project's ../shared/data (or $DIVCOLOR_SHARED_DATA), absolute.

  Dataset configs name their photos with this, so a config works from any working directory.
  """
  root = os.environ.get("DIVCOLOR_SHARED_DATA") or os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared", "data")
  return os.path.normpath(os.path.join(root, *parts))


def base_config():
  """The paper's settings; dataset configs override paths and the few dataset-specific values."""
  c = ml_collections.ConfigDict()
  c.dataset = ""  # name, for logs and file names
  c.smoke_test = False  # the tiny variant sets it: every trainer then warns "not a usable model"
  # Fine-tuning: an export (e.g. saved_models/divcolor_lfw) or a workdir whose weights every
  # stage starts from (by layer name; not on a resume). Empty: fresh initialisation.
  c.init_from = ""

  # Input pipeline (divcolor_tf.data).
  c.data = ml_collections.ConfigDict()
  c.data.train = ""  # directory tree, list file (one path per line) or glob
  c.data.val = ""  # optional separate validation source; empty: hold out val_fraction of train
  c.data.val_fraction = 0.05  # deterministic split by file path hash and split_seed
  c.data.split_seed = 0
  c.data.field_size = 64  # the VAE's colour field is field_size x field_size x 2 (paper: 64)
  c.data.grey_size = 224  # the grey feature network's input (paper: 224, Zhang et al.)
  c.data.drop_near_grey = True  # leave out black-and-white photos (their ab is ~0)
  c.data.near_grey_threshold = 0.0115  # mean chroma (ab/128) of a near-grey photo; data.py
  c.data.max_images = 0  # 0: all
  c.data.shuffle_buffer = 2048
  c.data.cache = False  # cache decoded, resized examples in memory after the first epoch

  # Colour statistics (divcolor_tf.stats): PCA of colour fields, prior over the 313 bins.
  c.stats = ml_collections.ConfigDict()
  c.stats.path = ""  # a stats .npz from divcolor-stats; empty: compute from data.train
  c.stats.n_components = 20  # the paper's top-20 principal components (L_mah)
  c.stats.prior_sigma = 5.0  # Gaussian smoothing of the 313-bin prior (Zhang et al.); 0: none
  c.stats.uniform_mix = 0.5  # lambda of the stable colourfulness weights (Zhang et al.)
  c.stats.max_images = 0  # 0: all of data.train

  # VAE (divcolor_tf.models.vae), Section 3 of the paper.
  c.vae = ml_collections.ConfigDict()
  c.vae.latent_dim = 64  # d (CVPR); arXiv v1 used 32 for LFW
  c.vae.width = 1.0  # channel multiplier; 1.0 is the paper's 128..1024
  c.vae.skip = False  # the "Ours+skip" variant (grey encoder, z multiplied into its 4x4 map)
  c.vae.relu_before_bn = True  # paper C_ReLU -> B, and the authors' code: conv -> ReLU -> BN
  c.vae.bn_before_tanh = False  # authors' code: a BN before the final tanh
  c.vae.encoder_dropout = 0.0  # authors' code: dropout 0.3 (keep 0.7) before the final F
  c.vae.truncated_noise = False  # authors' code: truncated-normal reparameterisation noise
  c.vae.log_variance_limit = 0.0  # 0: unbounded (paper); L > 0: log-var = L tanh(raw / L)
  c.vae.output_padding = "zero"  # the last conv's padding: "zero" (paper) or "reflect" (vae.py)

  # Decoder loss, Eq. 2-4, and the KL term.
  c.loss = ml_collections.ConfigDict()
  c.loss.hist_factor = 1.0  # L_hist, colourfulness-weighted squared error
  c.loss.mah_factor = 0.1  # L_mah, Mahalanobis distance in the PCA basis
  c.loss.grad_factor = 1e-3  # L_grad, finite-difference gradients
  c.loss.kl_factor = 1e-2  # KL(Q(z|C) || N(0, I)) relative to the decoder loss (arXiv v1: 1e-4)
  c.loss.kl_ramp_epochs = 0  # authors' code: ramp KL weight linearly from 0 over 10 epochs
  c.loss.colourfulness = "stable"  # "stable" (Zhang et al. mix+normalise) or "raw" (1/p)
  c.loss.hist_norm = "squared"  # "squared" (paper Eq. 2) or "sqrt" (authors' non-squared norm)

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 32
  c.train.epochs = 10
  c.train.learning_rate = 1e-4
  c.train.optimizer = "adam"
  # Step decay of the VAE's learning rate: after each of these (1-based) epochs, times the factor.
  c.train.lr_decay_epochs = ()
  c.train.lr_decay_factor = 0.1
  c.train.clipnorm = 0.0  # 0: no clipping
  c.train.seed = 0
  c.train.mixed_precision = False  # bf16 compute, fp32 variables
  # XLA-compile each trainer's training step (Keras compile(jit_compile=...); validation steps
  # are not). Off: slower on this CPU with oneDNN (bench/train_throughput.py: VAE 0.65x, MDN
  # 0.4-0.75x). The feature trainer's step does not compile (its antialiased target resize,
  # ScaleAndTranslate, has no XLA kernel). XLA draws other noise and dropout masks from the same
  # seeds, so resume a run with the setting it started with.
  c.train.jit_compile = False
  c.train.steps_per_epoch = 0  # 0: one pass over the training split
  c.train.num_devices = 0  # 0: every visible device (MirroredStrategy when > 1)
  c.train.image_summaries = 8  # reconstructions shown in TensorBoard per epoch
  # Checkpoints inside an epoch as well (every stage): after this many minutes / steps (0: off).
  c.train.checkpoint_minutes = 10.0
  c.train.checkpoint_steps = 0

  # Grey-level feature network (Zhang et al. conv1..conv7) and the MDN, Section 4.
  c.features = ml_collections.ConfigDict()
  c.features.width = 1.0
  c.features.epochs = 5
  c.features.batch_size = 16
  c.features.learning_rate = 3e-5
  c.features.soft_k = 5  # soft-encode each pixel's ab over its k nearest bins
  c.features.soft_sigma = 5.0
  # Zhang et al.'s released weights, as the paper used them: an .npz in models/zhang_weights.py's
  # layout (e.g. converted from their PyTorch port), loaded before the first step (width 1.0).
  # With features.epochs=0 the network is kept as released, as the paper froze it.
  c.features.zhang_weights = ""
  c.features.lightness_norm = 1.0  # the network sees (L - 50) / this: 100 for the PyTorch port
  c.features.steps_per_epoch = 0  # 0: one pass over the training split

  c.mdn = ml_collections.ConfigDict()
  c.mdn.components = 8
  c.mdn.variance = 0.1  # fixed spherical variance sigma^2 of every component
  c.mdn.width = 1.0
  c.mdn.dropout = 0.25  # authors' code: keep 0.75 before both FCs
  c.mdn.epochs = 5
  c.mdn.batch_size = 32
  c.mdn.learning_rate = 1e-4
  c.mdn.optimizer = "adam"  # read by training.make_optimizer, with clipnorm
  c.mdn.clipnorm = 0.0  # 0: no clipping
  c.mdn.steps_per_epoch = 0  # 0: one pass over the training split
  c.mdn.mixed_precision = False  # bf16 compute for the MDN (the frozen networks keep their own)
  # Compute G and the VAE posterior once per photo and keep them in memory (z is still sampled at
  # every step): the frozen networks then run in the first epoch only. Memory: H*W*c of G per photo.
  c.mdn.cache_features = False

  # The joint stage (divcolor-train-joint, divcolor_tf/train_joint.py; NOT in the paper): the MDN
  # and the decoder fine-tuned together on the colour error of the best decoded mean. 0 epochs:
  # no joint stage (the paper's pipeline).
  c.joint = ml_collections.ConfigDict()
  c.joint.epochs = 0
  c.joint.batch_size = 16
  c.joint.learning_rate = 5e-5
  c.joint.optimizer = "adam"
  c.joint.clipnorm = 0.0
  c.joint.steps_per_epoch = 0  # 0: one pass over the training split
  c.joint.weighted = True  # weight each pixel's error by its colourfulness weight (L_hist's)
  c.joint.weight_power = 1.0  # ... raised to this power: 1 L_hist's weights, 0 plain error
  c.joint.train_trunk = False  # also fine-tune the grey feature trunk (written to joint/trunk.keras)
  c.joint.ce_factor = 0.1  # -log pi of the best component: the weights learn which one it is
  c.joint.recon_factor = 1.0  # the decoder still reconstructs the encoder's codes (Table 1)
  c.joint.chroma_factor = 0.0  # |mean chroma of the best mean - the truth's|: against greying
  c.joint.spatial_factor = 0.0  # |spatial variation of the best mean - the truth's|

  c.colorize = ml_collections.ConfigDict()
  c.colorize.k = 5  # the paper's figures show the top-5 means
  return c


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
  c.train.batch_size = 8
  c.train.epochs = 1
  c.train.steps_per_epoch = 2
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
  return c


def cpu(c):
  """Sizes a config for a 2-core CPU without a GPU (the runs behind this project's shipped figures).

  VAE: half width (9.0M parameters instead of 32.9M; ~3.5x faster per image), Adam 2e-4: measured
  stable on LFW before the project existed, where a quarter-width VAE with Adam 1e-3 diverged (its
  KL ran away). float32: this CPU (AMD EPYC, no AVX512-BF16) runs bf16 convolutions ~13x SLOWER
  than float32 (`python bench/train_throughput.py --stage vae --setting vae.width=0.5
  --setting vae.width=0.5,train.mixed_precision=True`), so mixed precision stays off.
  """
  c.vae.width = 0.5
  c.vae.log_variance_limit = 5.0  # without it the KL exploded within 10 steps (models/vae.py)
  c.train.mixed_precision = False
  c.train.learning_rate = 2e-4
  # 8 epochs, the last 2 at a quarter of the rate (~80 min here, 1.9 s per step of 32). At a constant
  # 2e-4 the held-out loss stalled and wandered after epoch 6 (val loss 64.0, 60.8, 58.4, 61.0,
  # 65.6 for epochs 6-10; Table 1 abs. error 0.058 at epoch 6, 0.061 at epoch 10).
  c.train.epochs = 8
  c.train.lr_decay_epochs = (6,)
  c.train.lr_decay_factor = 0.25
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


def cpu_skip_long(c):
  """``cpu_skip`` with a longer VAE schedule: 12 epochs, the rate quartered from epoch 10.

  Made to resume a finished ``cpu_skip`` workdir (issue: colorizations that depend on the photo):
  ``cpu_skip``'s validation L_hist was still falling ~10% an epoch at the full rate when its
  schedule quartered the rate at epoch 6. Resumed from ``cpu_skip``'s epoch 8, it trains epochs
  9-10 at the full rate and 11-12 at a quarter. Trained from scratch it would give 10 epochs at
  the full rate instead, a schedule not measured here. The feature network is ``cpu_skip``'s; the
  MDN gets a quarter width instead of an eighth and 12 epochs instead of 10: on this VAE's codes
  its validation distance fell to 913.5 at epoch 13 and rose from there (947 at epoch 22:
  the quarter-width MDN overfits; run of 30 epochs, validation split).
  """
  cpu_skip(c)
  c.train.epochs = 12
  c.train.lr_decay_epochs = (10,)
  c.mdn.width = 0.25
  c.mdn.epochs = 13


def cpu_joint(c):
  """``cpu_skip_long`` plus the joint stage (divcolor-train-joint; not in the paper): the MDN and
  the decoder fine-tuned together on the colour error of the best decoded mean, 2 epochs at Adam
  5e-5, batches of 16 (each photo's 8 means decoded and compared with its true colour field).

  The bundled model's version 4 (57 min here, ~28 min an epoch). From version 3's workdir, on the
  validation split: Table 3 error-of-best 0.0554 -> 0.0522 after epoch 1 -> 0.0516 after epoch 2
  (palette-5 0.0545), Table 1 0.0396 -> 0.0349, chroma ratio 0.88 -> 0.90
  (docs/quality.md, section 8).
  """
  cpu_skip_long(c)
  c.joint.epochs = 2


def cpu_joint_gap(c):
  """The bundled model's version 5: a second joint stage on version 4's models, half an epoch
  (285 steps of 16 photos) of plain absolute error with the best mean held to the truth's chroma
  (factor 0.5) and spatial variation (0.3) (``joint_gap5``; docs/quality.md, sections 10-11).

  Run on a workdir holding version 4's models as the first stages' (its decoder and MDN are the
  first joint stage's): ``exported.unpack`` of version 4's export (configs/lfw.py has the
  commands; version 4 is saved_models/divcolor_lfw/4 in commit 8569d5a, MODEL_CARD.md). 62 min
  here sharing the CPU, ~26 min alone. Validation split: Table 3 error-of-best 0.0516 -> 0.0499,
  chroma ratio 0.90 -> 0.87, spatial ratio 0.73 -> 0.80; Table 1 0.0349 -> 0.0315. A second
  half-epoch gave 0.0501 (no gain).
  """
  cpu_joint(c)
  c.joint.update(weighted=False, chroma_factor=0.5, spatial_factor=0.3, steps_per_epoch=285,
                 epochs=1)


# The error-budget study (docs/quality.md; bench/quality_study.py runs them): variants added after
# ``cpu``, each changing one thing, trained at an equal small budget.
STUDY_VARIANTS = {
    # The study's budget: a quarter-width VAE (2.65M parameters), one epoch at Adam 2e-4.
    "study": {"vae.width": 0.25, "train.epochs": 1, "train.lr_decay_epochs": ()},
    # The same at 3 epochs: a budget at which Table 3 starts to rank end points (session 7).
    "study3": {"vae.width": 0.25, "train.epochs": 3, "train.lr_decay_epochs": ()},
    "nomah": {"loss.mah_factor": 0.0},  # L_hist + 1e-3 L_grad (+ KL): no Mahalanobis term
    "kl_low": {"loss.kl_factor": 1e-3},  # a 10x weaker KL (arXiv v1 used 1e-4)
    "kl_high": {"loss.kl_factor": 1e-1},  # a 10x stronger KL
    "reflect": {"vae.output_padding": "reflect"},  # the corner-blotch fix (models/vae.py)
    "lr_high": {"train.learning_rate": 5e-4},
    # The joint stage on plain absolute error (no colourfulness weights), one epoch
    # (docs/quality.md, section 8; trained with divcolor-train-joint, not the study script).
    "joint_plain": {"joint.weighted": False, "joint.epochs": 1},
    # From version 4 (docs/quality.md, section 9; validation split): the square root of L_hist's
    # weights, half an epoch: error-of-best 0.0516 -> 0.0491 but chroma 0.90 -> 0.79; the trunk
    # fine-tuned too, one epoch: 0.0516, chroma 0.91 (no gain).
    "joint_mid": {"joint.weight_power": 0.5},
    "joint_trunk": {"joint.train_trunk": True},
    # From version 4: plain absolute error with the best mean held to the truth's chroma and
    # spatial variation (docs/quality.md, section 10; validation split). Factors 1, half an
    # epoch: error-of-best 0.0517 (no gain), spatial ratio 0.73 -> 0.86; factors 0.3, one epoch:
    # 0.0494, chroma 0.84, spatial 0.81 (lfw/ci 0.0487, chroma 0.849: 0.001 under the bar).
    "joint_gap": {"joint.weighted": False, "joint.chroma_factor": 1.0,
                  "joint.spatial_factor": 1.0},
    "joint_gap3": {"joint.weighted": False, "joint.chroma_factor": 0.3,
                   "joint.spatial_factor": 0.3},
    # A chroma factor between the two, for a chroma ratio that clears 0.85 (section 10): half an
    # epoch, 0.0499, chroma 0.87, spatial 0.80.
    "joint_gap5": {"joint.weighted": False, "joint.chroma_factor": 0.5,
                   "joint.spatial_factor": 0.3},
}


ABLATIONS = {
    # Table 1/2 columns. "l2": the plain L2 loss (L_hist with every weight 1), nothing else.
    "l2": dict(hist_factor=1.0, mah_factor=0.0, grad_factor=0.0, colourfulness="uniform"),
    # "mah": the specificity loss L_mah alone.
    "mah": dict(hist_factor=0.0, mah_factor=1.0, grad_factor=0.0),
    # "all": every term of Eq. 2-4 with the paper's weights (the default).
    "all": dict(),
}


def apply_variants(c, arg, tiny_overrides=None):
  """Applies a config file's ``:arg``, a comma-separated list of variant names.

  Variants: ``tiny`` (the test twin; ``tiny_overrides`` are the file's own data paths for it),
  ``cpu`` (sized for a 2-core CPU), ``cpu_skip``, ``cpu_skip_long``, ``cpu_joint`` and
  ``cpu_joint_gap`` (the bundled model's "+skip" recipe, stage by stage), the study's one-change
  variants (:data:`STUDY_VARIANTS`), ``l2`` / ``mah`` / ``all`` (the loss
  ablations of Tables 1-2), ``skip`` (the "Ours+skip" decoder), ``authors`` (the authors' code's
  choices where they differ from the paper).
  """
  for name in filter(None, (arg or "").split(",")):
    if name == "tiny":
      tiny(c)
      for key, value in (tiny_overrides or {}).items():
        _set_path(c, key, str(value))
    elif name in ABLATIONS:
      c.loss.update(ABLATIONS[name])
    elif name == "cpu":
      cpu(c)
    elif name == "cpu_skip":
      cpu_skip(c)
    elif name == "cpu_skip_long":
      cpu_skip_long(c)
    elif name == "cpu_joint":
      cpu_joint(c)
    elif name == "cpu_joint_gap":
      cpu_joint_gap(c)
    elif name in STUDY_VARIANTS:
      for key, value in STUDY_VARIANTS[name].items():
        section, field = key.split(".")
        c[section][field] = value
    elif name == "skip":
      c.vae.skip = True
    elif name == "authors":
      c.vae.bn_before_tanh = True
      c.vae.encoder_dropout = 0.3
      c.vae.truncated_noise = True
      c.loss.hist_norm = "sqrt"
      c.loss.colourfulness = "raw"
      c.loss.kl_factor = 9e-3
      c.loss.kl_ramp_epochs = 10
    else:
      known = ["tiny", "cpu", "cpu_skip", "cpu_skip_long", "cpu_joint", "cpu_joint_gap",
               *STUDY_VARIANTS, *ABLATIONS, "skip", "authors"]
      raise ValueError(f"unknown config variant {name!r} (known: {', '.join(known)})")
  return c


def load(path, overrides=()):
  """Loads ``path[:arg]`` (a configs/*.py file) and applies ``key=value`` overrides.

  Tests and notebooks use this; command-line tools use absl's ``config_flags`` instead.
  """
  import importlib.util  # pylint: disable=g-import-not-at-top
  file_path, _, arg = path.partition(":")
  if not os.path.isfile(file_path):
    raise FileNotFoundError(f"{file_path}: no such config file")
  spec = importlib.util.spec_from_file_location("divcolor_config", file_path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg or None)
  for item in overrides:
    key, _, value = item.partition("=")
    _set_path(config, key, value)
  return config


def _set_path(config, key, text):
  parts = key.split(".")
  node = config
  for part in parts[:-1]:
    node = node[part]
  old = node[parts[-1]]
  if isinstance(old, bool):
    value = text.lower() in ("1", "true", "yes")
  elif isinstance(old, tuple):
    value = tuple(ast.literal_eval(text)) if text.strip() not in ("", "()") else ()
  elif isinstance(old, (int, float)):
    value = type(old)(float(text)) if isinstance(old, int) else float(text)
  else:
    value = text
  node[parts[-1]] = value


def save_resolved(config, workdir, name="config.json"):
  """Writes the resolved config as JSON beside a run's outputs; returns the path."""
  os.makedirs(workdir, exist_ok=True)
  return atomic.write_text(os.path.join(workdir, name),
                           config.to_json(indent=2, sort_keys=True) + "\n")


def load_resolved(workdir, name="config.json"):
  """Reads a config written by :func:`save_resolved` back into a ConfigDict."""
  with open(os.path.join(workdir, name)) as f:
    # JSON has no tuples; configs hold sequences as tuples (what the command line parses).
    return ml_collections.ConfigDict(json.load(f, object_hook=_lists_to_tuples))


def _lists_to_tuples(obj):
  return {k: tuple(v) if isinstance(v, list) else v for k, v in obj.items()}


def lookup(config, dotted, default):
  """``config[a][b]`` for ``dotted`` "a.b" (ConfigDict or plain dict), or ``default``."""
  node = config
  for part in dotted.split("."):
    try:
      node = node[part]
    except (KeyError, TypeError, AttributeError):
      return default
  return node


def field(section, section_name, name):
  """``section[name]``, or :func:`base_config`'s default for it: the one place defaults live.

  Model builders read their config section through this, so a config.json written before a field
  existed (an older workdir) still builds, with the field's default. ``section`` may be a
  ConfigDict or a plain dict (tests pass dicts to bypass ConfigDict's type checks).
  """
  getter = section.get if hasattr(section, "get") else lambda key, d: getattr(section, key, d)
  missing = object()
  value = getter(name, missing)
  if value is missing:
    value = base_config()[section_name][name]
  return value
