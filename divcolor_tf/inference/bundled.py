"""The bundled models by name (``load("lfw")``, ``--model lfw``), and what a command line can tell
of a model argument before it imports TensorFlow: whether it names anything at all, and how many
mixture components an export has (from its assets.extra/export.json). No TensorFlow here."""

import os

from absl import logging

from divcolor_tf import exported
from divcolor_tf import methods
from divcolor_tf.io import atomic

# The bundled models by name: folders of saved_models/.
BUNDLED = {"lfw": "divcolor_lfw", "imagenet": "divcolor_imagenet"}
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where they are: inside the package in an installed wheel (setup.py copies each one's newest
# version there), else the clone's saved_models/ (an editable install, or running from a clone).
_INSTALLED = os.path.join(_PACKAGE, "saved_models")
SAVED_MODELS = (_INSTALLED if os.path.isdir(_INSTALLED)
                else os.path.join(os.path.dirname(_PACKAGE), "saved_models"))


def named_path(model):
  """What a model argument ("prior:PATH": PATH) names: a bundled model's folder when it is one's
  name (installed or not; a folder of that name here is ``./NAME``), else the path when it
  exists, else None: it names nothing."""
  _, path = methods.split(model)
  if path in BUNDLED:
    return os.path.join(SAVED_MODELS, BUNDLED[path])
  return path if os.path.exists(path) else None


def model_problem(model, flag="--model"):
  """Why a model argument cannot be a model, in one line, or None (a path or a bundled name; what
  the path holds is for the loader to say)."""
  if named_path(model) is None:
    return (f"{flag} {model}: neither a bundled model ({', '.join(sorted(BUNDLED))}) nor an "
            "existing path")
  return None


def export_components(model):
  """The mixture components (a baseline's: clusters) of the export a model argument names, as its
  export.json records them; None for anything else (a workdir, "prior:", an export that does not
  say or cannot be read: the loader finds out, and reports a damaged file)."""
  path = named_path(model)
  if path is None or methods.split(model)[0] is not None:  # "prior:PATH" reads another's model
    return None
  export_dir = exported.saved_model_dir(path)
  if not export_dir:
    return None
  try:
    components = atomic.read_json(os.path.join(export_dir, methods.EXPORT_JSON)).get(
        "num_components")
  except (OSError, atomic.UnreadableFileError):
    return None
  return components if isinstance(components, int) and components > 0 else None


_SHADOWS_TOLD = set()  # bundled names whose same-named folder here was pointed out already


def shadow_note(name):
  """One line when a file or folder here has a bundled model's ``name`` (a photo folder ``lfw/``
  beside a run): which one the name means, and how to name the other; else None."""
  if name not in BUNDLED or not os.path.lexists(name):
    return None
  kind = "folder" if os.path.isdir(name) else "file"
  return (f"{name}: the bundled model ({BUNDLED[name]}), not the {kind} {name} here; that one is "
          f"./{name}")


def resolve_model(path):
  """The directory a model argument names: a bundled model's name (:data:`BUNDLED`) always means
  the bundled model, even beside a file or folder of that name (named ``./NAME`` instead; a
  warning line says so, once a process); otherwise the path as given.

  Raises:
    FileNotFoundError: one line, for a bundled name whose export is not in this checkout.
  """
  path = os.fspath(path)
  if path in BUNDLED:
    note = shadow_note(path)
    if note and path not in _SHADOWS_TOLD:
      _SHADOWS_TOLD.add(path)
      logging.warning("%s", note)
    bundled = os.path.join(SAVED_MODELS, BUNDLED[path])
    if not os.path.isdir(bundled):
      raise FileNotFoundError(
          f"{path}: the bundled model {BUNDLED[path]} is not in this installation ({bundled}); "
          "install divcolor_tf from a clone of its repository, whose saved_models/ holds it "
          "(pip install CLONE builds a wheel that carries it, pip install -e CLONE reads it "
          "there), or name an exported model's folder instead")
    return bundled
  return path
