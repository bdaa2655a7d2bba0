#!/usr/bin/env python3
"""handcam: `python main.py --help` for the options. Argument handling lives in handcam.cli."""
import sys

from handcam.cli import main

if __name__ == "__main__":
    sys.exit(main())
