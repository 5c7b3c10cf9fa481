"""The Wav2Lip lip-sync backend: the published checkpoint's layout, loading, the mel
spectrogram and its windows, and pasting the redrawn mouth into a portrait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from filmkit.errors import GeneratorError
from filmkit.render.wav2lip import (
    LipSync,
    build_wav2lip,
    load_wav2lip,
    mel_chunks,
    mel_spectrogram,
)

TINY = 1 / 16

# Keys and shapes of Rudrabha/Wav2Lip's models/wav2lip.py (its state dict, which the
# published wav2lip.pth / wav2lip_gan.pth hold behind "module.").
PUBLISHED = {
    "face_encoder_blocks.0.0.conv_block.0.weight": (16, 6, 7, 7),
    "face_encoder_blocks.0.0.conv_block.1.running_mean": (16,),
    "face_encoder_blocks.2.3.conv_block.0.weight": (64, 64, 3, 3),
    "face_encoder_blocks.6.1.conv_block.0.weight": (512, 512, 1, 1),
    "audio_encoder.0.conv_block.0.weight": (32, 1, 3, 3),
    "audio_encoder.12.conv_block.0.weight": (512, 512, 1, 1),
    "face_decoder_blocks.0.0.conv_block.0.weight": (512, 512, 1, 1),
    "face_decoder_blocks.1.0.conv_block.0.weight": (1024, 512, 3, 3),  # transposed: in, out
    "face_decoder_blocks.3.0.conv_block.0.weight": (768, 384, 3, 3),
    "face_decoder_blocks.6.2.conv_block.1.running_var": (64,),
    "output_block.0.conv_block.0.weight": (32, 80, 3, 3),
    "output_block.1.weight": (3, 32, 1, 1),
    "output_block.1.bias": (3,),
}
PUBLISHED_PARAMETERS = 36_298_035
PUBLISHED_ENTRIES = 352  # state-dict entries, batch-norm step counters included


def _tiny(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_wav2lip(torch, TINY).eval()


def _save_published(model: torch.nn.Module, path: Path) -> Path:
    """``model`` saved as Wav2Lip's training scripts save a checkpoint."""
    state = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save(
        {
            "state_dict": state,
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
            "global_step": 0,
            "global_epoch": 0,
        },
        path,
        _use_new_zipfile_serialization=False,  # the legacy format torch 1.1 wrote
    )
    return path


def test_full_size_network_has_the_published_layout() -> None:
    with torch.device("meta"):
        model = build_wav2lip(torch, 1.0)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for key, shape in PUBLISHED.items():
        assert shapes[key] == shape, key
    assert len(shapes) == PUBLISHED_ENTRIES
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMETERS
    assert model.width == 1.0


def test_a_checkpoint_saved_like_the_published_one_loads(tmp_path: Path) -> None:
    model = _tiny()
    path = _save_published(model, tmp_path / "wav2lip.pth")
    loaded = load_wav2lip(torch, path, "cpu")
    assert loaded.width == TINY and not loaded.training
    mels = torch.randn(2, 1, 80, 16)
    faces = torch.rand(2, 6, 96, 96)
    with torch.no_grad():
        out = loaded(mels, faces)
        assert out.shape == (2, 3, 96, 96)
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        assert torch.equal(out, model(mels, faces))


def test_a_bare_state_dict_without_step_counters_loads(tmp_path: Path) -> None:
    state = {k: v for k, v in _tiny().state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "bare.pth")
    assert load_wav2lip(torch, tmp_path / "bare.pth", "cpu").width == TINY


def test_other_weights_are_refused_naming_the_file(tmp_path: Path) -> None:
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(3, 3)}}, other)
    with pytest.raises(GeneratorError, match=r"other\.pth: not Wav2Lip weights"):
        load_wav2lip(torch, other, "cpu")

    state = _tiny().state_dict()
    state["output_block.1.weight"] = torch.zeros(3, 5, 1, 1)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(GeneratorError, match=r"odd\.pth: not Wav2Lip weights: unexpected"):
        load_wav2lip(torch, tmp_path / "odd.pth", "cpu")
    del state["extra.weight"]
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(GeneratorError, match=r"odd\.pth: .*output_block\.1\.weight is"):
        load_wav2lip(torch, tmp_path / "odd.pth", "cpu")

    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(GeneratorError, match=r"junk\.pth"):
        load_wav2lip(torch, tmp_path / "junk.pth", "cpu")


def _slaney_mel(hz: float) -> float:
    return hz / (200 / 3) if hz < 1000 else 15 + np.log(hz / 1000) / (np.log(6.4) / 27)


def test_a_sine_peaks_in_its_mel_band() -> None:
    rate, seconds = 22050, 2.0
    t = np.arange(int(rate * seconds)) / rate
    mel = mel_spectrogram(0.5 * np.sin(2 * np.pi * 1000 * t), rate)
    assert mel.shape[0] == 80 and abs(mel.shape[1] - seconds * 80) <= 2
    assert mel.dtype == np.float32
    assert mel.min() >= -4.0 and mel.max() <= 4.0
    # Band centres are evenly spaced in mel between 55 and 7600 Hz.
    centres = np.linspace(_slaney_mel(55), _slaney_mel(7600), 82)[1:-1]
    expected = int(np.argmin(np.abs(centres - _slaney_mel(1000))))
    assert expected == 25
    middle = mel[:, 20:-20]
    assert np.all(np.argmax(middle, axis=0) == expected)
    assert middle[expected].mean() > middle[[0, 79]].mean() + 3.0
    # Silence sits at the floor.
    assert np.all(mel_spectrogram(np.zeros(16000), 16000) == -4.0)


def test_mel_chunks_follow_the_video_frames() -> None:
    mel = np.arange(80 * 200, dtype=np.float32).reshape(80, 200)
    fps = 30.0
    chunks = mel_chunks(mel, fps, 80)
    assert chunks.shape == (80, 1, 80, 16) and chunks.dtype == np.float32
    for i in (0, 1, 7, 50):
        start = int(80 / fps * i)
        assert np.array_equal(chunks[i, 0], mel[:, start : start + 16])
    # Past the end, the last 16 steps.
    assert np.array_equal(chunks[79, 0], mel[:, -16:])


def test_lip_sync_redraws_only_the_lower_half_of_the_face() -> None:
    rng = np.random.default_rng(1)
    portrait = rng.integers(0, 256, (140, 120, 4), dtype=np.uint8)
    box = (30, 20, 94, 100)  # x0, y0, x1, y1: middle at row 60
    t = np.arange(16000) / 16000
    mels = mel_chunks(mel_spectrogram(np.sin(2 * np.pi * 300 * t), 16000), 25.0, 5)
    sync = LipSync(torch, _tiny(), "cpu")
    frames = sync.frames(portrait, box, mels, batch_size=2)
    assert len(frames) == 5
    changed = np.zeros(portrait.shape[:2], bool)
    for frame in frames:
        assert frame.shape == portrait.shape and frame.dtype == np.uint8
        assert np.array_equal(frame[:, :, 3], portrait[:, :, 3])
        changed |= np.any(frame != portrait, axis=2)
    outside = np.ones_like(changed)
    outside[60:100, 30:94] = False
    assert not changed[outside].any()
    assert changed[70:95, 40:84].mean() > 0.9
    # A soft seam: the first rows below the middle change far less than the mouth's.
    first = frames[0].astype(float) - portrait.astype(float)
    assert np.abs(first[60, 40:84]).mean() < 0.25 * np.abs(first[80, 40:84]).mean()
    again = sync.frames(portrait, box, mels, batch_size=2)
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))

    rgb = sync.frames(portrait[:, :, :3].copy(), box, mels[:1])
    assert rgb[0].shape == (140, 120, 3)
    assert np.array_equal(rgb[0], frames[0][:, :, :3])
