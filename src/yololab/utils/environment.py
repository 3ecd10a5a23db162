"""What a run's numbers depend on beyond its command and seed: the CPU model, its instruction sets, the math
libraries and the threads.

The same command and seed give the same numbers bit for bit on the same CPU model, library versions and thread
count; on another CPU model, oneDNN and MKL pick other kernels (another instruction set, another summation
order) and the numbers drift (the README's Reproducibility section; ``numerics=portable``:
:mod:`yololab.utils.numerics`). So every training start appends this record to its run folder's
``environment.json``, and a study's ``runs.csv`` shows it per run.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
from pathlib import Path

import torch

# the instruction-set flags kernels are chosen by (prefixes of /proc/cpuinfo flags)
ISA_PREFIXES = ("sse4", "avx", "fma", "f16c", "amx", "vnni", "bmi2")
# environment variables that change which kernels run or how they sum
KERNEL_VARIABLES = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
                    "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_info() -> tuple[str, list[str]]:
    """(model name, flags) from /proc/cpuinfo; the platform's processor string where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), []
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    return (model[1].strip() if model else platform.machine()), (flags[1].split() if flags else [])


def library_versions() -> dict[str, str | None]:
    """oneDNN and MKL versions as torch was built with them (``torch.__config__.show()``)."""
    shown = torch.__config__.show()
    onednn = re.search(r"(?:MKL-DNN|oneDNN) v([\w.]+)", shown)
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", shown)
    return {"onednn": onednn[1] if onednn else None, "mkl": mkl[1] if mkl else None}


def describe() -> dict:
    """This process's record: CPU, instruction sets, libraries, threads and the kernel-choosing variables."""
    model, flags = cpu_info()
    return {
        "cpu_model": model,
        "isa": " ".join(sorted(f for f in flags if f.startswith(ISA_PREFIXES))),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        **library_versions(),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(),
        "variables": {k: os.environ[k] for k in KERNEL_VARIABLES if k in os.environ},
    }


def record(folder: Path) -> dict:
    """Append this start's record (with its UTC time) to ``folder/environment.json``, a list with one entry per
    start of the run (a resume on another machine shows as a second entry); the record is returned."""
    path = Path(folder) / "environment.json"
    entries = json.loads(path.read_text()) if path.is_file() else []
    entry = {"started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), **describe()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([*entries, entry], indent=1))
    return entry
