"""What the scripts in ``scripts/`` run, one module each: ``train``, ``evaluate``, ``predict``, ``export``, the data
scripts (``check_data``, ``show_augmentations``, ``benchmark_loader``) and ``benchmark`` (the GPU-lease check is
``benchmarks/gpu_check``, outside the library). They compose the library (the rest of ``yololab``), which never
imports them; ``yololab.cli`` holds the scripts' Hydra entry points."""
