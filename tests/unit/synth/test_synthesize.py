import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pdfgc.errors import PdfgcError
from pdfgc.synth.synthesize import audio_windows, gaussian_smooth, load_export, moving_average


def test_audio_window_of_frame_t_is_rows_4t_minus_8_to_4t_plus_12():
    n_frames, n_mels = 6, 3
    mel = np.arange(4 * n_frames * n_mels, dtype=np.float32).reshape(4 * n_frames, n_mels)
    windows = audio_windows(mel, n_frames, window_frames=5)  # (N, 1, n_mels, 20)
    assert windows.shape == (n_frames, 1, n_mels, 20)
    # frame 3: rows [4, 24) of the mel, time on the last axis
    assert torch.equal(windows[3, 0], torch.from_numpy(mel[4:24].T))
    # frame 0: 8 rows of zero padding, then rows [0, 12)
    assert torch.equal(windows[0, 0, :, :8], torch.zeros(n_mels, 8))
    assert torch.equal(windows[0, 0, :, 8:], torch.from_numpy(mel[0:12].T))


def test_gaussian_smooth_uses_normalised_3_tap_kernel():
    features = torch.tensor([[0.0], [3.0], [0.0], [0.0]])
    side = np.exp(-0.5)  # sigma = 1
    weights = np.array([side, 1.0, side]) / (1 + 2 * side)
    smoothed = gaussian_smooth(features, sigma=1.0)
    assert smoothed[1, 0].item() == pytest.approx(3 * weights[1], abs=1e-6)
    assert smoothed[0, 0].item() == pytest.approx(3 * weights[2], abs=1e-6)  # replicate pad: 0 at t=-1
    assert smoothed[3, 0].item() == pytest.approx(0.0, abs=1e-7)


def test_moving_average_over_three_frames():
    features = torch.tensor([[0.0], [3.0], [6.0], [9.0]])
    averaged = moving_average(features, 3)
    assert averaged[:, 0].tolist() == pytest.approx([1.0, 3.0, 6.0, 8.0])


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_load_export_refuses_pickled_objects(tmp_path: Path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": "pdfgc-export/1", "model": _Exploit()}, handle)
    with pytest.raises(PdfgcError, match="not a loadable pdfgc export"):
        load_export(path)


def test_load_export_refuses_other_formats(tmp_path: Path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(PdfgcError, match="not a pdfgc export"):
        load_export(path)
