"""The method registry: each colorization method declared once, and asked by everything else.

A method is a :class:`Method` record in a module of this folder: ours (the paper's VAE + MDN),
the paper's two baselines (cvae, cgan) and prior (the authors' code's "CVAE" row, a test-time
reading of our "+skip" model). The record says, in one place, what the rest of the package needs
to know of the method: the name its workdirs and exports record, the workdir files colorizing
needs, the file that tells an older workdir of it apart, the colorizer (a
:class:`divcolor_tf.inference.contract.Pipeline`) that colorizes with it, the fresh Keras models
an export of it holds, and the signatures and formats it exports to.

``workdir``, the export reader (``exported``), ``inference``, ``export`` and ``evaluation`` ask
:func:`get`, :func:`of_workdir`, :func:`of_export` and :func:`split` and never name a method; a
workdir or export of an unknown method is a one-line ValueError. The colorizer and model
builders are named as ``"module:attribute"`` and imported when first used, as entry points are,
so that reading this registry (the config layer's tools do) loads no TensorFlow.

Adding a method: a module here with its :class:`Method` (and its Pipeline and trainer elsewhere),
listed in :data:`BUILTIN`; docs/architecture.md, "How to add a method".
"""

import dataclasses
import importlib
import os

from divcolor_tf import workdir as workdir_lib
from divcolor_tf.io import atomic

# Every signature a SavedModel may have; a method exports those of its ``endpoints`` it can.
ENDPOINTS = ("serving_default", "colorize_bytes", "decode", "decode_each", "mixture",
             "grey_mixture", "encode")


@dataclasses.dataclass(frozen=True)
class Method:
  """One colorization method, as the rest of the package sees it.

  Attributes:
    name: what a workdir's config.json ("method") and an export's export.json record.
    label: how tables and messages name it.
    section: its own config section (the baselines' samples, clusters, widths and schedule;
      "" for ours, whose settings span vae, features, mdn and joint).
    files: the workdir files colorizing needs (``workdir.MADE_BY`` names their commands).
    marker: a workdir file only this method writes, which tells a workdir that records no method
      apart (None: the default method, a VAE + MDN workdir, finished or not).
    pipeline: "module:Class" of its colorizer; ``Class.load(path, **settings)`` takes a workdir
      or an export.
    models: "module:function", ``function(config)`` -> [(fresh Keras model, workdir file,
      required)]: the models an export of it holds, sized by its config (None: not exportable).
    endpoints: the signatures of its SavedModel (of :data:`ENDPOINTS`; "encode" only when the
      colorizer has an encoder).
    tflite: it exports to TFLite.
    serves_export: an export of it colorizes through its own signatures
      (``saved_model.SavedModelColorizer``) rather than through Keras models rebuilt from it.
    vae: it trains the paper's VAE, whose encoder ``divcolor-evaluate-vae`` reads.
    prefixed: named as "NAME:PATH" (a reading of the model at PATH), never found by its files.
    why_not_exported: the one line that says why, when ``models`` is None.
  """
  name: str
  label: str
  files: tuple
  pipeline: str
  section: str = ""
  marker: str = None
  models: str = None
  endpoints: tuple = ("serving_default", "colorize_bytes")
  tflite: bool = False
  serves_export: bool = False
  vae: bool = False
  prefixed: bool = False
  why_not_exported: str = ""

  def __post_init__(self):
    unknown = set(self.endpoints) - set(ENDPOINTS)
    if unknown:
      raise ValueError(f"method {self.name!r}: unknown endpoints {sorted(unknown)}")
    if self.models is None and not self.why_not_exported:
      raise ValueError(f"method {self.name!r}: not exportable, and why_not_exported says not why")

  def pipeline_class(self):
    """The colorizer class (imported now: it needs TensorFlow)."""
    return _resolve(self.pipeline)

  def load(self, path, **settings):
    """This method's colorizer for a workdir or an export at ``path``."""
    colorizer = self.pipeline_class().load(path, **settings)
    colorizer.method = self.name
    return colorizer

  def fresh_models(self, config):
    """[(fresh Keras model, workdir file, required)] of an export of this method."""
    if self.models is None:
      raise ValueError(self.why_not_exported)
    return _resolve(self.models)(config)


def _resolve(reference):
  module, _, attribute = reference.partition(":")
  target = importlib.import_module(module)
  for part in attribute.split("."):
    target = getattr(target, part)
  return target


# pylint: disable=g-import-not-at-top,wrong-import-position  (the records need Method)
from divcolor_tf.methods import cgan, cvae, ours, prior  # noqa: E402

BUILTIN = (ours.METHOD, cvae.METHOD, cgan.METHOD, prior.METHOD)
DEFAULT = ours.METHOD  # a workdir or export that records no method and has no other's marker
_REGISTRY = {method.name: method for method in BUILTIN}


def register(method):
  """Adds a method (a :class:`Method`) to the registry; its name must be new."""
  if method.name in _REGISTRY:
    raise ValueError(f"method {method.name!r} is registered already")
  _REGISTRY[method.name] = method
  return method


def names():
  return tuple(_REGISTRY)


def get(name, where="method"):
  """The :class:`Method` called ``name``; ValueError (one line naming ``where``) when unknown."""
  if name not in _REGISTRY:
    raise ValueError(f"{where}: unknown method {name!r} (known: {', '.join(_REGISTRY)})")
  return _REGISTRY[name]


def of_workdir(workdir):
  """The method a workdir holds: the one its config.json records (``config.method``, written by
  its trainer), else, for a workdir written before methods were recorded, the method whose
  marker file it has, else :data:`DEFAULT`."""
  config = workdir_lib.path(workdir, workdir_lib.CONFIG)
  if os.path.isfile(config):
    recorded = atomic.read_json(config).get("method", "")
    if recorded:
      return get(recorded, config)
  for method in _REGISTRY.values():
    if method.marker and os.path.isfile(workdir_lib.path(workdir, method.marker)):
      return method
  return DEFAULT


EXPORT_JSON = os.path.join("assets.extra", "export.json")


def of_export(export_dir):
  """The method an export's version directory holds, from its assets.extra/export.json
  (:data:`DEFAULT` for exports that do not say).

  Raises:
    ValueError: one line naming export.json, when it cannot be read or names an unknown method.
  """
  path = os.path.join(export_dir, EXPORT_JSON)
  if not os.path.isfile(path):
    return DEFAULT
  return get(atomic.read_json(path).get("method", DEFAULT.name), path)


def split(argument):
  """(method, path) of a model argument "NAME:PATH" naming a prefixed method (``prior:PATH``);
  (None, argument) for any other."""
  argument = os.fspath(argument)
  name, colon, path = argument.partition(":")
  if colon and name in _REGISTRY and _REGISTRY[name].prefixed:
    return _REGISTRY[name], path
  return None, argument
