"""A SavedModel in TF Serving's layout (``OUT/<version>/``, ``assets.extra/``): written whole under
a temporary name, then published; its metadata (``export.json``).
"""

import errno
import json
import os
import shutil

from absl import logging
import numpy as np
import tensorflow as tf

import divcolor_tf
from divcolor_tf import config as config_lib
from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.data import stats as stats_lib
from divcolor_tf.export import image_bytes
from divcolor_tf.export import signatures
from divcolor_tf.evaluation import blind
from divcolor_tf.export import weights as weights_lib
from divcolor_tf.inference import colorizer as colorizer_lib
from divcolor_tf.io import atomic


MAX_SHARD_BYTES = 20 * 2**20  # variable files stay under the repository's 25 MB cap
FILE_CAP_BYTES = 25 * 10**6  # the repository's cap on one file: larger exports are warned about
STATS_FILE = "stats.npz"  # the workdir's colour statistics, kept in assets.extra/


def as_colorizer(colorizer_or_workdir, **settings):
  """A colorizer over Keras models (:class:`colorizer_lib.Pipeline`: ours, or a baseline's) from a
  model directory, an export or a colorizer, with ``settings``.

  Args:
    colorizer_or_workdir: a Pipeline, or a model directory / export / "prior:PATH"
      (``colorizer.load_pipeline``).
    **settings: ``gamut`` / ``antialias``; a colorizer whose settings differ is rebuilt over the
      same Keras models.
  """
  if isinstance(colorizer_or_workdir, colorizer_lib.Pipeline):
    return colorizer_or_workdir.with_settings(**settings)
  return colorizer_lib.load_pipeline(colorizer_or_workdir, **settings)


def save_options(max_shard_bytes, whole_tensors=False):
  """Variables sharded at ``max_shard_bytes`` a file: each shard filled to the byte (a tensor
  sliced at its end), or, with ``whole_tensors`` (float16 exports: TF restores no slice of a
  float16 tensor; ``weights.WholeTensorShards``), no tensor sliced."""
  if whole_tensors:
    policy = weights_lib.WholeTensorShards(max_shard_bytes)
  else:
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=int(max_shard_bytes))
  return tf.saved_model.SaveOptions(experimental_sharding_callback=policy)


def export_saved_model(colorizer_or_workdir, out_dir, version=1, overwrite=False,
                       max_shard_bytes=MAX_SHARD_BYTES, weights="float32", encoder=True):
  """Writes the SavedModel ``out_dir/<version>/`` for TF Serving (signatures: module docstring).

  The version folder is written under a temporary name in ``out_dir`` and renamed when complete,
  so a TF Serving instance watching ``out_dir`` never sees half a model.

  Args:
    colorizer_or_workdir: a :class:`colorizer_lib.Colorizer` or a model directory.
    out_dir: the model's base path (TF Serving's ``--model_base_path``).
    version: positive integer version.
    overwrite: replace an existing ``out_dir/<version>``.
    max_shard_bytes: the largest variables file.
    weights: the variables' storage dtype: "float32", or "float16" (half the bytes; the
      signatures cast them to float32 and compute in float32: :mod:`.weights`).
    encoder: keep the VAE encoder (the ``encode`` signature) when the colorizer has it; False
      leaves it and its weights out (evaluation's Table 1 then needs the workdir).

  Returns:
    The version directory's path.

  Raises:
    FileExistsError: one line, when ``out_dir/<version>`` exists and not ``overwrite``.
    ValueError: a version that is not a positive integer, or unknown ``weights``.
  """
  if isinstance(version, bool) or int(version) != version or version < 1:
    raise ValueError(f"version must be a positive integer, got {version!r}")
  if weights not in weights_lib.WEIGHTS:
    raise ValueError(f"weights must be one of {', '.join(weights_lib.WEIGHTS)}, got {weights!r}")
  out_dir = os.fspath(out_dir)
  target = os.path.join(out_dir, str(int(version)))
  if os.path.exists(target) and not overwrite:
    raise FileExistsError(f"{target}: exists; pass overwrite=True (divcolor-export --overwrite) "
                          "to replace it")
  colorizer = as_colorizer(colorizer_or_workdir)
  method = methods.get(colorizer.method)
  if method.models is None:
    raise ValueError(method.why_not_exported)
  baselines = None
  if colorizer.workdir:
    baselines = workdir_baselines(colorizer.workdir, colorizer)
  extra_metadata = {}
  if not encoder:  # recorded even when there was none to leave out
    colorizer = colorizer.without_encoder()
    extra_metadata["encoder"] = False
  endpoints = signatures.Endpoints(colorizer)
  functions = signatures.endpoint_list(colorizer, endpoints)
  if weights == "float16":
    stored = weights_lib.Float16Weights(weights_lib.keras_models(colorizer))
    functions = [(name, stored.wrap(fn), signature) for name, fn, signature in functions]
    extra_metadata["weights"] = weights
  archive = signatures.archive(colorizer, functions)
  os.makedirs(out_dir, exist_ok=True)
  atomic.remove_stale_temps(out_dir)  # partial folders of exports killed midway (SIGKILL)
  # Named and marked as this project's temporary (atomic.temp_path, mark_temp_dir), so that a
  # later export removes it once its process is gone, and never a folder of the user's.
  partial = atomic.temp_path(target)
  os.mkdir(partial)
  try:
    os.chmod(partial, 0o755)  # whatever the umask: a TF Serving user reads the published model
    atomic.mark_temp_dir(partial)
    _write_archive(archive, partial, target, save_options(max_shard_bytes, weights == "float16"))
    _write_extras(os.path.join(partial, "assets.extra"), colorizer, baselines, weights,
                  extra_metadata)
    os.remove(os.path.join(partial, atomic.TEMP_MARKER))  # not published with the model
    atomic.publish_dir(partial, target, overwrite=overwrite)  # exclusive unless overwrite
  finally:
    if os.path.exists(partial):
      shutil.rmtree(partial, ignore_errors=True)
  for name in sorted(os.listdir(os.path.join(target, "variables"))):
    size = os.path.getsize(os.path.join(target, "variables", name))
    if size > max_shard_bytes:
      logging.warning("%s: %d bytes, over the %d-byte shard cap (one variable larger than it?)",
                      os.path.join(target, "variables", name), size, max_shard_bytes)
  logging.info("wrote %s (signatures %s; K=%d; %s weights)", target,
               ", ".join(name for name, _, _ in functions), colorizer.num_components, weights)
  return target


def _write_archive(archive, folder, target, options):
  """``archive`` written into ``folder``; TensorFlow's errors (a full disk: ResourceExhausted, with
  the path of a temporary file) as one line naming ``target``.

  Raises:
    OSError: one line, when TensorFlow cannot write the files.
  """
  try:
    archive.write_out(folder, options=options, verbose=False)
  except tf.errors.OpError as e:
    if not isinstance(e, tf.errors.ResourceExhaustedError):
      raise OSError(f"{target}: cannot be written ({atomic.brief(e, 200)})") from None
    full = OSError(f"{target}: cannot be written: no space left on the disk of "
                   f"{os.path.dirname(target) or '.'}")
    full.errno = errno.ENOSPC  # str(full) stays the one line
    raise full from None


def _write_extras(extra, colorizer, baselines, weights, extra_metadata):
  """assets.extra/ of an export: config.json, the colour statistics (float32 in a float16
  export), the photo-blind baselines and export.json."""
  os.makedirs(extra, exist_ok=True)
  config_lib.save_resolved(colorizer.config, extra)
  if colorizer.workdir and os.path.isfile(os.path.join(colorizer.workdir, STATS_FILE)):
    if weights == "float16":  # float32 statistics: half the file (read back as float64)
      stats_lib.load(os.path.join(colorizer.workdir, STATS_FILE)).save(
          os.path.join(extra, STATS_FILE), float_dtype=np.float32)
    else:
      shutil.copyfile(os.path.join(colorizer.workdir, STATS_FILE),
                      os.path.join(extra, STATS_FILE))
  if baselines is not None:
    blind.save(baselines, os.path.join(extra, blind.FILE))
  with open(os.path.join(extra, "export.json"), "w") as f:
    json.dump(export_metadata(colorizer, **extra_metadata), f, indent=2, sort_keys=True)
    f.write("\n")


def workdir_baselines(workdir, colorizer):
  """The photo-blind baselines of a workdir (fitted now if it has none yet), for assets.extra/."""
  stats = None
  if os.path.isfile(workdir_lib.path(workdir, workdir_lib.STATS)):
    stats = workdir_lib.load_stats(workdir)
  return blind.for_model(workdir, colorizer.config, stats, max_k=colorizer.num_components)


def export_metadata(colorizer, **extra):
  """What a client needs to know about an export (written to assets.extra/export.json).

  ``extra``: what ``export_saved_model`` records of its options when they are not the defaults,
  ``"weights": "float16"`` (the variables' storage dtype; absent: float32) and ``"encoder":
  false`` (the VAE encoder left out; absent: the ``encode`` signature says whether it is there).
  """
  return {
      "divcolor_tf_version": divcolor_tf.__version__,
      "num_components": colorizer.num_components,
      "latent_dim": colorizer.latent_dim,
      "field_size": colorizer.field_size,
      "grey_size": colorizer.grey_size,
      "skip_decoder": colorizer.skip,
      "gamut": colorizer.gamut,
      "antialias": colorizer.antialias,
      "min_size": image_bytes.MIN_SIZE,
      "dataset": colorizer.dataset,
      "method": colorizer.method,
      **extra,
  }
