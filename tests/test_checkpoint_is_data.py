"""A checkpoint's stored config is data: eval, predict and export rebuild the model from its model section alone,
each key checked, its size bounded by the state dict; data, paths, caches and loggers come from the command line,
never from the checkpoint. Each case is a real checkpoint edited as a hostile sender would."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.conftest import compose_config

from yololab.checkpoints import CheckpointError
from yololab.tasks import evaluate, export, predict

REPO = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {"eval": evaluate, "predict": predict, "export": export}


def edited(trained: Path, out: Path, edit) -> Path:
    """A copy of a real checkpoint whose ``yololab`` part ``edit(meta)`` changed in place."""
    ckpt = torch.load(trained, map_location="cpu", weights_only=True)
    edit(ckpt["yololab"])
    torch.save(ckpt, out)
    return out


def last_ckpt(tiny_run) -> Path:
    return tiny_run[2] / "checkpoints" / "last.ckpt"


def entry_config(tmp_path, name: str, ckpt, root: Path, extra=()):
    args = {"eval": ["trainer=cpu", f"data.root={root}", "data.loader.num_workers=0", "data.batch_size=4",
                     "trainer.limit_val_batches=1"],
            "predict": [f"input={root / 'images'}", f"output={tmp_path / 'out'}"],
            "export": [f"output={tmp_path / 'model.onnx'}"]}[name]
    return compose_config(tmp_path, [f"ckpt_path={ckpt}", *args, *extra], config_name=name)


def test_eval_takes_no_dataset_from_the_checkpoint(tiny_run, tmp_path):
    """The stored data section names a synthetic set to write into /victim/planted: eval asks for data.root."""
    planted = tmp_path / "victim" / "planted"

    def plant(meta):
        meta["config"]["data"].update(root=str(planted), synthetic={
            "_target_": "yololab.data.synthetic.SyntheticDefects", "num_train": 4, "num_val": 2, "image_size": 64,
            "seed": 0})

    ckpt = edited(last_ckpt(tiny_run), tmp_path / "shared.ckpt", plant)
    cfg = compose_config(tmp_path, [f"ckpt_path={ckpt}", "trainer=cpu", "data.loader.num_workers=0"],
                         config_name="eval")
    with pytest.raises(ValueError, match=r"data\.root is required: the dataset to evaluate on"):
        evaluate.run(cfg)
    assert not (tmp_path / "victim").exists()


def test_eval_takes_no_cache_folder_from_the_checkpoint(tiny_run, synthetic_root, tmp_path):
    victim = tmp_path / "victim"

    def plant(meta):
        meta["config"]["data"]["cache"]["check_dir"] = str(victim)

    ckpt = edited(last_ckpt(tiny_run), tmp_path / "shared.ckpt", plant)
    metrics = evaluate.run(entry_config(tmp_path, "eval", ckpt, synthetic_root))
    assert metrics["val/loss"] == pytest.approx(tiny_run[1]["val/loss"], rel=1e-5)  # at the trained img_size, 64
    assert not victim.exists()


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_a_logger_in_the_model_section_is_refused(tiny_run, synthetic_root, tmp_path, name):
    victim = tmp_path / "victim"

    def plant(meta):
        meta["config"]["model"]["backbone"]["_args_"] = [{"_target_": "yololab.utils.wandb.wandb_logger",
                                                          "save_dir": str(victim)}]

    ckpt = edited(last_ckpt(tiny_run), tmp_path / "shared.ckpt", plant)
    with pytest.raises(CheckpointError, match=r"shared\.ckpt: refused: its stored config has model\.backbone\._args_: "
                                              r"CSPDarknet takes no argument '_args_'"):
        ENTRY_POINTS[name].run(entry_config(tmp_path, name, ckpt, synthetic_root))
    assert not victim.exists()


@pytest.mark.parametrize(("key", "value", "match"), [
    ("backbone._target_", "yololab.models.heads.ConvHead",
     r"model\.backbone\._target_='yololab\.models\.heads\.ConvHead': it may only name yololab\.models\.backbone"),
    ("backbone._target_", {"_target_": "builtins.dict"}, r"model\.backbone\._target_=\{'_target_': 'builtins\.dict'\}: "
                                                        r"it may only name"),
    ("head.hook", {"_target_": "builtins.open", "file": "x", "mode": "w"},
     r"model\.head\.hook: ConvHead takes no argument 'hook'"),
    ("head.activation", "${oc.decode:'{_target_: builtins.open}'}",
     r"model\.head\.activation=.*not a dotted path to a class"),
    ("head.activation", "yololab.module.YOLODetectorModule", r"model\.head\.activation='yololab\.module\."
     r"YOLODetectorModule': a checkpoint may name a registered activation, a torch\.nn activation class"),
    ("neck.depth_multiple", "1", r"model\.neck\.depth_multiple='1': expected float"),
    ("neck.depth_multiple", 1e9, r"model\.neck\.depth_multiple=1000000000\.0: out of range \[0\.01, 8\]"),
    ("head.reg_max", True, r"model\.head\.reg_max=True: expected int"),
    ("max_detections", -1, r"model\.max_detections=-1: out of range"),
    ("_target_", "yololab.utils.wandb.wandb_logger", r"model\._target_='yololab\.utils\.wandb\.wandb_logger'"),
], ids=["component-swap", "dict-target", "hook", "interpolation", "class-as-activation", "string-number", "depth",
        "bool-int", "range", "module-target"])
def test_each_key_of_the_model_section_is_checked(tiny_run, tmp_path, key, value, match):
    from yololab.module import YOLODetectorModule

    def plant(meta):
        *parents, leaf = key.split(".")
        node = meta["config"]["model"]
        for part in parents:
            node = node[part]
        node[leaf] = value

    ckpt = edited(last_ckpt(tiny_run), tmp_path / "shared.ckpt", plant)
    with pytest.raises(CheckpointError, match=rf"shared\.ckpt: refused: its stored config has {match}"):
        YOLODetectorModule.from_checkpoint(ckpt)


def test_a_torch_activation_class_still_loads(tiny_run, tmp_path):
    """The one dotted path a checkpoint may name: a torch.nn activation class (the weights do not depend on it)."""
    from yololab.module import YOLODetectorModule

    def plant(meta):
        meta["config"]["model"]["head"]["activation"] = "torch.nn.Hardtanh:-2,2"

    module = YOLODetectorModule.from_checkpoint(edited(last_ckpt(tiny_run), tmp_path / "h.ckpt", plant))
    assert sum(isinstance(m, torch.nn.Hardtanh) for m in module.model.head.modules()) > 0


OVERSIZED = """
import json, resource, sys, time
from yololab.checkpoints import CheckpointError
from yololab.module import YOLODetectorModule
vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 1536 * 2**20, resource.RLIM_INFINITY))  # 1.5 GiB more, at most
results = []
for path in sys.argv[1:]:
    start = time.perf_counter()
    try:
        YOLODetectorModule.from_checkpoint(path)
        outcome = "loaded"
    except CheckpointError as err:
        outcome = str(err)
    except BaseException as err:
        outcome = f"{type(err).__name__}: {str(err)[:200]}"
    results.append({"outcome": outcome, "seconds": time.perf_counter() - start})
print(json.dumps(results))
"""


def test_a_model_larger_than_its_weights_is_refused_before_allocating(tiny_run, tmp_path):
    """Sizes out of range, and sizes in range whose tensors the file does not hold (about 5 GB of parameters):
    refused within seconds, in a process that may allocate 1.5 GiB at most."""
    def scaled(width, channels):
        def plant(meta):
            meta["config"]["model"]["backbone"].update(width_multiple=width, max_channels=channels)
        return plant

    paths = [edited(last_ckpt(tiny_run), tmp_path / f"{name}.ckpt", scaled(*size))
             for name, size in {"huge": (64, 10**6), "large": (4, 4096)}.items()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", OVERSIZED, *map(str, paths)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    huge, large = json.loads(proc.stdout.splitlines()[-1])
    assert "model.backbone.width_multiple=64: out of range [0.01, 8]" in huge["outcome"]
    assert "its weights do not fit the model its stored config describes" in large["outcome"], large
    assert "model.backbone.stem.0.weight is [256, 3, 3, 3] in that model, [16, 3, 3, 3] in the file" \
        in large["outcome"]
    assert huge["seconds"] < 3 and large["seconds"] < 5


def test_more_class_names_than_the_head_has_is_one_message(tiny_run, synthetic_root, tmp_path):
    def plant(meta):
        meta["class_names"] = [*meta["class_names"], "seventh"]

    ckpt = edited(last_ckpt(tiny_run), tmp_path / "seven.ckpt", plant)
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "eval.py"), f"ckpt_path={ckpt}",
                           f"data.root={synthetic_root}", "trainer=cpu", f"hydra.run.dir={tmp_path / 'eval'}"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert lines[-1].endswith("its class_names list 7 classes"), lines[-3:]
    assert "seven.ckpt: refused: its weights do not fit the model its stored config describes (6 tensor(s) of " \
           "another shape" in lines[-1]


def relabelled(root: Path, out: Path, names: list[str]) -> Path:
    """A copy of the dataset ``root`` whose data.yaml lists ``names``."""
    shutil.copytree(root, out)
    text = (out / "data.yaml").read_text()
    (out / "data.yaml").write_text(re.sub(r"(?m)^(nc|names):.*$", "", text) + f"nc: {len(names)}\nnames: {names}\n")
    return out


@pytest.mark.parametrize(("names", "why"), [
    (["inclusion", "crazing", "patches", "pitted_surface", "rolled-in_scale", "scratches"],
     r"\(the same classes in another order\)"),
    (["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches", "dent", "rust"],
     r"\(8 classes against 6; not in the checkpoint: \['dent', 'rust'\]\)"),
], ids=["reordered", "eight-classes"])
def test_eval_stops_on_a_dataset_with_other_classes(tiny_run, synthetic_root, tmp_path, names, why):
    root = relabelled(synthetic_root, tmp_path / "data", names)
    cfg = entry_config(tmp_path, "eval", last_ckpt(tiny_run), root)
    with pytest.raises(ValueError, match=rf"data\.root={re.escape(str(root))}: its classes .* are not the "
                                         rf"checkpoint's \['crazing', .*\] {why}; evaluate on the dataset"):
        evaluate.run(cfg)
