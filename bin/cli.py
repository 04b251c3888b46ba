"""What every divcolor-* command line shares: ``run``, with a ``--help`` that helps.

absl's own ``--help`` lists the flags of the script's ``__main__`` module; an installed console
script's flags live in ``divcolor_tf.bin.<tool>``, so it listed none, pointed to ``--helpfull``
(about 90 lines of absl's flags) and exited 1. Here ``--help`` / ``-h`` print the tool's
description (its module docstring) and its own flags, and exit 0; ``--helpfull`` is absl's.
"""

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
  app.run(main)  # absl's own run: flags parsed, main(argv) called, exit status set
