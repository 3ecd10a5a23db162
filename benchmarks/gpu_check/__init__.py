"""What ``scripts/gpu_check.sh`` runs on a GPU lease: the figures a first GPU should give, as one JSON.

Four steps, each time-boxed; a step that fails records its error and the next one runs:

- ``throughput``: training images/s of the ``n`` and ``s`` models at 640 px, bf16-mixed then fp32
  (:func:`yololab.tasks.benchmark.train_throughput`), with the loader's own images/s and the peak GPU memory;
- ``fit``: a 2-epoch fit (:func:`yololab.tasks.train.run`, ``trainer=gpu``), then the evaluation of its last
  checkpoint (:func:`yololab.tasks.evaluate.run`): mAP50, mAP50-95, wall time;
- ``ddp``: a short fit with ``trainer=ddp`` on every GPU, through ``scripts/train.py``;
- ``sweep``: K study runs at once on the one GPU (``scripts/sweep.py --jobs K``), K as many as the GPU
  memory of the fit and the CPU cores allow, with their aggregate images/s and runs per hour.

The data is NEU-DET (or any dataset) at ``--data-root``, else the built-in synthetic set. The JSON is
rewritten after every step, so a lease cut short keeps what was measured. ``--tiny`` runs the same steps
on CPU at 64 px on 16 synthetic images (DDP: two gloo processes, ``trainer=ddp_cpu``; K=2): the test
suite's proof that the script still runs.
"""

from benchmarks.gpu_check.plan import GPU, TINY, Plan
from benchmarks.gpu_check.runner import main, run

__all__ = ["GPU", "TINY", "Plan", "main", "run"]
