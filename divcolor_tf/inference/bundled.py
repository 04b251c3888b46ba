"""The bundled models by name (``load("lfw")``, ``--model lfw``), and what a command line can tell
of a model argument before it imports TensorFlow: whether it names anything at all, and how many
mixture components an export has (from its assets.extra/export.json). No TensorFlow here."""

import os

from divcolor_tf import exported
from divcolor_tf import methods
from divcolor_tf.io import atomic

# The bundled models by name: folders of saved_models/.
BUNDLED = {"lfw": "divcolor_lfw", "imagenet": "divcolor_imagenet"}
SAVED_MODELS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "saved_models")


def named_path(model):
  """What a model argument ("prior:PATH": PATH) names: the path when it exists, else a bundled
  model's folder when it is one's name (installed or not), else None: it names nothing."""
  _, path = methods.split(model)
  if os.path.exists(path):
    return path
  return os.path.join(SAVED_MODELS, BUNDLED[path]) if path in BUNDLED else None


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


def resolve_model(path):
  """The directory a model argument names: a bundled model's name (:data:`BUNDLED`) unless a
  file or folder of that name exists here, otherwise the path as given.

  Raises:
    FileNotFoundError: one line, for a bundled name whose export is not in this checkout.
  """
  path = os.fspath(path)
  if path in BUNDLED and not os.path.exists(path):
    bundled = os.path.join(SAVED_MODELS, BUNDLED[path])
    if not os.path.isdir(bundled):
      raise FileNotFoundError(f"{path}: the bundled model {bundled} is not in this installation")
    return bundled
  return path
