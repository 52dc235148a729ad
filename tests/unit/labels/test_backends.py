"""Registry and licensed backends: what gets built, versions, missing-file errors, output mappings."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from pdfgc.config import LabelsConfig
from pdfgc.errors import MissingWeightsError, PdfgcError
from pdfgc.labels.backends import deep3d, emoca, gaze
from pdfgc.labels.backends.fan import fan_weights_file
from pdfgc.labels.backends.weights import require_file
from pdfgc.labels.base import FaceLandmarker, Labeler
from pdfgc.labels.expression import EXPRESSION_DIM
from pdfgc.labels.landmarks import DlibLandmarker
from pdfgc.labels.registry import build_labelers, build_landmarker, label_versions


def test_default_config_builds_dlib_and_three_labelers_with_all_label_names():
    cfg = LabelsConfig()
    landmarker = build_landmarker(cfg)
    labelers = build_labelers(cfg)
    assert isinstance(landmarker, DlibLandmarker) and isinstance(landmarker, FaceLandmarker)
    assert all(isinstance(labeler, Labeler) for labeler in labelers)
    specs = {spec.name: spec for labeler in labelers for spec in labeler.specs}
    assert {name: spec.shape for name, spec in specs.items()} == {
        "pose": (6,), "blink": (2,), "gaze": (2,), "expression": (EXPRESSION_DIM,)}


def test_label_versions_name_each_label_and_load_no_licensed_file(tmp_path):
    versions = label_versions(LabelsConfig())
    assert versions["pose"] == "pnp@1" and versions["gaze"] == "landmarks@1"
    assert versions["landmarks"].startswith("dlib@")
    licensed = label_versions(LabelsConfig(pose="deep3d", expression="emoca", weights_dir=str(tmp_path)))
    assert licensed["pose"] == "deep3d@epoch_20" and licensed["expression"] == "emoca@v2_lr_mse_20"


def test_fan_without_its_package_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "face_alignment", None)
    with pytest.raises(MissingWeightsError, match="face-alignment"):
        build_landmarker(LabelsConfig(landmarks="fan"))


def test_fan_file_follows_face_alignment_choice_by_torch_version():
    assert fan_weights_file("2.13.0+cpu") == "2DFAN4-cd938726ad.zip"
    assert fan_weights_file("1.6.0") == "2DFAN4_1.6-c827573f02.zip"


def test_fan_without_weights_names_the_file_and_the_download(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "face_alignment", types.ModuleType("face_alignment"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError) as caught:
        build_landmarker(LabelsConfig(landmarks="fan", weights_dir=str(tmp_path)))
    message = str(caught.value)
    assert "2DFAN4-cd938726ad.zip" in message and "adrianbulat.com" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message


def test_missing_file_error_names_the_file_the_places_and_how_to_get_it(tmp_path):
    with pytest.raises(MissingWeightsError) as caught:
        require_file("any", "model.bin", [tmp_path, None], "download it from X")
    message = str(caught.value)
    assert "model.bin" in message and str(tmp_path) in message and "download it from X" in message


def test_found_file_is_returned(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"x")
    assert require_file("any", "w.pth", [None, tmp_path], "") == tmp_path / "w.pth"


@pytest.mark.parametrize("cfg_update, filename, source", [
    ({"pose": "deep3d"}, "epoch_20.pth", "Deep3DFaceRecon_pytorch"),
    ({"expression": "emoca"}, "generic_model.pkl", "flame.is.tue.mpg.de"),
])
def test_licensed_labelers_without_weights(tmp_path, cfg_update, filename, source):
    with pytest.raises(MissingWeightsError) as caught:
        build_labelers(LabelsConfig(weights_dir=str(tmp_path), **cfg_update))
    assert filename in str(caught.value) and source in str(caught.value)


def test_weights_dir_unset_is_said_plainly():
    with pytest.raises(MissingWeightsError, match="weights_dir is not set"):
        build_labelers(LabelsConfig(pose="deep3d"))


def test_gaze_without_weights(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"gaze_resnet50\.pth.*ETH-XGaze"):
        gaze.LearnedGazeLabeler(str(tmp_path))


def test_emoca_refuses_pickled_assets(tmp_path):
    (tmp_path / emoca.FLAME_FILE).write_bytes(b"\x80")
    checkpoint = tmp_path / emoca.EMOCA_CHECKPOINT_FILE
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"\x80")
    with pytest.raises(PdfgcError, match="unpickling"):
        emoca.EmocaExpressionLabeler(str(tmp_path))


def test_deep3d_coefficients_map_to_our_pose_and_expression():
    coeffs = np.zeros((2, deep3d.COEFF_DIM))
    coeffs[0, 80:144] = np.arange(64)
    coeffs[0, 224:227] = [0.1, -0.2, 0.3]  # pitch, yaw, roll in radians
    coeffs[0, 254:257] = [0.1, -0.2, 0.5]  # decimetres; camera at z = 10
    coeffs[0, :80] = 7.0  # identity must not leak into the labels
    labels = deep3d.coefficients_to_labels(coeffs)
    np.testing.assert_allclose(labels["pose"][0], [5.729578, -11.459156, 17.188734, 10.0, -20.0, 950.0], atol=1e-5)
    np.testing.assert_allclose(labels["pose"][1], [0, 0, 0, 0, 0, 1000.0])
    np.testing.assert_array_equal(labels["expression"][0], np.arange(64))


def test_deep3d_recon_net_has_257_outputs_and_loads_a_weights_only_file(tmp_path):
    import torch

    net = deep3d.ReconNet()
    torch.save({"net_recon": net.state_dict(), "epoch": 20}, tmp_path / "epoch_20.pth")
    loaded = deep3d.load_recon_net(tmp_path / "epoch_20.pth", "cpu")
    with torch.no_grad():
        out = loaded(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, deep3d.COEFF_DIM)
    assert any(k.startswith("backbone.layer4.2.conv3") for k in net.state_dict())


def test_emoca_outputs_map_to_63_values():
    logits = np.log(np.array([[1.0, 3.0, 0, 0, 0, 0, 0, 0]]) + 1e-300)  # probabilities 0.25, 0.75
    posecode = np.array([[9, 9, 9, 0.1, 0.2, 0.3]])
    row = emoca.outputs_to_expression(np.arange(50)[None], posecode, np.array([0.4]), np.array([-0.2]), logits)[0]
    assert row.shape == (emoca.EMOCA_EXPRESSION_DIM,) == (63,)
    np.testing.assert_array_equal(row[:50], np.arange(50))
    np.testing.assert_allclose(row[50:55], [0.1, 0.2, 0.3, 0.4, -0.2])
    np.testing.assert_allclose(row[55:], [0.25, 0.75, 0, 0, 0, 0, 0, 0], atol=1e-12)


def test_eth_xgaze_output_maps_to_our_signs():
    # ETH-XGaze: +pitch looks up, +yaw looks toward image left; ours: +pitch down, +yaw image right.
    np.testing.assert_allclose(gaze.to_project_gaze(np.array([[0.1, -0.2]])), [[11.459156, -5.729578]], atol=1e-5)
