"""``python -m handcam``: the ``handcam`` command (``handcam.cli``; ``--help`` lists its flags)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
