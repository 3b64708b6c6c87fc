"""``python -m segzoo.train ...`` (the same as ``segzoo train ...``; what torchrun's ``-m`` launches)."""

import sys

from segzoo.train.cli import main

if __name__ == "__main__":
    sys.exit(main())
