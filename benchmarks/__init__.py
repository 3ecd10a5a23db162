"""Measurements that are not the library: the GPU-lease check (``gpu_check``, run by ``scripts/gpu_check.sh``).

Outside ``src/yololab/`` so that a fork inherits none of it; run from the repository root (``python -m
benchmarks.gpu_check``), tested in its tiny CPU mode by ``tests/test_gpu_check.py``.
"""
