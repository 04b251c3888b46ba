"""TensorFlow's start-up lines kept off stderr, for the command lines and the Python API alike.

TensorFlow prints lines a user can do nothing about: oneDNN and CPU-feature notes, CUDA stubs
and, on a machine without a GPU, ``E0000 ... cuda_platform.cc:52] failed call to cuInit``, which
reads as a failure. Some are printed before TensorFlow's own logging starts, so no
``TF_CPP_MIN_LOG_LEVEL`` hides them: only a filter on file descriptor 2 does
(:func:`filter_stderr`, which passes every other line on). The command lines filter for their
whole run (``divcolor_tf.bin.cli``); ``dc.load`` only while TensorFlow starts and the model loads
(:func:`tensorflow_start`), and never against a user's own logging settings. No TensorFlow here.
"""

import contextlib
import os
import re
import sys
import threading

# TensorFlow's start-up lines on a CPU machine (TF 2.21), none of which a user can act on.
NOISE = re.compile(
    r"(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|[IWE]\d{4} [\d:.]+ +\d+ (port|cudart_stub|cuda_platform|cuda_executor|cuda_diagnostics"
    r"|cpu_feature_guard|gpu_device)\.cc:\d+\] "
    # oneDNN's fallback notes: DT_UINT8, DT_HALF, DT_INT64, ... "only on platforms with ..."
    r"|[IWE]\d{4} [\d:.]+ +\d+ util\.cc:\d+\] oneDNN supports DT_\w+ only)")

LEVEL = "TF_CPP_MIN_LOG_LEVEL"  # TensorFlow's C++ log threshold, read once when it is imported
VERBOSE = "DIVCOLOR_VERBOSE"  # set (non-empty): every line of TensorFlow's shows, tools and API
_LOCK = threading.Lock()  # one filter at a time: two would restore each other's descriptor
_level_set_here = False  # LEVEL in os.environ is this module's doing, not the user's
_muted = threading.Event()  # set by mute(): the filters pass nothing on from then on


def mute():
  """From now on :func:`filter_stderr`'s filters pass no line on (a tool ending on SIGTERM: the
  traceback that TensorFlow's C++ prints when the signal's SystemExit is raised inside one of its
  calls, while the tool exits 143 in silence). Lines a filter has not read yet are dropped too;
  an unfiltered stderr (``-v``, :data:`VERBOSE`) is not touched."""
  _muted.set()


def filter_stderr(noise=NOISE):
  """Routes file descriptor 2 (Python's and TensorFlow's C++ stderr alike) through a thread that
  drops lines matching ``noise`` and passes every other line on, as it comes.

  Returns:
    (real, restore): a duplicate of the stderr it replaced, and a function that puts it back and
    waits (up to 5 s) until every line written so far has been passed on (True when all was:
    ``real`` may be closed then).
  """
  real = os.dup(2)
  read_end, write_end = os.pipe()
  _flush()
  os.dup2(write_end, 2)
  os.close(write_end)

  def pump():
    with os.fdopen(read_end, "rb") as pipe:
      for line in pipe:
        if not _muted.is_set() and not noise.match(line.decode("utf-8", "replace")):
          os.write(real, line)

  thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
  thread.start()

  def restore():
    _flush()
    os.dup2(real, 2)  # the pipe's last writer closes: the pump reads to the end and stops
    thread.join(timeout=5)
    return not thread.is_alive()  # False: a child process still holds the pipe

  return real, restore


def _flush():
  try:
    sys.stderr.flush()
  except (AttributeError, OSError, ValueError):
    pass


@contextlib.contextmanager
def tensorflow_start(verbose=False):
  """Keeps :data:`NOISE` off stderr while TensorFlow starts inside the block (``dc.load``).

  Unless ``verbose``, :data:`VERBOSE` is set, or the user has set ``TF_CPP_MIN_LOG_LEVEL``
  themselves (then TensorFlow logs as they asked, every line): sets ``TF_CPP_MIN_LOG_LEVEL=2``
  (INFO and WARNING off, e.g. XLA's notes at the first colorization) only when TensorFlow is not
  imported yet, since it reads the variable once at import; and filters file descriptor 2 for the
  block alone, passing every other line on. A program's stderr is its own again after the block.
  """
  global _level_set_here
  if verbose or os.environ.get(VERBOSE) or (LEVEL in os.environ and not _level_set_here):
    yield
    return
  with _LOCK:
    if "tensorflow" not in sys.modules and LEVEL not in os.environ:
      os.environ[LEVEL] = "2"
      _level_set_here = True
    try:
      real, restore = filter_stderr(NOISE)
    except OSError:  # no file descriptor 2 to filter (a detached process): nothing to hide
      real, restore = None, lambda: False
    try:
      yield
    finally:
      if restore():
        os.close(real)
