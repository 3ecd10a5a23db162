"""``numerics=portable``: the numbers no longer depend on which instruction set the kernels may use.

Each case trains a small conv + linear network for a few SGD steps in a fresh Python (the kernel choice is fixed
at torch's first kernel), once with the libraries free to use every instruction set of this CPU and once capped
at AVX2 as on a CPU without AVX-512 (``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``,
``ATEN_CPU_CAPABILITY``). Portable gives the same bits both ways; native, on an AVX-512 CPU, does not (the
check can see a difference).
"""

import subprocess
import sys

import pytest

from yololab.utils.environment import cpu_info

STEPS = """
import sys
import torch
from yololab.utils import numerics
numerics.set_variables(sys.argv[1])  # as the entry points do, before torch's first kernel
numerics.apply(sys.argv[1])
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(32, 64, 3, stride=2),
                          torch.nn.LeakyReLU(0.1), torch.nn.Flatten(), torch.nn.Linear(64 * 15 * 15, 10))
torch.manual_seed(0)
net.apply(lambda m: m.reset_parameters() if hasattr(m, "reset_parameters") else None)
opt = torch.optim.SGD(net.parameters(), lr=0.01)
x, y = torch.rand(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)
for _ in range(3):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
print(torch.backends.cpu.get_cpu_capability(), torch.backends.mkldnn.enabled, loss.item().hex(),
      torch.cat([p.detach().flatten() for p in net.parameters()]).double().sum().item().hex())
"""
AVX2_CAPS = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
FLAGS = set(cpu_info()[1])
pytestmark = pytest.mark.skipif("avx2" not in FLAGS, reason="portable numerics need an x86-64 CPU with AVX2")


def train(mode: str, caps: dict[str, str], monkeypatch) -> list[str]:
    for key in (*AVX2_CAPS, "MKL_CBWR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in caps.items():
        monkeypatch.setenv(key, value)
    done = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_portable_numbers_do_not_depend_on_the_instruction_sets_allowed(monkeypatch):
    free, capped = train("portable", {}, monkeypatch), train("portable", AVX2_CAPS, monkeypatch)
    assert free[:2] == capped[:2] == ["AVX2", "False"]  # ATen's AVX2 kernels, oneDNN off
    assert free[2:] == capped[2:]


@pytest.mark.skipif("avx512f" not in FLAGS, reason="native kernels differ only where AVX-512 is there to cap")
def test_native_numbers_do_depend_on_them_here(monkeypatch):
    free, capped = train("native", {}, monkeypatch), train("native", AVX2_CAPS, monkeypatch)
    assert (free[0], capped[0], free[1]) == ("AVX512", "AVX2", "True")
    assert free[2:] != capped[2:]


def test_portable_stops_when_torch_chose_its_kernels_first():
    script = ("import torch; torch.ones(4).exp(); from yololab.utils import numerics\n"
              "try:\n    numerics.apply('portable')\nexcept ValueError as err:\n    print(err)")
    env_free = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                              env={k: v for k, v in __import__("os").environ.items() if k != "ATEN_CPU_CAPABILITY"})
    if "avx512f" in FLAGS:  # the AVX-512 kernels were chosen before the variable was set
        assert "numerics=portable needs ATen's AVX2 kernels, but torch runs its AVX512 kernels" in env_free.stdout
        assert "set ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE in the environment" in env_free.stdout
    else:
        assert env_free.stdout == ""
