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

* :func:`check` refuses an export before it is loaded: one without export.json, or one whose
  graph holds ops outside the allow-lists of what this project's exports run (an export is a
  program; ``--trust_model``, ``trust=True`` loads it all the same).

The names are read from the SavedModel's object graph (``saved_model.pb``) and the values from
its variables checkpoint, so no graph is loaded or traced.
"""

import atexit
import os
import shutil
import sys
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


# ---- Exports are programs: what a SavedModel would run, checked before it is loaded ----
#
# What a SavedModel would run, read from its saved_model.pb before it is loaded: an export is a
# program, not data.
#
# ``tf.saved_model.load`` runs the functions a SavedModel's graph holds, with the rights of the
# process that loads it: a graph may read or write files (``ReadFile``, ``WriteFile``), call back
# into Python (``PyFunc``, ``EagerPyFunc``), open sockets, ... TensorFlow's security guidance says
# so (its SECURITY.md, "Using untrusted models": models are programs; run untrusted ones in a
# sandbox). :func:`check` parses the protobuf (nothing is executed) and refuses, in one line naming
# the ops, a SavedModel whose graph holds an op this project's own exports never use, unless the
# caller says it trusts the model (``--trust_model``, ``trust=True``).
#
# Two lists, gathered from the exports this project writes (:data:`SERVING_OPS`, :data:`SAVER_OPS`):
#
# * every function the loader can call (those the object graph names, the top-level graph's nodes
#   and everything they call, branches and loop bodies included) may hold only :data:`SERVING_OPS`;
# * the saver's functions, which only the session loader's restore (and a save) reach, may also
#   hold :data:`SAVER_OPS` (``SaveV2``, ``MergeV2Checkpoints``, ``RestoreV2``: they write and read
#   checkpoint files). So a signature that calls ``SaveV2`` is refused, though the saver's own may.
#
# What it does not guarantee: an allowed op can still be used against you (``DecodeImage`` on a
# crafted input, a graph that loops or allocates until memory ends: the budget checks are part of
# the graph, and a hand-made graph need not have them), and TensorFlow's own bugs are not checked.
# A model from a source you do not trust is best run in a sandbox, as TensorFlow advises.
#
# Regenerating the lists (after an export starts using a new op; a test exports every kind):
#
#   python -m divcolor_tf.exported saved_models/*/[0-9]* /tmp/tiny_exports/*/1
#
# prints every op of those exports, split as above, to paste below.



# Every op of the functions the loader can call, in the exports of saved_models/ and of every kind
# the tests export (ours with and without the encoder, float16 weights, gamut "clip", no
# antialiasing, "+skip", the pretrained EfficientNet-Lite0 trunk, read at one endpoint or at two
# (AvgPool brings stride 16 to 32: the general model v2); the CVAE and cGAN baselines, float32
# and float16). 2026-12-06, TF 2.21.
SERVING_OPS = frozenset((
    "Abs", "AddV2", "All", "Any", "ArgMax", "ArgMin", "Assert", "AvgPool", "BatchToSpaceND", "BiasAdd",
    "BroadcastTo", "Case", "Cast", "Ceil", "ConcatV2", "Const", "Conv2D", "Conv2DBackpropInput",
    "Cumprod", "DecodeImage", "DecodeRaw", "DepthwiseConv2dNative", "Einsum", "EncodePng",
    "EnsureShape", "Equal", "Exp", "ExpandDims", "ExtractJpegShape", "Fill", "Floor",
    "FloorDiv", "FloorMod", "GatherNd", "GatherV2", "Greater", "GreaterEqual", "Identity", "If",
    "LeakyRelu", "LeftShift", "Less", "LessEqual", "Log", "LogicalAnd", "LogicalNot",
    "LogicalOr", "MatMul", "Maximum", "Mean", "Min", "Minimum", "MirrorPad", "Mul", "Neg",
    "NoOp", "OneHot", "Pack", "Pad", "Placeholder", "Pow", "Prod", "Range", "ReadVariableOp",
    "RealDiv", "Relu", "Relu6", "Reshape", "ResizeBilinear", "ReverseV2", "Round", "Rsqrt",
    "ScaleAndTranslate", "SelectV2", "Shape", "Size", "Softmax", "SpaceToBatchND", "Square",
    "Squeeze", "StatefulPartitionedCall", "StatelessIf", "StatelessRandomGetKeyCounter",
    "StatelessRandomNormalV2", "StatelessRandomUniformFullIntV2", "StatelessRandomUniformV2",
    "StatelessWhile", "StridedSlice", "StringJoin", "StringLength", "Sub", "Substr", "Sum",
    "Tanh", "TensorListConcatV2", "TensorListFromTensor", "TensorListGetItem",
    "TensorListReserve", "TensorListSetItem", "TensorListStack", "TensorScatterUpdate", "Tile",
    "TopKV2", "Transpose", "VarHandleOp", "Where", "While", "ZerosLike",
))
# Ops only the saver's functions (checkpoint save and restore) may hold.
SAVER_OPS = frozenset((
    "AssignVariableOp", "DisableCopyOnRead", "MergeV2Checkpoints", "RestoreV2", "SaveV2",
    "Select", "ShardedFilename", "StaticRegexFullMatch",
))


class UntrustedModelError(ValueError):
  """A SavedModel refused before it is loaded (one line: the file, the ops, the flag)."""


def _calls(nodes, library):
  """The library functions ``nodes`` call: by op name, or through a function attribute (a call's
  ``f``, an If's branches, a While's cond and body, ...)."""
  for node in nodes:
    if node.op in library:
      yield node.op
    for attr in node.attr.values():
      if attr.HasField("func"):
        yield attr.func.name
      yield from (f.name for f in attr.list.func)


def _reach(roots, library):
  """Every function of ``library`` that ``roots`` (names) reach, themselves included."""
  seen, todo = set(), [name for name in roots if name in library]
  while todo:
    name = todo.pop()
    if name not in seen:
      seen.add(name)
      todo.extend(c for c in _calls(library[name].node_def, library) if c not in seen)
  return seen


def graph_ops(export_dir):
  """(ops the loader can run, ops of the saver's functions alone): {op: where} each, for the
  SavedModel in ``export_dir``, read from saved_model.pb without executing anything.

  Raises:
    atomic.UnreadableFileError: one line (a ValueError), when saved_model.pb cannot be parsed.
  """
  pb = os.path.join(export_dir, "saved_model.pb")
  try:
    saved = _saved_model_proto(export_dir)
  except (OSError, ValueError) as e:
    raise atomic.UnreadableFileError(f"{pb}: cannot read ({atomic.brief(e, 200)})") from None
  serving, saver = {}, {}
  for meta in saved.meta_graphs:
    graph = meta.graph_def
    library = {f.signature.name: f for f in graph.library.function}
    saver_nodes = {name.split(":")[0].lstrip("^") for name in (
        meta.saver_def.save_tensor_name, meta.saver_def.restore_op_name) if name}
    top = [node for node in graph.node if node.name not in saver_nodes]
    reached = _reach(list(meta.object_graph_def.concrete_functions) + list(_calls(top, library)),
                     library)
    for node in graph.node:  # the top-level graph's own ops (the saver's call nodes included)
      if node.op not in library:
        serving.setdefault(node.op, "the top-level graph")
    for name, function in sorted(library.items()):
      ops = serving if name in reached else saver
      for node in function.node_def:
        if node.op not in library:
          ops.setdefault(node.op, f"function {name}")
  return serving, saver


def untrusted_ops(export_dir):
  """{op: where} of the ops outside the allow-lists (see above); {} for our exports."""
  serving, saver = graph_ops(export_dir)
  found = {op: where for op, where in serving.items() if op not in SERVING_OPS}
  found.update({op: where for op, where in saver.items()
                if op not in SERVING_OPS | SAVER_OPS and op not in found})
  return found


def check(export_dir, trust=False):
  """Refuses an export before it is loaded: one without assets.extra/export.json (not written by
  divcolor-export), or, unless ``trust``, one whose graph holds ops outside the allow-lists.

  Raises:
    FileNotFoundError: one line, when export.json is missing.
    UntrustedModelError: one line naming saved_model.pb, the ops and the flag that trusts it.
  """
  metadata = os.path.join(export_dir, methods.EXPORT_JSON)
  if not os.path.isfile(metadata):
    raise FileNotFoundError(
        f"{metadata}: missing, so {export_dir} is not an export of divcolor-export (exports "
        "carry it since divcolor_tf 0.2; export the model again)")
  if trust:
    return
  found = untrusted_ops(export_dir)
  if found:
    named = ", ".join(f"{op} (in {where})" for op, where in sorted(found.items())[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    raise UntrustedModelError(
        f"{os.path.join(export_dir, 'saved_model.pb')}: its graph holds ops divcolor's exports "
        f"never use: {named}{more}; a SavedModel is a program that runs with your rights, so it "
        "is not loaded: pass --trust_model (the API: trust=True) only if you trust its source")


def main(argv):
  """Prints the ops of the exports named in ``argv``, split as the two lists are."""
  serving, saver = set(), set()
  for path in argv:
    export_dir = saved_model_dir(path)
    if export_dir is None:
      raise SystemExit(f"{path}: not an export")
    ops, saver_ops = graph_ops(export_dir)
    serving.update(ops)
    saver.update(saver_ops)
  print("SERVING_OPS =", sorted(serving))
  print("SAVER_OPS =", sorted(saver - serving))


if __name__ == "__main__":
  main(sys.argv[1:])
