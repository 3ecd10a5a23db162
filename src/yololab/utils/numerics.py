"""``numerics``: which CPU kernels a run's numbers come from.

``native`` (the default) lets torch, oneDNN and MKL pick the fastest kernels this CPU has, so the same command
and seed drift in the last bits between CPU models (the README's Reproducibility section). ``portable`` pins
the choice to code meant to compute the same way on every x86-64 CPU with AVX2: ATen's AVX2 kernels
(``ATEN_CPU_CAPABILITY=avx2``; its AVX-512 kernels sum differently), MKL's conditional numerical
reproducibility (``MKL_CBWR=COMPATIBLE``) and oneDNN off (its JIT kernels follow the CPU; convolutions then take
ATen's own path). Shown on one CPU: the numbers no longer change with the instruction sets the libraries may use
(tests/test_numerics.py); across two CPU models it is checked by ``benchmarks/numerics_check.py``. The variables
must be set before torch's first kernel, so the entry points set them before torch loads (:func:`set_variables`)
and the training task checks that they took (:func:`apply`).
"""

from __future__ import annotations

import os

MODES = ("native", "portable")
PORTABLE_VARIABLES = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}


def set_variables(mode: str) -> None:
    """Before torch loads: the environment variables of ``portable`` (``native`` leaves the environment alone)."""
    if mode == "portable":
        os.environ.update(PORTABLE_VARIABLES)


def apply(mode: str) -> None:
    """With torch loaded: oneDNN on (``native``) or off (``portable``); stop if ``portable``'s kernels did not take."""
    import torch

    from yololab.utils.settings import check

    check("numerics", mode)
    set_variables(mode)  # where no entry point ran (a notebook): still in time if torch has run no kernel yet
    torch.backends.mkldnn.enabled = mode != "portable"
    capability = torch.backends.cpu.get_cpu_capability()
    if mode == "portable" and capability != "AVX2":
        why = ("this CPU has no AVX2" if capability == "DEFAULT" and "avx2" not in cpu_flags()
               else "torch chose its kernels before numerics=portable was read: set ATEN_CPU_CAPABILITY=avx2 "
                    "MKL_CBWR=COMPATIBLE in the environment before starting Python")
        raise ValueError(f"numerics=portable needs ATen's AVX2 kernels, but torch runs its {capability} kernels: "
                         f"{why}")


def cpu_flags() -> set[str]:
    from yololab.utils.environment import cpu_info

    return set(cpu_info()[1])
