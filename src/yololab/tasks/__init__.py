"""What the scripts in ``scripts/`` run, one module each: ``train``, ``evaluate``, ``predict``, ``export``, the data
scripts (``check_data``, ``show_augmentations``, ``benchmark_loader``), ``benchmark`` and the GPU-lease
``gpu_check``. They compose the library (the rest of ``yololab``), which never imports them; ``yololab.cli`` holds
the scripts' Hydra entry points."""
