"""ONNX export: onnxruntime computes what PyTorch computes, on real images, at any batch size."""

import json

import hydra
import pytest
import torch
from tests.conftest import compose_config

from yololab.data.records import DataError
from yololab.inference import gather_inputs, letterbox_batch, read_images
from yololab.module import YOLODetectorModule
from yololab.nn.activations import REGISTRY, ActivationSpec
from yololab.tasks import export
from yololab.tasks.export import ExportError, Tolerance, check_activation, export_onnx, read_metadata, verify_onnx


@pytest.fixture(scope="module")
def exported(overfit_run, overfit_root, tmp_path_factory):
    """The trained checkpoint exported by ``export.run`` and verified on 3 real images it was trained on."""
    _, _, run_dir = overfit_run
    tmp_path = tmp_path_factory.mktemp("export")
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    overrides = [f"ckpt_path={ckpt}", "verify.num_images=3", f"verify.images={overfit_root / 'images' / 'train'}",
                 f"output={tmp_path / 'last.onnx'}"]
    cfg = compose_config(tmp_path, overrides, config_name="export")
    return export.run(cfg), ckpt, tmp_path


def test_checkpoint_exports_and_matches_pytorch(exported):
    report, _, tmp_path = exported
    assert report["conf"] == 0.25 and report["images"].endswith("images/train")  # the images named
    assert [c["batch_size"] for c in report["checks"]] == [3, 1]  # one file, two batch sizes
    for check in report["checks"]:
        assert check["max_abs_diff"] <= 1e-5 + 1e-5 * check["max_abs_output"] and check["box_max_abs_diff"] <= 1e-2
        assert check["detections"] >= check["batch_size"]  # a trained model: real detections were compared
    assert json.loads((tmp_path / "last.verification.json").read_text()) == report
    meta = read_metadata(tmp_path / "last.onnx")
    assert meta["img_size"] == 160 and len(meta["class_names"]) == 6 and meta["reg_max"] == 16


def test_a_changed_weight_is_caught(exported, overfit_root):
    """The check can fail: the class logits' biases moved by 0.01 in PyTorch alone."""
    _, ckpt, tmp_path = exported
    module = YOLODetectorModule.from_checkpoint(ckpt)
    loaded, _ = read_images(gather_inputs(overfit_root / "images" / "train")[:2])
    batch = letterbox_batch([image for _, image in loaded], 160)
    with torch.no_grad():
        for branch in module.model.head.cls:
            branch[-1].bias += 0.01
    with pytest.raises(ExportError, match=r"raw head maps differ from PyTorch by up to 0\.01"):
        verify_onnx(module, tmp_path / "last.onnx", batch, conf=0.25)
    tol = Tolerance(atol=1.0, rtol=0.0)  # let the maps pass: the detections still differ
    with pytest.raises(ExportError, match="detections differ"):
        verify_onnx(module, tmp_path / "last.onnx", batch, conf=0.25, tol=tol)


def fresh_heads_match(tmp_path, root, overrides):
    """A freshly initialised model, exported; onnxruntime and PyTorch raw maps on real images, batches 3 and 1.
    (Untrained scores saturate at 1.0 and tie, so detections are compared on the trained checkpoint.)"""
    cfg = compose_config(tmp_path, overrides)
    torch.manual_seed(0)
    module = hydra.utils.instantiate(cfg.model, class_names=["a", "b", "c"]).eval()
    path = export_onnx(module.model, tmp_path / "m.onnx", img_size=160)
    loaded, _ = read_images(gather_inputs(root / "images" / "train")[:3])
    batch = letterbox_batch([image for _, image in loaded], 160)
    checks = [verify_onnx(module, path, {k: v[:n] for k, v in batch.items()}, conf=None) for n in (3, 1)]
    assert all(0 < c["max_abs_diff"] <= c["allowed"] == 1e-5 + 1e-5 * c["max_abs_output"] for c in checks)


@pytest.mark.parametrize("head", [
    ["model.head.box_activation=leaky_relu:0.1", "model.head.cls_activation=elu"],
    ["model/head=mlp_selu"],  # SELU, no norm, AlphaDropout
])
def test_head_activations_export_and_match(overfit_root, tmp_path, head):
    fresh_heads_match(tmp_path, overfit_root, head)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["leaky_relu:0.1", "elu", "selu"])
def test_conv_head_activations_export_and_match(overfit_root, tmp_path, activation):
    fresh_heads_match(tmp_path, overfit_root, [f"model.head.activation={activation}"])


def test_unsupported_activation_is_named(tmp_path):
    cfg = compose_config(tmp_path, ["model.head.cls_activation=rrelu"])
    module = hydra.utils.instantiate(cfg.model, class_names=["a"]).eval()
    with pytest.raises(ExportError, match=r"activation 'rrelu:0.125,0.333333' cannot be exported to ONNX"):
        export_onnx(module.model, tmp_path / "m.onnx", img_size=64)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registry_activation_exports_or_is_named(name):
    try:
        check_activation(name)
    except ExportError as err:
        assert repr(str(ActivationSpec.parse(name))) in str(err)
        assert name == "rrelu", str(err)  # the one without an ONNX function in torch 2.14


def test_bad_format_is_named(tmp_path):
    cfg = compose_config(tmp_path, ["ckpt_path=x.ckpt", "format=tflite"], config_name="export")
    with pytest.raises(ValueError, match="format='tflite' is not supported"):
        export.run(cfg)


def test_verification_images_fall_back_to_synthetic(tmp_path, overfit_root):
    images, source = export.verification_images(None, 96, 2)
    assert source == "synthetic" and [i.shape for i in images] == [(96, 96, 3)] * 2
    images, source = export.verification_images(str(overfit_root / "images" / "train" / "*.jpg"), 160, 2)
    assert source.endswith("*.jpg") and len(images) == 2 and images[0].shape == (160, 160, 3)
    (tmp_path / "bad.png").write_bytes(b"x")
    with pytest.raises(DataError, match=r"bad\.png: unreadable image"):
        export.verification_images(str(tmp_path / "bad.png"), 160, 2)
