"""``python -m yololab.tasks.gpu_check``: what ``scripts/gpu_check.sh`` runs."""

import sys

from yololab.tasks.gpu_check.runner import main

sys.exit(main())
