"""The config schema shared by every dataset config in ``configs/`` (:func:`base_config`), and how
a model builder reads a field with its default (:func:`field`, :func:`lookup`).

Field names follow the paper: ``colour_field`` (64x64 ab/128), ``grey`` (lightness L), ``latent_dim``
(d), loss weights as ``{term}_factor``.
"""

import math

import ml_collections


PAPER = "Deshpande et al., Learning Diverse Image Colorization, CVPR 2017"


DEFAULT_K = 5  # colorizations per photo: the paper's figures show the top-5 means


def base_config():
  """The paper's settings; dataset configs override paths and the few dataset-specific values."""
  c = ml_collections.ConfigDict()
  c.dataset = ""  # name, for logs and file names
  c.method = ""  # set by the trainer: the method its workdir holds (divcolor_tf.methods)
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
  # > 0: a photo's lightness is first squashed to this size, then to grey_size, so that the grey
  # network sees the detail of photos of this size (a trunk trained on 64x64 photos upsampled to
  # 224 misreads sharp 224 photos: docs/quality.md section 25). 0: straight to grey_size.
  c.data.grey_detail = 0
  c.data.drop_near_grey = True  # leave out black-and-white photos (their ab is ~0)
  c.data.near_grey_threshold = 0.0115  # mean chroma (ab/128) of a near-grey photo; data.py
  c.data.max_images = 0  # 0: all
  c.data.shuffle_buffer = 2048
  c.data.cache = False  # cache decoded, resized examples in memory after the first epoch

  # Colour statistics (divcolor_tf.data.stats): PCA of colour fields, prior over the 313 bins.
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
  c.vae.grey_last_relu = False  # "+skip" grey encoder's 4x4 map: C(4,2,d)-B here, C_ReLU in the paper
  c.vae.grey_trunk = ""  # "+skip" grey path: "" (paper) or "efficientnet_lite0" (ImageNet maps added)
  # The VAE stage's schedule and optimizer (:func:`_schedule`) ...
  _schedule(c.vae, epochs=10, batch_size=32, learning_rate=1e-4)
  # ... and its step decay: after each of these (1-based) epochs, the rate times the factor.
  c.vae.lr_decay_epochs = ()
  c.vae.lr_decay_factor = 0.1

  # Decoder loss, Eq. 2-4, and the KL term.
  c.loss = ml_collections.ConfigDict()
  c.loss.hist_factor = 1.0  # L_hist, colourfulness-weighted squared error
  c.loss.mah_factor = 0.1  # L_mah, Mahalanobis distance in the PCA basis
  c.loss.grad_factor = 1e-3  # L_grad, finite-difference gradients
  c.loss.kl_factor = 1e-2  # KL(Q(z|C) || N(0, I)) relative to the decoder loss (arXiv v1: 1e-4)
  c.loss.kl_ramp_epochs = 0  # authors' code: ramp KL weight linearly from 0 over 10 epochs
  c.loss.colourfulness = "stable"  # "stable" (Zhang et al. mix+normalise) or "raw" (1/p)
  c.loss.hist_norm = "squared"  # "squared" (paper Eq. 2) or "sqrt" (authors' non-squared norm)

  # What every stage shares: the seed, precision, devices and checkpoints. Each stage's batch,
  # epochs and optimizer are in its own section (vae, features, mdn, joint, cvae, cgan; MOVED).
  c.train = ml_collections.ConfigDict()
  c.train.seed = 0
  # Keras' dtype policy for every stage: "float32", "mixed_bfloat16" (bf16 compute, float32
  # variables) or "mixed_float16" (float16 compute, dynamic loss scaling); the output layers and
  # the losses stay float32. mixed_precision=True is the older switch for mixed_bfloat16.
  c.train.precision = "float32"
  c.train.mixed_precision = False
  # XLA-compile each trainer's training step (Keras compile(jit_compile=...); validation steps
  # are not). Off: slower on this CPU with oneDNN (bench/train_throughput.py: VAE 0.65x, MDN
  # 0.4-0.75x). The feature trainer's step does not compile (its antialiased target resize,
  # ScaleAndTranslate, has no XLA kernel). XLA draws other noise and dropout masks from the same
  # seeds, so resume a run with the setting it started with.
  c.train.jit_compile = False
  # tf.distribute strategy (docs/training.md): "default" (one device), "mirrored" (num_devices
  # devices of this process, 0: all) or "multi_worker" (the cluster of TF_CONFIG; the chief
  # writes the workdir, which every worker must see). Each stage's batch_size is the global batch.
  c.train.strategy = "default"
  c.train.num_devices = 0
  c.train.cpu_devices = 0  # > 0: split the CPU into this many logical devices (tests, no GPU)
  c.train.cluster_timeout = 300.0  # seconds a multi-worker job waits for every worker to join
  c.train.image_summaries = 8  # reconstructions shown in TensorBoard per epoch
  # Checkpoints inside an epoch as well (every stage): after this many minutes / steps (0: off).
  c.train.checkpoint_minutes = 10.0
  c.train.checkpoint_steps = 0

  # Grey-level feature network (Zhang et al. conv1..conv7) and the MDN, Section 4.
  c.features = ml_collections.ConfigDict()
  c.features.width = 1.0
  _schedule(c.features, epochs=5, batch_size=16, learning_rate=3e-5)
  c.features.soft_k = 5  # soft-encode each pixel's ab over its k nearest bins
  c.features.soft_sigma = 5.0
  # Zhang et al.'s released weights, as the paper used them: an .npz in models/zhang_weights.py's
  # layout (e.g. converted from their PyTorch port), loaded before the first step (width 1.0).
  # With features.epochs=0 the network is kept as released, as the paper froze it.
  c.features.zhang_weights = ""
  # The grey-level network: "zhang" (the paper's: Zhang et al.'s colorization CNN, trained by
  # divcolor-train-features) or "efficientnet_lite0" (ImageNet-pretrained, frozen; the
  # ``pretrained`` extra: not in the paper), read at ``endpoints`` (its strides 2 .. 32; more
  # than one: each pooled to the coarsest and stacked).
  c.features.network = "zhang"
  c.features.endpoints = ("stride_32",)
  c.features.lightness_norm = 1.0  # the network sees (L - 50) / this: 100 for the PyTorch port

  c.mdn = ml_collections.ConfigDict()
  c.mdn.components = 8
  c.mdn.variance = 0.1  # fixed spherical variance sigma^2 of every component
  c.mdn.width = 1.0
  c.mdn.dropout = 0.25  # authors' code: keep 0.75 before both FCs
  _schedule(c.mdn, epochs=5, batch_size=32, learning_rate=1e-4)
  c.mdn.precision = ""  # the MDN's own dtype policy ("": train.precision's)
  c.mdn.mixed_precision = False  # the older switch for mdn.precision="mixed_bfloat16"
  # Compute G and the VAE posterior once per photo and keep them in memory (z is still sampled at
  # every step): the frozen networks then run in the first epoch only. Memory: H*W*c of G per photo.
  c.mdn.cache_features = False

  # The joint stage (divcolor-train-joint, divcolor_tf/trainers/joint.py; NOT in the paper): the MDN
  # and the decoder fine-tuned together on the colour error of the best decoded mean. 0 epochs:
  # no joint stage (the paper's pipeline).
  c.joint = ml_collections.ConfigDict()
  _schedule(c.joint, epochs=0, batch_size=16, learning_rate=5e-5)
  c.joint.weighted = True  # weight each pixel's error by its colourfulness weight (L_hist's)
  c.joint.weight_power = 1.0  # ... raised to this power: 1 L_hist's weights, 0 plain error
  c.joint.train_trunk = False  # also fine-tune the grey feature trunk (written to joint/trunk.keras)
  c.joint.ce_factor = 0.1  # -log pi of the best component: the weights learn which one it is
  c.joint.recon_factor = 1.0  # the decoder still reconstructs the encoder's codes (Table 1)
  c.joint.chroma_factor = 0.0  # |mean chroma of the best mean - the truth's|: against greying
  c.joint.spatial_factor = 0.0  # |spatial variation of the best mean - the truth's|

  # The paper's baselines (Section 5, Table 3): divcolor-train-cvae, divcolor-train-cgan. Each
  # trains in a workdir of its own; at test time ``samples`` draws (codes z ~ N(0, I) for the
  # CVAE, dropout masks for the cGAN) are clustered by k-means into ``clusters`` colorizations,
  # each weighted by its cluster's share of the draws (inference/clustered.py).
  c.cvae = ml_collections.ConfigDict()
  c.cvae.latent_dim = 64  # d, as the VAE's
  c.cvae.width = 1.0  # channel multiplier of the colour encoder, grey encoder and decoder
  c.cvae.grey_last_relu = True  # the paper's C_ReLU(4,2,d) as the grey encoder's last layer
  c.cvae.log_variance_limit = 0.0  # as vae.log_variance_limit (0: unbounded, the paper)
  c.cvae.output_padding = "zero"  # as vae.output_padding
  c.cvae.l2_factor = 1.0  # the paper's loss: L2 (Sohn et al.'s bound) ...
  c.cvae.kl_factor = 1e-2  # ... + KL, weighted as Ours' KL against its decoder loss
  c.cvae.hist_factor = 0.0  # the project's other decoder terms, as switches (losses.py)
  c.cvae.mah_factor = 0.0
  c.cvae.grad_factor = 0.0
  _schedule(c.cvae, epochs=10, batch_size=32, learning_rate=1e-4)  # the paper: 10 epochs each
  c.cvae.samples = 256  # codes drawn per photo at test time
  c.cvae.clusters = 5  # k-means centres kept (the paper's 5 colorizations)

  c.cgan = ml_collections.ConfigDict()
  c.cgan.width = 1.0  # channel multiplier of pix2pix's 64..512 (generator and discriminator)
  c.cgan.dropout = 0.5  # in the generator's first three decoder layers, on at test time
  c.cgan.l1_factor = 100.0  # pix2pix's lambda
  c.cgan.disc_layers = 3  # pix2pix's n_layers_D: 3 = its 70x70 PatchGAN, 1 = its 16x16 one
  c.cgan.jitter_scale = 0.0  # pix2pix's jitter + mirror (trainers/cgan.jitter): 286 / 256; 0 none
  # pix2pix: Adam 2e-4, beta_1 0.5, both networks (trainers/cgan.py: one optimizer each)
  _schedule(c.cgan, epochs=10, batch_size=32, learning_rate=2e-4, beta_1=0.5)
  c.cgan.samples = 256  # dropout masks drawn per photo at test time
  c.cgan.clusters = 5

  c.colorize = ml_collections.ConfigDict()
  c.colorize.k = DEFAULT_K
  return c


# The sections with a stage's schedule and optimizer, and the fields :func:`_schedule` gives each.
STAGES = ("vae", "features", "mdn", "joint", "cvae", "cgan")
SCHEDULE = ("epochs", "batch_size", "steps_per_epoch", "learning_rate", "optimizer", "clipnorm",
            "beta_1")


def _schedule(section, *, epochs, batch_size, learning_rate, beta_1=0.9):
  """Gives a stage's section its schedule and optimizer (:data:`SCHEDULE`), which
  ``training.make_optimizer(section)`` reads."""
  section.epochs = epochs
  section.batch_size = batch_size  # the global batch, on any number of devices
  section.steps_per_epoch = 0  # 0: one pass over the training split
  section.learning_rate = learning_rate
  section.optimizer = "adam"  # or "sgd" (momentum 0.9)
  section.clipnorm = 0.0  # the gradients' global norm clipped to this; 0: no clipping
  section.beta_1 = beta_1  # Adam's (Keras' default 0.9)


# Fields that moved (old dotted name -> new): each stage's batch, epochs and optimizer went to its
# own section. An old config.json is migrated on read (:func:`migrate`); an override or a config
# file that sets an old name is one line saying where it went (:func:`moved_problem`).
MOVED = {f"train.{name}": f"vae.{name}"
         for name in ("batch_size", "epochs", "learning_rate", "optimizer", "lr_decay_epochs",
                      "lr_decay_factor", "clipnorm", "steps_per_epoch")}


def moved_problem(dotted):
  """One line saying where the moved field ``dotted`` (e.g. "train.epochs") went, or None."""
  new = MOVED.get(dotted)
  if new is None:
    return None
  return (f"moved to {new} (each stage's batch, epochs and optimizer are in its own section: "
          f"{', '.join(STAGES)})")


def migrate(values):
  """An older layout's config (a plain dict, as read from a config.json) in the current one, in
  place; returns it. The VAE's schedule moves from train.* to vae.* (:data:`MOVED`; a value
  already in vae.* is kept); the feature network and the CVAE, which took train's optimizer and
  clipnorm, keep them as their own."""
  train = values.get("train")
  if not isinstance(train, dict):
    return values
  old = {name: train.pop(name) for name in list(train) if f"train.{name}" in MOVED}
  if not old:
    return values
  vae = values.setdefault("vae", {})
  for name, value in old.items():
    vae.setdefault(name, value)
  for section in ("features", "cvae"):
    if isinstance(values.get(section), dict):
      for name in ("optimizer", "clipnorm"):
        if name in old:
          values[section].setdefault(name, old[name])
  return values


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


class ConfigError(ValueError):
  """A config value out of its range or of the wrong kind; str(error) is one line naming the field,
  its value and what it must be. Raised by :func:`validate`, before a run writes anything."""


OPTIMIZERS = ("adam", "sgd")  # training.make_optimizer's
STRATEGIES = ("default", "mirrored", "multi_worker")  # training.strategy's (no TensorFlow here)
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
FEATURE_NETWORKS = ("zhang", "efficientnet_lite0")  # models.features' grey-level networks
ENDPOINTS = ("stride_2", "stride_4", "stride_8", "stride_16", "stride_32")  # efficientnet_lite's
GREY_TRUNKS = ("", "efficientnet_lite0")  # models.vae's vae.grey_trunk


def _rule(name):
  """(check, what it must be) for a field named ``name`` in any section, or None."""
  def integer(low):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low,
            f"an integer >= {low}")

  def number(test, what):
    return (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v) and test(v), what)

  if name in ("batch_size", "samples", "clusters", "latent_dim", "components", "field_size",
              "grey_size"):
    return integer(1)
  if name in ("epochs", "steps_per_epoch", "checkpoint_steps", "num_devices", "cpu_devices"):
    return integer(0)
  if name == "strategy":
    return (lambda v: v in STRATEGIES, " or ".join(repr(o) for o in STRATEGIES))
  if name == "precision":
    return (lambda v: v in PRECISIONS + ("",), " or ".join(repr(o) for o in PRECISIONS))
  if name == "width":
    return number(lambda v: v > 0, "a number > 0")
  if name.endswith("dropout") or name in ("val_fraction", "beta_1"):
    return number(lambda v: 0 <= v < 1, "a number in [0, 1)")
  if name.endswith("_factor") or name in ("learning_rate", "checkpoint_minutes", "clipnorm",
                                          "cluster_timeout"):
    return number(lambda v: v >= 0, "a number >= 0")
  if name == "jitter_scale":
    return number(lambda v: v == 0 or v >= 1, "0 (none) or a number >= 1")
  if name == "network":
    return (lambda v: v in FEATURE_NETWORKS, " or ".join(repr(o) for o in FEATURE_NETWORKS))
  if name == "optimizer":
    return (lambda v: v in OPTIMIZERS, " or ".join(repr(o) for o in OPTIMIZERS))
  if name == "endpoints":  # a flag's "stride_16,stride_32" arrives as one name
    return (lambda v: isinstance(v, (tuple, list)) and bool(v) and all(e in ENDPOINTS for e in v),
            f"a tuple of some of {', '.join(ENDPOINTS)}, e.g. "
            "--config.features.endpoints=\"('stride_16','stride_32')\"")
  if name == "grey_trunk":
    return (lambda v: v in GREY_TRUNKS, " or ".join(repr(o) for o in GREY_TRUNKS))
  return None


def validate(config):
  """Checks every field whose name has a rule (batch sizes, epochs, rates, widths, dropouts, loss
  factors, optimizers, ...) in every section; returns ``config``.

  Raises:
    ConfigError: the first field out of range, e.g. "config field vae.batch_size=0: must be an
      integer >= 1", or set under a name that moved (:data:`MOVED`).
  """
  def walk(node, prefix):
    for key in sorted(node.keys()):
      value = node[key]
      dotted = f"{prefix}{key}"
      if hasattr(value, "keys"):
        walk(value, dotted + ".")
        continue
      if dotted in MOVED:  # a config file that sets an old name: it would be ignored
        raise ConfigError(f"config field {dotted}: {moved_problem(dotted)}")
      rule = _rule(key)
      if rule is not None and not rule[0](value):
        raise ConfigError(f"config field {dotted}={value!r}: must be {rule[1]}")
  walk(config, "")
  cgan, train = config.get("cgan"), config.get("train")
  if cgan is not None and train is not None and cgan.get("jitter_scale") \
      and train.get("jit_compile"):  # pix2pix's jitter is tf.image.crop_and_resize
    raise ConfigError(f"config field cgan.jitter_scale={cgan.jitter_scale!r}: not with "
                      "train.jit_compile=True (XLA has no CropAndResize kernel); turn one off")
  if train is not None and train.get("strategy") == "multi_worker" and train.get("jit_compile"):
    raise ConfigError("config field train.jit_compile=True: not with train.strategy=multi_worker "
                      "(its strategy.run loop is not XLA-compiled); turn one off")
  return config
