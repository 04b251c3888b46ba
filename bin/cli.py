"""What every divcolor-* command line shares: ``run``, with a ``--help`` that helps.

absl's own ``--help`` lists the flags of the script's ``__main__`` module; an installed console
script's flags live in ``divcolor_tf.bin.<tool>``, so it listed none, pointed to ``--helpfull``
(about 90 lines of absl's flags) and exited 1. Here ``--help`` / ``-h`` print the tool's
description (its module docstring) and its own flags, and exit 0; ``--helpfull`` is absl's.

The errors a user can cause or meet without a bug (a training run that went non-finite, a stage
file that is missing or broken) end the tool with one line, "<tool>: <problem>", and exit
status 1, not a traceback; DIVCOLOR_TRACEBACK=1 shows the traceback instead.
"""

import os
import sys

from absl import app
from absl import flags


def run(main, module_name, doc):
  """``app.run(main)``, with ``--help`` / ``-h`` answered from ``doc`` and ``module_name``'s flags."""
  if any(arg in ("--help", "-h", "-help", "--h") for arg in sys.argv[1:]):
    print((doc or "").strip())
    print()
    print("Flags:")
    print(flags.FLAGS.module_help(module_name))
    print("\n(--helpfull lists absl's flags as well.)")
    sys.exit(0)
  app.run(_one_line_errors(main))  # absl's run: flags parsed, main(argv) called, status set


def _one_line_errors(main):
  from divcolor_tf import workdir  # pylint: disable=g-import-not-at-top  (no TensorFlow)
  expected = (FloatingPointError, FileNotFoundError, workdir.StageFileError)

  def guarded(argv):
    try:
      return main(argv)
    except expected as error:
      if os.environ.get("DIVCOLOR_TRACEBACK"):
        raise
      prog = os.path.basename(sys.argv[0]) or "divcolor"
      print(f"{prog}: {' '.join(str(error).split())}", file=sys.stderr)
      sys.exit(1)

  return guarded
