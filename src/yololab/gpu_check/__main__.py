"""``python -m yololab.gpu_check``: what ``scripts/gpu_check.sh`` runs."""

import sys

from yololab.gpu_check.runner import main

sys.exit(main())
