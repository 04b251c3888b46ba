"""The layout of a model directory (WORKDIR), shared by every stage: the one owner of its names.

  WORKDIR/
    config.json               the resolved config (divcolor-train-vae writes it; later stages too)
    stats.npz                 colour statistics: PCA, 313-bin prior, weights (divcolor_tf.data.stats)
    encoder.keras             the VAE encoder Q(z | C)                     divcolor-train-vae
    decoder.keras             the VAE decoder f(z) (f(z, L) for "+skip")   divcolor-train-vae
    checkpoints/ history.csv tensorboard/                                  the VAE's run
    features/features.keras   Zhang et al.'s network with its 313-bin head divcolor-train-features
    features/trunk.keras      conv1..conv7: L -> grey features G          divcolor-train-features
    features/{config.json, checkpoints/, history.csv, tensorboard/}
    mdn/mdn.keras             the MDN: G -> mixture over z                divcolor-train-mdn
    mdn/{config.json, checkpoints/, history.csv, tensorboard/}
    joint/decoder.keras       the decoder and MDN fine-tuned together     divcolor-train-joint
    joint/mdn.keras           on colour error (optional; once both exist they are what the
                              workdir colorizes, evaluates and exports with: ``served``)
    joint/trunk.keras         the trunk, when the joint stage fine-tuned it too (joint.train_trunk)
    joint/{config.json, checkpoints/, history.csv, tensorboard/}
    baselines.npz             photo-blind Table 3 baselines (divcolor_tf.evaluation.blind)
    .lock                     (in each stage's folder) held by the run training that stage (lock)

The paper's baselines train in workdirs of their own (config.json, stats.npz, checkpoints/,
history.csv, tensorboard/ as above, and baselines.npz once evaluated or exported):

    cvae_encoder.keras        the CVAE's encoder Q(z | C, G)              divcolor-train-cvae
    cvae_decoder.keras        its decoder f(z, G)
    generator.keras           the cGAN's U-Net generator G(L)             divcolor-train-cgan
    discriminator.keras       its PatchGAN discriminator D(L, C)

Which method a workdir holds, and which of these files each method needs, is the method
registry's (``divcolor_tf.methods``): config.json records it.

Missing or unreadable files raise one-line errors naming the file and, for a missing stage, the
command that makes it. A stage's folder is locked by the run that trains it (:func:`lock`): a
second run on it ends in one line naming the folder and the process that holds it.
"""

import errno
import os
import shutil
import socket

from absl import logging

from divcolor_tf.config import schema
from divcolor_tf.io import atomic


CONFIG = "config.json"
STATS = "stats.npz"
ENCODER = "encoder.keras"
DECODER = "decoder.keras"
FEATURES_DIR = "features"
FEATURE_NETWORK = os.path.join(FEATURES_DIR, "features.keras")
TRUNK = os.path.join(FEATURES_DIR, "trunk.keras")
MDN_DIR = "mdn"
MDN = os.path.join(MDN_DIR, "mdn.keras")
JOINT_DIR = "joint"
JOINT_DECODER = os.path.join(JOINT_DIR, "decoder.keras")
JOINT_MDN = os.path.join(JOINT_DIR, "mdn.keras")
JOINT_TRUNK = os.path.join(JOINT_DIR, "trunk.keras")
BASELINES = "baselines.npz"
LOCK = ".lock"  # in a stage's folder: the training lock (lock)
CVAE_ENCODER = "cvae_encoder.keras"
CVAE_DECODER = "cvae_decoder.keras"
GENERATOR = "generator.keras"
DISCRIMINATOR = "discriminator.keras"

# The command that writes each file.
MADE_BY = {
    CONFIG: "divcolor-train-vae",
    STATS: "divcolor-train-vae",
    ENCODER: "divcolor-train-vae",
    DECODER: "divcolor-train-vae",
    FEATURE_NETWORK: "divcolor-train-features",
    TRUNK: "divcolor-train-features",
    MDN: "divcolor-train-mdn",
    JOINT_DECODER: "divcolor-train-joint",
    JOINT_MDN: "divcolor-train-joint",
    JOINT_TRUNK: "divcolor-train-joint",
    CVAE_ENCODER: "divcolor-train-cvae",
    CVAE_DECODER: "divcolor-train-cvae",
    GENERATOR: "divcolor-train-cgan",
    DISCRIMINATOR: "divcolor-train-cgan",
}


class MissingStageError(FileNotFoundError):
  """A stage's file is missing; the message names it and the command that makes it."""


class StageFileError(atomic.UnreadableFileError):
  """A stage's file exists but cannot be read (empty, truncated, foreign); one line naming it."""


class WorkdirError(schema.ConfigError):
  """A stage's folder a run cannot train in as it is; str(error) is one line naming the folder.
  A ConfigError, so that every command line ends with that line and exit status 1."""


class WorkdirInUseError(WorkdirError):
  """Another process trains in the folder: the line names the folder and that process's pid."""


class WorkdirFullError(WorkdirError):
  """The folder's disk filled up while a run wrote to it: the line names the folder."""


# The errors of a write that found no room: no space, a user's quota, a file size limit.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def disk_full(error):
  """Whether ``error`` (an OSError, or TensorFlow's error of a failed write) says the disk is
  full."""
  if isinstance(error, OSError):
    return error.errno in DISK_FULL
  return "No space left on device" in str(error) or "Disk quota exceeded" in str(error)


# A write refused: permissions, a read-only file system.
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)

# realpath of each folder this process has locked: the descriptor whose flock holds it.
_LOCKS = {}


def lock(folder):
  """Takes the training lock of a stage's ``folder`` (created when missing) for this process.

  Two runs writing one stage's checkpoints, state.json and history.csv at once corrupt each
  other's resume (one run's rotation removes the checkpoint the other's state.json names), so
  the second run must stop before it writes anything. The lock is an exclusive, non-blocking
  ``flock`` on FOLDER/.lock, in which the holder records its pid and host for the refusal's
  message. The kernel drops a flock when its process ends, however it ends (SIGKILL, a crash):
  a killed run never leaves a stale lock, and no pid is ever checked for liveness. Locking a
  folder this process already holds is a no-op (a notebook training a stage twice);
  :func:`unlock` releases it when the stage ends. Where flock is missing (Windows) or refused
  (some network file systems), the run goes on unlocked, as before locks existed.

  Raises:
    WorkdirInUseError: another process holds the lock (nothing in the folder was changed).
  """
  folder = os.fspath(folder)
  key = os.path.realpath(folder)
  if key in _LOCKS:
    return
  try:
    import fcntl  # pylint: disable=g-import-not-at-top  (POSIX only)
  except ImportError:
    return
  os.makedirs(folder, exist_ok=True)
  file = path(folder, LOCK)
  writable = True
  try:
    fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)  # opened as it is: never truncated here
  except OSError as e:
    if e.errno not in _READ_ONLY:
      logging.warning("%s: cannot be locked (%s); training unlocked", file, e.strerror)
      return
    if not os.path.isfile(file):  # a read-only folder: training would write nothing
      raise WorkdirError(f"{folder}: cannot be written ({e.strerror.lower()}: a read-only "
                         "folder or file system?); make it writable or train in another "
                         "--workdir") from None
    fd, writable = os.open(file, os.O_RDONLY), False  # flock needs no write; the run says more
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = _holder(fd)
    os.close(fd)
    raise WorkdirInUseError(
        f"{folder}: in use by another training run ({holder}, holding {file}); wait for it to "
        "end, or train in another --workdir") from None
  except OSError as e:  # ENOLCK and the like: flock not supported here
    os.close(fd)
    logging.warning("%s: cannot be locked (%s); training unlocked", file, e.strerror)
    return
  if writable:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
  _LOCKS[key] = fd


def _holder(fd):
  """"pid N" (and "on HOST" when it is not this one) of the process that holds a lock file."""
  try:
    pid, _, host = os.pread(fd, 256, 0).decode("utf-8", "replace").strip().partition(" ")
  except OSError:
    pid, host = "", ""
  if not pid.isdigit():  # the holder is between its flock and its write
    return "pid unknown"
  return f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")


def unlock(folder):
  """Releases this process's lock of ``folder`` (:func:`lock`), if it holds one. The file stays:
  removing it would let a run that opened it just before lock an unlinked file."""
  if not folder:  # "": no folder was locked (and realpath would name the current one)
    return
  fd = _LOCKS.pop(os.path.realpath(os.fspath(folder)), None)
  if fd is not None:
    os.close(fd)  # closing the descriptor releases the flock


def path(workdir, name):
  return os.path.join(os.fspath(workdir), name)


def require(workdir, *names, config_hint="CONFIG"):
  """Raises MissingStageError (one line) for the first of ``names`` missing from ``workdir``."""
  workdir = os.fspath(workdir)
  if not os.path.isdir(workdir):
    raise MissingStageError(f"{workdir}: no such model directory")
  for name in names:
    if not os.path.isfile(path(workdir, name)):
      raise MissingStageError(f"{path(workdir, name)}: missing; make it first with "
                              f"`{MADE_BY[name]} --config {config_hint} --workdir {workdir}`")


def in_process_policy(model):
  """``model`` with its mixed-precision layers computing in this process's dtype policy.

  A stage trained under ``train.precision=mixed_bfloat16`` / ``mixed_float16`` saves its .keras
  files with that policy in every layer (the variables are float32 all the same). Loaded as they
  are, they would colorize, evaluate and export in 16 bits, which most CPUs run far slower than
  float32 (docs/training.md, "Precision") and TFLite does not take. So a layer saved under a
  ``mixed_*`` policy takes the process's policy instead (float32 unless a trainer set a mixed one);
  a layer pinned to float32 keeps it. The weights are the file's, unchanged.
  ``model`` itself is returned when no layer needs a change.
  """
  import keras  # pylint: disable=g-import-not-at-top  (this module loads without TensorFlow)
  policy = keras.config.dtype_policy()

  def foreign(layer):
    name = getattr(getattr(layer, "dtype_policy", None), "name", "")
    return name.startswith("mixed_") and name != policy.name

  def layers(m):
    for layer in m.layers:
      yield layer
      if isinstance(layer, keras.Model):
        yield from layers(layer)

  if not any(foreign(layer) for layer in layers(model)):
    return model

  def clone(layer):
    config = layer.get_config()
    if foreign(layer):
      config["dtype"] = policy.name
    return layer.__class__.from_config(config)

  copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
  copy.set_weights(model.get_weights())
  return copy


def load_keras(workdir, name, trainable=None):
  """A .keras model of the workdir, its mixed-precision layers in this process's policy
  (:func:`in_process_policy`); StageFileError (one line) when it exists but cannot be loaded."""
  import keras  # pylint: disable=g-import-not-at-top  (this module loads without TensorFlow)
  from divcolor_tf.models import features, vae  # pylint: disable=g-import-not-at-top,unused-import  (their layers)
  require(workdir, name)
  file = path(workdir, name)
  try:
    model = in_process_policy(keras.models.load_model(file, compile=False))
  except Exception as e:  # pylint: disable=broad-except  (corrupt or foreign file)
    problem = atomic.brief(e, 200)
    raise StageFileError(f"{file}: cannot load ({type(e).__name__}: {problem})") from None
  if trainable is not None:
    model.trainable = trainable
  return model


def load_config(workdir, subdir=""):
  from divcolor_tf import config as config_lib  # pylint: disable=g-import-not-at-top  (the config layer imports this module)
  return config_lib.load_resolved(path(workdir, subdir) if subdir else os.fspath(workdir))


def load_stats(workdir):
  from divcolor_tf.data import stats as stats_lib  # pylint: disable=g-import-not-at-top  (TensorFlow-free, but heavier than this module)
  try:
    return stats_lib.load(path(workdir, STATS))
  except ValueError as e:  # a broken stats.npz is a broken stage file
    raise StageFileError(str(e)) from None


def load_or_compute_stats(config, workdir, train_paths, writable=lambda path: path):
  """The stats file named by the config, the workdir's own, or one computed on the training split
  (and saved as WORKDIR/stats.npz, which every later stage shares; at ``writable(path)``, which a
  multi-worker job's other workers point at a folder of their own: ``training.writable``)."""
  from divcolor_tf.data import stats as stats_lib  # pylint: disable=g-import-not-at-top  (TensorFlow-free, but heavier than this module)
  own = path(workdir, STATS)
  if config.stats.path:
    stats = stats_lib.load(config.stats.path)
    if not os.path.exists(own):
      atomic.write_with(lambda temp: shutil.copyfile(config.stats.path, temp),
                        writable(own))
    return stats
  if os.path.exists(own):
    return stats_lib.load(own)
  logging.info("computing colour statistics over %d training photos", len(train_paths))
  stats = stats_lib.compute(
      train_paths, n_components=config.stats.n_components, prior_sigma=config.stats.prior_sigma,
      uniform_mix=config.stats.uniform_mix, max_images=config.stats.max_images,
      drop_near_grey=config.data.drop_near_grey,
      name=f"the training split of config data.train={config.data.train}")
  stats.save(writable(own))  # a multi-worker job's chief writes the workdir
  return stats


def served(workdir, name):
  """The file a workdir serves for ``name`` (DECODER, MDN or TRUNK): the joint stage's once it has
  written its decoder and MDN (divcolor-train-joint; the trunk only if it fine-tuned that too),
  else the stage's own."""
  joint = {DECODER: JOINT_DECODER, MDN: JOINT_MDN, TRUNK: JOINT_TRUNK}.get(name)
  if (joint and os.path.isfile(path(workdir, joint))
      and all(os.path.isfile(path(workdir, f)) for f in (JOINT_DECODER, JOINT_MDN))):
    return joint
  return name


def load_vae(workdir):
  """(config, encoder, decoder, stats) of a workdir's trained VAE; the decoder is the one the
  workdir serves (``served``: the joint stage's when it has run)."""
  require(workdir, CONFIG, ENCODER, DECODER, STATS)
  return (load_config(workdir), load_keras(workdir, ENCODER),
          load_keras(workdir, served(workdir, DECODER)), load_stats(workdir))
