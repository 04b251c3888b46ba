"""What every divcolor-* command line shares: ``run``, with a ``--help`` that helps.

absl's own ``--help`` lists the flags of the script's ``__main__`` module; an installed console
script's flags live in ``divcolor_tf.bin.<tool>``, so it listed none, pointed to ``--helpfull``
(about 90 lines of absl's flags) and exited 1. Here ``--help`` / ``-h`` print the tool's
description (its module docstring) and its own flags, and exit 0; ``--helpfull`` is absl's.

Quiet by default: TensorFlow's start-up lines (oneDNN, CUDA stubs, the cuInit error on a machine
without a GPU, CPU-feature notes), which it prints before its own logging starts and so whatever
TF_CPP_MIN_LOG_LEVEL says, are filtered out of stderr (``divcolor_tf.io.quiet``); everything else
passes. absl's INFO logs show only in a trainer's run (its record of epochs and resumes).
``--verbosity=1`` (``-v 1``) or DIVCOLOR_VERBOSE=1 shows them all.

The errors a user can cause or meet without a bug (a training run that went non-finite, a stage
file that is missing or broken, a photo folder that is missing or empty) end the tool with one
line, "<tool>: <problem>" (:func:`error`), and exit status 1, not a traceback;
DIVCOLOR_TRACEBACK=1 shows the traceback instead.

SIGTERM ends a tool as an exception does (:func:`exit_on_sigterm`): its temporaries are removed.
Ctrl-C (SIGINT) too, with one line, "<tool>: interrupted", and exit status 130, not a traceback.
"""

import atexit
import errno
import os
import re
import signal
import sys

from absl import app
from absl import flags

from divcolor_tf.io import quiet


def run(main, module_name, doc):
  """``app.run(main)``, with ``--help`` / ``-h`` answered from ``doc`` and ``module_name``'s flags."""
  if any(arg in ("--help", "-h", "-help", "--h") for arg in sys.argv[1:]):
    print((doc or "").strip())
    print()
    print("Flags:")
    # A trainer's flags are defined here (define_stage_flags), on its behalf.
    helps = (flags.FLAGS.module_help(name) for name in (module_name, __name__))
    print("\n".join(filter(None, helps)))
    print("\n(--helpfull lists absl's flags as well.)")
    sys.exit(0)
  if _verbose(sys.argv[1:]):
    os.environ.setdefault(quiet.VERBOSE, "1")  # dc.load inside the tool: every line too
  else:
    os.environ.setdefault(quiet.LEVEL, "2")
    _filter_stderr(NOISE)
  exit_on_sigterm()
  keep_info = getattr(main, "keeps_info_logs", False)
  try:  # absl's run: flags parsed, main(argv) called, status set
    app.run(_one_line_errors(main), flags_parser=lambda argv: _parse_flags(argv, keep_info))
  except KeyboardInterrupt:  # Ctrl-C: finally blocks have run (temporaries removed); one line
    error(os.path.basename(sys.argv[0]) or "divcolor", "interrupted")
    sys.exit(128 + signal.SIGINT)
  except Exception:  # pylint: disable=broad-except
    if _terminated_by:  # SIGTERM's SystemExit, raised inside a C call, came out as another error
      sys.exit(128 + _terminated_by[0])
    raise


_terminated_by = []  # the signal exit_on_sigterm's handler received, once it has


def exit_on_sigterm():
  """SIGTERM (``kill``, a scheduler's stop) ends the tool as an exception does: ``finally`` blocks
  and atexit handlers run, so the tool's temporaries go with it (an export's partial version
  folder, an export unpacked into $TMPDIR); exit status 143 (128 + SIGTERM), the signal's own.
  A second SIGTERM while they run ends the process at once. The handler's SystemExit can be raised
  inside a call into TensorFlow's C++ (a nest flatten while tracing), which turns it into a
  SystemError and then another error, and may print that error's traceback itself: :func:`run`
  still exits 143 for it, and the tool's filtered stderr passes nothing on after the signal
  (``quiet.mute``). (Only the command lines install it: the library leaves a program's signals
  alone.)"""
  def stop(signum, frame):
    del frame
    signal.signal(signum, signal.SIG_DFL)
    _terminated_by.append(signum)
    quiet.mute()
    raise SystemExit(128 + signum)

  signal.signal(signal.SIGTERM, stop)


def _parse_flags(argv, keep_info=False):
  """absl's flag parsing, with one line for what it reports as a traceback or a bare exception: a
  --config.FIELD override of a field the config does not have, a --config file that is no config
  or whose variant is unknown; then :func:`flag_value_problem`'s checks, before any work.

  absl shows INFO logs unless --verbosity is given; here only with ``keep_info`` (a trainer's
  INFO lines are its record of the run: epochs, learning rate, where it resumed) or -v: a tool's
  successful run prints its result and nothing else.
  """
  prog = os.path.basename(argv[0])
  try:
    parsed = flags.FLAGS(argv)
  except flags.Error as e:  # absl's own: the usage line, as app.run prints it
    error(prog, f"{_config_file_problem(str(e))}; --help lists the flags")
    sys.exit(1)
  except (AttributeError, KeyError) as e:
    missing = str(e).strip("'\"")
    if "get_config" in missing:  # ml_collections loaded a file without get_config()
      config = _flag_value(argv, "--config") or ""
      error(prog, f"--config={config}: not a config file (it defines no get_config(); "
            "configs/*.py are)")
      sys.exit(1)
    flag = next((a.split("=", 1)[0] for a in argv[1:] if a.startswith("--config.")
                 and missing in a.split("=", 1)[0].split(".")), "--config." + missing)
    error(prog, _missing_field_problem(flag, missing))
    sys.exit(1)
  problem = flag_value_problem(flags.FLAGS)
  if problem:
    error(prog, problem)
    sys.exit(1)
  if not keep_info and flags.FLAGS["verbosity"].using_default_value:
    flags.FLAGS.verbosity = -1  # WARNING; absl would raise a default it finds to INFO (0)
  return parsed


def _missing_field_problem(flag, missing):
  """Why ``--config.FIELD`` names no field: it moved (``schema.MOVED``: where it went), or none."""
  from divcolor_tf.config import schema  # pylint: disable=g-import-not-at-top  (no TensorFlow)
  moved = schema.moved_problem(flag.removeprefix("--config."))
  if moved:
    return f"{flag}: {moved.replace('moved to ', 'moved to --config.', 1)}"
  return f"{flag}: no such config field ({missing!r})"


# Flags that name a file or folder: given empty, they name nothing.
PATH_FLAGS = ("workdir", "model", "out", "input", "output", "images", "config")


def flag_value_problem(values):
  """What every tool checks once, right after parsing and before any work, in one line (or None):
  a path flag (:data:`PATH_FLAGS`) given empty; a --config file that did not load; a negative --seed (the draws' seeds are
  non-negative: it would be blamed on every photo)."""
  for name in PATH_FLAGS:
    if name in values and values[name].present:
      value = values[name].value
      if isinstance(value, str) and not value.strip() or (
          isinstance(value, list) and any(not str(v).strip() for v in value)):
        return f"--{name} is empty: it must name a file or folder"
  if "config" in values and type(values["config"].value).__name__ == "_ErrorConfig":
    # ml_collections keeps a config file that did not load (missing, unreadable) as a placeholder
    # that raises a traceback when first used; its error's last line says why.
    lines = str(vars(values["config"].value).get("_error", "")).strip().splitlines()
    why = lines[-1].strip() if lines else "cannot be loaded"
    return f"--config: the config file cannot be loaded ({why})"
  if "seed" in values and values["seed"].value is not None and values["seed"].value < 0:
    return f"--seed must be a non-negative integer, got {values['seed'].value}"
  return None


def _flag_value(argv, name):
  """The value of ``name`` in ``argv`` (``--name=V`` or ``--name V``), or None."""
  for i, arg in enumerate(argv):
    if arg.startswith(name + "="):
      return arg.split("=", 1)[1]
    if arg == name and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _config_file_problem(message):
  """absl's "flag --config=F: Error whilst parsing config file: Traceback ..." as one line: the
  flag and the traceback's last line (e.g. an unknown variant, with the known ones)."""
  head, sep, tail = message.partition(": Error whilst parsing config file:")
  if not sep:
    return message
  lines = [line.strip() for line in tail.splitlines() if line.strip()]
  last = re.sub(r"^[\w.]*(Error|Exception): ", "", lines[-1]) if lines else "cannot be loaded"
  return f"{head.removeprefix('flag ')}: {last}"


# TensorFlow's start-up lines (the API filters the same ones while it loads a model).
NOISE = quiet.NOISE


def _verbose(args):
  if os.environ.get("DIVCOLOR_VERBOSE"):
    return True
  for i, arg in enumerate(args):
    name, _, value = arg.partition("=")
    if name in ("--verbosity", "-v") and not value and i + 1 < len(args):
      value = args[i + 1]
    if name in ("--verbosity", "-v") and value.lstrip("-").isdigit() and int(value) >= 1:
      return True
  return False


def _filter_stderr(noise):
  """Filters stderr (``quiet.filter_stderr``) until the process exits; progress bars, which
  redraw one line, go to the terminal itself."""
  real, restore = quiet.filter_stderr(noise)
  if os.isatty(real):
    from divcolor_tf.io import progress  # pylint: disable=g-import-not-at-top  (no TensorFlow)
    progress.route(os.fdopen(os.dup(real), "w", buffering=1))
  # Where a line must go when the process ends at once (training/strategy.py's watchers).
  os.environ["DIVCOLOR_STDERR_FD"] = str(real)
  atexit.register(restore)


def define_stage_flags(variants, workdir_help):
  """The flags of every trainer's command line: --config (with its :variants), --workdir and
  --verbose, the first two required."""
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  config_flags.DEFINE_config_file(
      "config", None, f"Config file (configs/*.py[:{variants}]); any field is set with "
      "--config.FIELD=VALUE. Devices and machines (docs/training.md): "
      "--config.train.strategy=default|mirrored|multi_worker (multi_worker: the cluster of "
      "TF_CONFIG), --config.train.num_devices=N (mirrored; 0: all), "
      "--config.train.cpu_devices=N (split the CPU into N devices), "
      "--config.train.cluster_timeout=SECONDS, "
      "--config.train.precision=float32|mixed_bfloat16|mixed_float16. Each stage's batch, "
      "epochs and optimizer are in its own section (--config.vae.epochs, "
      "--config.mdn.batch_size, ...); its batch_size is the global batch.", lock_config=True)
  flags.DEFINE_string("workdir", None, workdir_help)
  flags.DEFINE_integer("verbose", 1, "Keras progress: 1 = progress bar, 2 = one line per epoch.")
  flags.mark_flags_as_required(["config", "workdir"])


def stage_main(module, config_hint=False):
  """The ``main`` of a trainer's command line: ``divcolor_tf.<module>.train`` on the flags of
  :func:`define_stage_flags` (with the config as typed, for missing-stage messages, when
  ``config_hint``). Its errors are :func:`run`'s one-line ones (a missing stage: the file and the
  command that makes it)."""
  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import importlib  # pylint: disable=g-import-not-at-top
    from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
    trainer = importlib.import_module(f"divcolor_tf.{module}")
    kwargs = {"verbose": flags.FLAGS.verbose}
    if config_hint:  # as typed, with its :variant
      kwargs["config_hint"] = config_flags.get_config_filename(flags.FLAGS["config"])
    trainer.train(flags.FLAGS.config, flags.FLAGS.workdir, **kwargs)

  main.keeps_info_logs = True  # run(): its INFO lines are the training's record
  return main


def output_file_problem(path, overwrite, flag):
  """Why the file ``path`` that ``flag`` names cannot be written, in one line, or None: it is a
  folder, it exists and not ``overwrite``, or its folder is missing, a file or not writable.
  A tool asks before its work starts, not after. (No TensorFlow here.)"""
  if os.path.isdir(path):
    return f"{path}: {flag} names a folder, not a file"
  if os.path.lexists(path) and not overwrite:
    return f"{path}: exists; pass --overwrite to replace it"
  folder = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(folder):
    why = "is not a folder" if os.path.lexists(folder) else "does not exist"
    return f"{path}: {flag}'s folder {folder} {why}"
  if not os.access(folder, os.W_OK | os.X_OK):
    return f"{path}: {flag}'s folder {folder} is not writable"
  return None


def k_problem(k, components, what="the mixture's components; a baseline's clusters"):
  """--k against a mixture of ``components`` (None: not known before the model is loaded, only
  k >= 1 is checked), in one line naming ``what`` the bound counts, or None."""
  if 1 <= k <= (components or k):
    return None
  if components is None:
    return f"--k must be >= 1, got {k}"
  return f"--k must be in [1, {components}] ({what}), got {k}"


def models_and_k_problem(models, k):
  """What a tool checks of its --model arguments and --k (None: not used) before TensorFlow
  loads, in one line, or None: each names a model (a bundled name or a path), and --k fits the
  smallest mixture among those whose export.json records it. (No TensorFlow here.)"""
  from divcolor_tf.inference import bundled  # pylint: disable=g-import-not-at-top  (no TensorFlow)
  for model in models:
    problem = bundled.model_problem(model)
    if problem:
      return problem
  if k is None:
    return None
  known = [c for c in map(bundled.export_components, models) if c is not None]
  return k_problem(k, min(known) if known else None)


def one_line(prog, message):
  """"<prog>: <message>" on one line (the message's line breaks and runs of spaces folded)."""
  return f"{prog}: {' '.join(str(message).split())}"


def error(prog, message):
  """Prints :func:`one_line` to stderr: how every tool reports a problem."""
  print(one_line(prog, message), file=sys.stderr)


def _one_line_errors(main):
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top  (no TensorFlow)
  from divcolor_tf.config import schema  # pylint: disable=g-import-not-at-top  (no TensorFlow)
  from divcolor_tf.io import atomic  # pylint: disable=g-import-not-at-top  (no TensorFlow)
  # workdir.StageFileError is an UnreadableFileError.
  expected = (FloatingPointError, FileNotFoundError, atomic.UnreadableFileError, data.DataPathError,
              schema.ConfigError)

  def guarded(argv):
    try:
      return main(argv)
    except app.UsageError as problem:  # absl would print "USAGE: prog [flags]" above it
      if os.environ.get("DIVCOLOR_TRACEBACK"):
        raise
      error(os.path.basename(sys.argv[0]) or "divcolor", f"{problem}; --help lists the flags")
      sys.exit(problem.exitcode or 1)
    except expected as problem:
      if os.environ.get("DIVCOLOR_TRACEBACK"):
        raise
      prog = os.path.basename(sys.argv[0]) or "divcolor"
      error(prog, problem)
      sys.exit(1)
    except OSError as problem:  # a file the system refused (read-only, too long a name, ...)
      if problem.filename is None or os.environ.get("DIVCOLOR_TRACEBACK"):
        raise
      error(os.path.basename(sys.argv[0]) or "divcolor", os_error_problem(problem))
      sys.exit(1)

  return guarded


# What a tool cannot write where it was asked to: a read-only folder or file system.
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def os_error_problem(problem):
  """An OSError about a file as one line: "<file>: <what the system said>", and for a refused
  write where that comes from (issue 47, row 14: a resume in a read-only workdir)."""
  why = (problem.strerror or type(problem).__name__).lower()
  if problem.errno in _NOT_WRITABLE:
    why += " (a read-only folder or file system?)"
  return f"{os.fsdecode(problem.filename)}: {why}"
