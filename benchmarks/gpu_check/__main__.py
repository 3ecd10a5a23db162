"""``python -m benchmarks.gpu_check``: what ``scripts/gpu_check.sh`` runs."""

import sys

from benchmarks.gpu_check.runner import main

sys.exit(main())
