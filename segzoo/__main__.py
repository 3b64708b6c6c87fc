"""``python -m segzoo``: the ``segzoo`` command (what ``torchrun -m segzoo`` runs in each process)."""

import sys

from segzoo.cli import main

sys.exit(main())
