"""An exported model as Keras models again: evaluation, re-export and fine-tuning from the files
that ship (saved_models/divcolor_lfw), without the training workdir they came from.

An export (``divcolor_tf.export``) holds every weight its signatures use, each variable named by
its Keras path ("dec_conv1/kernel", "conv7_3/bias", "mdn_bn1/moving_mean"; the layers of the
encoder, decoder, feature trunk and MDN have distinct names; float16 values in an export written
with ``--weights float16``, which every reader here casts to the Keras model's float32), and in
``assets.extra/`` the config the model was trained with (``config.json``), its photo-blind
baselines and (exports written since the bundled model's version 3 was re-exported) its colour
statistics (``stats.npz``). An export written with ``--noencoder`` lacks the VAE encoder:
:func:`unpack` writes no encoder.keras, and :func:`workdir_for` refuses it in one line to a tool
that needs it.

* :func:`unpack` rebuilds the Keras models from that config, assigns the exported weights by
  name and writes them in a workdir's layout (``divcolor_tf.workdir``); :func:`workdir_for` does
  so into a temporary folder for tools that take a workdir (``divcolor-evaluate-vae``,
  ``divcolor-export``, ``Colorizer.load``), removed when the process ends.
* :func:`initialize` is ``config.init_from``: before a stage's first step (never on a resume),
  every variable of the stage's models takes the value of the variable of the same name in an
  export or a workdir; variables the source lacks (the feature network's 313-bin head, which no
  export holds) keep their fresh initialisation, and the log says which; not the VAE stage's
  encoder (an export written with ``--noencoder``): the VAE stage refuses such a source in one
  line rather than fine-tune its decoder under a fresh encoder. Shapes must agree (same
  widths, sizes and latent size as the source's config), else a one-line error names the first
  variable that differs.

The names are read from the SavedModel's object graph (``saved_model.pb``) and the values from
its variables checkpoint, so no graph is loaded or traced.
"""

import atexit
import os
import shutil
import tempfile

from absl import logging

from divcolor_tf import config as config_lib
from divcolor_tf import methods
from divcolor_tf import workdir as workdir_lib
from divcolor_tf.io import atomic


EXTRA = "assets.extra"
_ARCHIVE_VARIABLES = "_all_variables"  # keras.export.ExportArchive's list of every variable


def saved_model_dir(path):
  """The version directory of an export at ``path`` (itself when it holds saved_model.pb, else
  the highest numbered version under it, as TF Serving picks), or None when it is not an export."""
  path = os.fspath(path)
  if os.path.isfile(os.path.join(path, "saved_model.pb")):
    return path
  versions = [int(v) for v in (os.listdir(path) if os.path.isdir(path) else [])
              if v.isdigit() and os.path.isfile(os.path.join(path, v, "saved_model.pb"))]
  return os.path.join(path, str(max(versions))) if versions else None


def _saved_model_proto(export_dir):
  """The parsed saved_model.pb of an export (ValueError when it is not one)."""
  from google.protobuf import message  # pylint: disable=g-import-not-at-top  (this module loads without TensorFlow)
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top  (this module loads without TensorFlow)
  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
    try:
      saved.ParseFromString(f.read())
    except message.DecodeError as e:
      raise ValueError(f"not a SavedModel ({e})") from None
  return saved


def has_encoder(export_dir):
  """Whether an export holds the VAE encoder (its ``encode`` signature: an export written with
  ``divcolor-export --noencoder``, from a model directory without encoder.keras, or by a
  baseline has neither the signature nor the encoder's weights).

  Raises:
    atomic.UnreadableFileError: one line (a ValueError), when saved_model.pb cannot be read.
  """
  try:
    return "encode" in _saved_model_proto(export_dir).meta_graphs[0].signature_def
  except (OSError, IndexError, ValueError) as e:
    raise atomic.UnreadableFileError(
        f"{os.path.join(export_dir, 'saved_model.pb')}: cannot read ({atomic.brief(e, 200)})") \
        from None


def export_variables(export_dir):
  """{Keras path: numpy value} of every variable of an export's version directory.

  Raises:
    ValueError: one line, when the SavedModel was not written by ``divcolor_tf.export``.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (this module loads without TensorFlow)
  try:
    graph = _saved_model_proto(export_dir).meta_graphs[0].object_graph_def
    listing = [c.node_id for c in graph.nodes[0].children if c.local_name == _ARCHIVE_VARIABLES]
    if not listing:
      raise ValueError(f"no '{_ARCHIVE_VARIABLES}' list (not written by divcolor-export)")
    reader = tf.train.load_checkpoint(os.path.join(export_dir, "variables", "variables"))
    values = {}
    for child in graph.nodes[listing[0]].children:
      name = graph.nodes[child.node_id].variable.name
      key = f"{_ARCHIVE_VARIABLES}/{child.local_name}/.ATTRIBUTES/VARIABLE_VALUE"
      values[name.split(":")[0]] = reader.get_tensor(key)
  except (OSError, IndexError, ValueError, tf.errors.OpError) as e:
    problem = atomic.brief(e, 200)
    raise ValueError(f"{export_dir}: cannot read the exported weights ({problem})") from None
  return values


def workdir_variables(workdir):
  """{Keras path: numpy value} of every model a workdir serves (VAE, feature network, MDN)."""
  values = {}
  # The trunk before the feature network, whose layers share its paths: a fine-tuned trunk wins.
  for name in (workdir_lib.ENCODER, workdir_lib.DECODER, workdir_lib.TRUNK, workdir_lib.MDN,
               workdir_lib.FEATURE_NETWORK):
    name = workdir_lib.served(workdir, name)  # the joint stage's decoder, MDN and trunk, if any
    if os.path.isfile(workdir_lib.path(workdir, name)):
      for weight in workdir_lib.load_keras(workdir, name).weights:
        values.setdefault(weight.path, weight.numpy())
  return values


def source_variables(source):
  """{Keras path: value} of an export (its base or version directory) or a workdir.

  Raises:
    FileNotFoundError / ValueError: one line naming ``source`` and the problem.
  """
  source = os.fspath(source)
  if not os.path.isdir(source):
    raise FileNotFoundError(f"{source}: no such model (an export or a workdir)")
  export_dir = saved_model_dir(source)
  values = export_variables(export_dir) if export_dir else workdir_variables(source)
  if not values:
    raise ValueError(f"{source}: holds no trained model (neither an export nor a workdir with "
                     ".keras files)")
  return values


def assign(models, values, source):
  """Sets each weight of ``models`` to ``values[weight.path]`` where present.

  Returns:
    (number assigned, list of the paths ``values`` lacks).

  Raises:
    ValueError: one line, for a weight whose shape differs from the source's.
  """
  assigned, missing = 0, []
  for model in models:
    for weight in model.weights:
      value = values.get(weight.path)
      if value is None:
        missing.append(weight.path)
        continue
      if tuple(value.shape) != tuple(weight.shape):
        raise ValueError(
            f"{source}: {weight.path} is {tuple(value.shape)} there but {tuple(weight.shape)} "
            "here; the config's widths, sizes and latent size must be the source's")
      weight.assign(value.astype(weight.dtype))
      assigned += 1
  return assigned, missing


def initialize(models, source, stage, whole=()):
  """``config.init_from``: ``models`` take the weights of ``source`` (an export or a workdir).

  Args:
    whole: models of ``models`` that must not start fresh, not even in part: the VAE stage's
      encoder (a trained decoder under a fresh encoder is no fine-tune of the VAE; an export
      written with ``--noencoder`` lacks it). Other missing weights stay fresh, and are logged.

  Raises:
    ValueError: one line, when no weight of ``models`` is in ``source``, a model of ``whole``
      lacks any, or a shape differs; then no weight is assigned.
  """
  values = source_variables(source)
  if not any(weight.path in values for model in models for weight in model.weights):
    raise ValueError(f"{source}: has none of the {stage} stage's weights (init_from)")
  for model in whole:
    lacking = [weight.path for weight in model.weights if weight.path not in values]
    if lacking:
      raise ValueError(
          f"{source}: holds no {model.name} (first missing: {lacking[0]}; written with "
          f"divcolor-export --noencoder?), and the {stage} stage does not start from part of "
          "the model (init_from): name its model directory, or an export with the encoder")
  assigned, missing = assign(models, values, source)
  layers = sorted({path.split("/")[0] for path in missing})
  logging.info("%s: %d weights initialised from %s%s", stage, assigned, source,
               f"; fresh: {', '.join(layers)}" if layers else "")
  return assigned, missing


def unpack(export_path, workdir):
  """Writes the models of an export into ``workdir`` in a workdir's layout; returns ``workdir``.

  Writes config.json, the models its method's registry record lists (``methods.Method.models``:
  ours decoder.keras, features/trunk.keras, mdn/mdn.keras and encoder.keras when the export has
  the encoder; the CVAE's cvae_decoder.keras and cvae_encoder.keras; the cGAN's generator.keras),
  and the export's stats.npz and baselines.npz if it has them. Nothing is written when the export
  cannot be read.

  Raises:
    FileNotFoundError / ValueError: one line naming the export and the problem.
  """
  export_dir = saved_model_dir(export_path)
  if export_dir is None:
    raise FileNotFoundError(f"{export_path}: not an export (no saved_model.pb in it or in a "
                            "numbered version folder under it)")
  extra = os.path.join(export_dir, EXTRA)
  if not os.path.isfile(os.path.join(extra, workdir_lib.CONFIG)):
    raise FileNotFoundError(f"{os.path.join(extra, workdir_lib.CONFIG)}: missing (exports before "
                            "divcolor_tf 0.2 do not carry their config)")
  config = config_lib.load_resolved(extra)
  method = methods.of_export(export_dir)
  values = export_variables(export_dir)
  outputs = []
  for model, name, required in method.fresh_models(config):
    _, missing = assign([model], values, export_dir)
    if missing and required:
      raise ValueError(f"{export_dir}: lacks {len(missing)} weights of the {method.label} models "
                       f"its config describes (first: {missing[0]})")
    if not missing:  # an optional model (an encoder) is written whole or not at all
      outputs.append((model, name))
  config_lib.save_resolved(config, workdir)
  for model, name in outputs:
    os.makedirs(os.path.dirname(workdir_lib.path(workdir, name)), exist_ok=True)
    atomic.write_with(model.save, workdir_lib.path(workdir, name))
  return _copy_extras(extra, export_dir, workdir)


def _copy_extras(extra, export_dir, workdir):
  """The export's stats.npz and baselines.npz into the unpacked workdir; returns ``workdir``."""
  for name in (workdir_lib.STATS, workdir_lib.BASELINES):
    if os.path.isfile(os.path.join(extra, name)):
      shutil.copyfile(os.path.join(extra, name), workdir_lib.path(workdir, name))
  logging.info("unpacked %s into %s", export_dir, workdir)
  return workdir


_UNPACKED = {}  # export version directory -> its temporary workdir, for this process


def workdir_for(path, need_encoder=False):
  """``path`` itself when it is a workdir; a temporary workdir unpacked from it when it is an
  export (once per process; removed when the process ends).

  Args:
    path: a workdir or an export.
    need_encoder: the caller needs the VAE encoder (``divcolor-evaluate-vae``): an export
      without it is refused before anything is unpacked.

  Raises:
    workdir.MissingStageError: one line naming the export, when ``need_encoder`` and it holds no
      encoder (:func:`has_encoder`).
  """
  path = os.fspath(path)
  export_dir = saved_model_dir(path)
  if export_dir is None:
    return path
  if need_encoder and not has_encoder(export_dir):
    method = methods.of_export(export_dir)
    if not method.vae:  # no VAE at all, whatever it was written with
      raise workdir_lib.MissingStageError(
          f"{export_dir}: an export of the {method.name} baseline, which has no VAE encoder; "
          "this needs a divcolor-train-vae model directory, or an export of one")
    raise workdir_lib.MissingStageError(
        f"{export_dir}: an export without the VAE encoder (no encode signature: written with "
        "divcolor-export --noencoder, or from a model directory without encoder.keras); this "
        "needs the encoder: pass the model directory it was exported from, or an export of it "
        "with the encoder")
  key = os.path.realpath(export_dir)
  if key not in _UNPACKED:
    temp = tempfile.mkdtemp(prefix="divcolor-unpacked-")
    atexit.register(shutil.rmtree, temp, ignore_errors=True)
    try:
      _UNPACKED[key] = unpack(export_dir, temp)
    except BaseException:
      shutil.rmtree(temp, ignore_errors=True)
      raise
  return _UNPACKED[key]

