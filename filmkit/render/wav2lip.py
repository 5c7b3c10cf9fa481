"""Lip sync by Wav2Lip, a neural network, from a checkpoint the user downloaded.

Wav2Lip (Prajwal, Mukhopadhyay, Namboodiri and Jawahar, "A Lip Sync Expert Is All You Need
for Speech to Lip Generation In the Wild", ACM Multimedia 2020; github.com/Rudrabha/Wav2Lip)
redraws the lower half of a 96x96 face so that its mouth speaks 0.2 s of audio. It sees six
channels, the face with its lower half blacked out and the face whole (the reference for who
it is), and 16 steps of an 80-band mel spectrogram. A face encoder of seven blocks reduces the
face to 1x1, an audio encoder reduces the mel window to a 512-vector, and a decoder of seven
blocks (each joined by a skip connection to its encoder block) grows the face back; a last
block gives three channels through a sigmoid.

This module holds that generator written anew in plain torch, with the module and parameter
names of the published checkpoints (``wav2lip.pth`` and ``wav2lip_gan.pth``: a dict of
``state_dict``, ``optimizer``, ``global_step`` and ``global_epoch`` whose keys read
``module.face_encoder_blocks.0.0.conv_block.0.weight`` and so on; a bare state dict and keys
without ``module.`` load too). The full network holds 36,298,035 parameters. The audio side
(:func:`mel_spectrogram`, :func:`mel_chunks`) follows the repository's ``audio.py``,
``hparams.py`` and ``inference.py``: 16 kHz, pre-emphasis 0.97, a Hann STFT of 800 samples
every 200 (80 steps a second), a Slaney mel filterbank of 80 bands from 55 to 7600 Hz,
decibels less 20, scaled to [-4, 4].

Faces go in as Wav2Lip's own scripts feed them: read by OpenCV, so in BGR order, in [0, 1].
:class:`LipSync` turns the RGB portraits filmkit works with around for it.

Licence: Wav2Lip's code and weights are for research, academic and personal, non-commercial
use only (the authors' terms; the models were trained on LRS2). filmkit never downloads them
and holds none of their code: the user fetches the checkpoint under those terms and gives
its path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from filmkit.errors import GeneratorError
from filmkit.generators.training import cpu_threads, fitted_state, pick_device, read_weights
from filmkit.lazy import numpy as np

# The face the network sees and draws, in pixels a side.
FACE = 96
# Mel steps the network hears per video frame, and mel steps per second of audio.
MEL_STEPS = 16
MEL_RATE = 80
# Audio settings of the repository's hparams.py.
SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WINDOW = 800
MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS = 4.0
# inference.py's default pads (top, bottom, left, right) around the detected face, pixels.
PADS = (0, 10, 0, 0)
# A known key and the published shape of it; its first dimension tells the width.
PROBE = "face_encoder_blocks.0.0.conv_block.0.weight"
PROBE_SHAPE = (16, 6, 7, 7)


def build_wav2lip(torch: Any, width: float = 1.0) -> Any:
    """A Wav2Lip generator with random weights; ``width`` scales every channel count
    (1.0 is the published network). Its forward takes mel windows (N, 1, 80, 16) and faces
    (N, 6, 96, 96) and gives faces (N, 3, 96, 96) in [0, 1]."""
    nn = torch.nn
    if not width > 0:
        raise ValueError(f"width must be positive, not {width}")

    def ch(n: int) -> int:
        return max(1, round(n * width))

    class Conv2d(nn.Module):
        """Convolution, batch norm, optionally plus the input, then ReLU."""

        def __init__(
            self, cin: int, cout: int, kernel: int, stride: Any, padding: int, residual: bool
        ) -> None:
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout)
            )
            self.act = nn.ReLU()
            self.residual = residual

        def forward(self, x: Any) -> Any:
            out = self.conv_block(x)
            return self.act(out + x if self.residual else out)

    class Conv2dTranspose(nn.Module):
        """Transposed convolution, batch norm, ReLU."""

        def __init__(
            self, cin: int, cout: int, kernel: int, stride: int, padding: int, extra: int
        ) -> None:
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ConvTranspose2d(cin, cout, kernel, stride, padding, extra),
                nn.BatchNorm2d(cout),
            )
            self.act = nn.ReLU()

        def forward(self, x: Any) -> Any:
            return self.act(self.conv_block(x))

    def conv(cin: int, cout: int, kernel: int = 3, stride: Any = 1, padding: int = 1) -> Any:
        return Conv2d(ch(cin), ch(cout), kernel, stride, padding, False)

    def same(c: int, count: int) -> list[Any]:
        """``count`` residual 3x3 convolutions keeping ``c`` channels."""
        return [Conv2d(ch(c), ch(c), 3, 1, 1, True) for _ in range(count)]

    def up(cin: int, skip: int, cout: int, stride: int, padding: int, extra: int) -> Any:
        """A transposed convolution over the decoder's ``cin`` and the encoder's ``skip``."""
        return Conv2dTranspose(ch(cin) + ch(skip), ch(cout), 3, stride, padding, extra)

    class Wav2Lip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.width = float(width)
            self.face_encoder_blocks = nn.ModuleList(
                [
                    nn.Sequential(Conv2d(6, ch(16), 7, 1, 3, False)),  # 96x96
                    nn.Sequential(conv(16, 32, stride=2), *same(32, 2)),  # 48x48
                    nn.Sequential(conv(32, 64, stride=2), *same(64, 3)),  # 24x24
                    nn.Sequential(conv(64, 128, stride=2), *same(128, 2)),  # 12x12
                    nn.Sequential(conv(128, 256, stride=2), *same(256, 2)),  # 6x6
                    nn.Sequential(conv(256, 512, stride=2), *same(512, 1)),  # 3x3
                    nn.Sequential(conv(512, 512, padding=0), conv(512, 512, 1, padding=0)),
                ]
            )
            # 80x16 mel steps down to 1x1: 80x16, 27x16, 9x6, 3x3, 1x1.
            self.audio_encoder = nn.Sequential(
                Conv2d(1, ch(32), 3, 1, 1, False),
                *same(32, 2),
                conv(32, 64, stride=(3, 1)),
                *same(64, 2),
                conv(64, 128, stride=3),
                *same(128, 2),
                conv(128, 256, stride=(3, 2)),
                *same(256, 1),
                conv(256, 512, padding=0),
                conv(512, 512, 1, padding=0),
            )
            self.face_decoder_blocks = nn.ModuleList(
                [
                    nn.Sequential(conv(512, 512, 1, padding=0)),  # 1x1
                    nn.Sequential(up(512, 512, 512, 1, 0, 0), *same(512, 1)),  # 3x3
                    nn.Sequential(up(512, 512, 512, 2, 1, 1), *same(512, 2)),  # 6x6
                    nn.Sequential(up(512, 256, 384, 2, 1, 1), *same(384, 2)),  # 12x12
                    nn.Sequential(up(384, 128, 256, 2, 1, 1), *same(256, 2)),  # 24x24
                    nn.Sequential(up(256, 64, 128, 2, 1, 1), *same(128, 2)),  # 48x48
                    nn.Sequential(up(128, 32, 64, 2, 1, 1), *same(64, 2)),  # 96x96
                ]
            )
            self.output_block = nn.Sequential(
                Conv2d(ch(64) + ch(16), ch(32), 3, 1, 1, False),
                nn.Conv2d(ch(32), 3, 1, 1, 0),
                nn.Sigmoid(),
            )

        def forward(self, mels: Any, faces: Any) -> Any:
            features = []
            x = faces
            for block in self.face_encoder_blocks:
                x = block(x)
                features.append(x)
            x = self.audio_encoder(mels)
            for block in self.face_decoder_blocks:
                x = torch.cat((block(x), features.pop()), 1)
            return self.output_block(x)

    return Wav2Lip()


def load_wav2lip(torch: Any, path: Path | str, device: Any = "auto") -> Any:
    """The Wav2Lip generator whose checkpoint is at ``path``, in eval mode on ``device``
    ("auto", "cpu", "cuda" or a torch device). Its width is read from the weights; a file
    that is not Wav2Lip weights raises GeneratorError naming it."""
    what = f"{path}: not Wav2Lip weights"
    payload = read_weights(torch, path, "Wav2Lip weights")
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else payload
    if not isinstance(state, dict) or not state:
        raise GeneratorError(f"{what}: expected a state dict, found a {type(state).__name__}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise GeneratorError(f"{what}: expected a state dict of named tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    probe = state.get(PROBE)
    if probe is None:
        raise GeneratorError(f"{what}: it has no {PROBE}")
    shape = tuple(probe.shape)
    if len(shape) != 4 or shape[1:] != PROBE_SHAPE[1:] or shape[0] < 1:
        raise GeneratorError(f"{what}: {PROBE} is {shape}, expected {PROBE_SHAPE}")
    with torch.device("meta"):
        model = build_wav2lip(torch, shape[0] / PROBE_SHAPE[0])
    state = fitted_state(torch, model, state, what)
    model.load_state_dict(state, assign=True)
    where = pick_device(torch, device) if isinstance(device, str) else torch.device(device)
    return model.to(where).eval().requires_grad_(False)


def _hz_to_mel(hz: Any) -> Any:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    log_step = math.log(6.4) / 27.0
    above = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step
    return np.where(hz >= 1000.0, above, linear)


def _mel_to_hz(mel: Any) -> Any:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3.0))


def mel_filterbank(
    rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    bands: int = MELS,
    fmin: float = FMIN,
    fmax: float = FMAX,
) -> np.ndarray:
    """Triangular filters (bands x n_fft/2+1) on Slaney's mel scale, each scaled to unit
    area over Hz (Slaney's normalisation), as ``librosa.filters.mel`` makes by default."""
    bins = np.linspace(0.0, rate / 2.0, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), bands + 2))
    widths = np.diff(edges)
    distance = edges[:, None] - bins[None, :]
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def mel_spectrogram(audio: np.ndarray, rate: int) -> np.ndarray:
    """Wav2Lip's mel spectrogram of mono ``audio`` (float samples at ``rate`` Hz; samples x
    channels is averaged): 80 bands x 80 steps a second (float32), in [-4, 4]."""
    from scipy import signal

    y = np.asarray(audio, dtype=np.float64)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio (samples,), got shape {np.shape(audio)}")
    if rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    if not y.size:
        raise ValueError("audio is empty")
    if not np.isfinite(y).all():
        raise ValueError("audio holds NaN or infinite samples")
    if rate != SAMPLE_RATE:
        common = math.gcd(int(rate), SAMPLE_RATE)
        y = signal.resample_poly(y, SAMPLE_RATE // common, int(rate) // common)
    y = signal.lfilter([1.0, -PREEMPHASIS], [1.0], y)
    # A centred STFT as librosa's: reflected half a window on both sides.
    half = N_FFT // 2
    y = np.pad(y, half, mode="reflect" if y.size > half else "constant")
    steps = 1 + (y.size - N_FFT) // HOP
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP][:steps]
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)).T
    mel = mel_filterbank() @ magnitude
    floor = 10.0 ** (MIN_LEVEL_DB / 20.0)
    db = 20.0 * np.log10(np.maximum(floor, mel)) - REF_LEVEL_DB
    scaled = 2.0 * MAX_ABS * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS
    return np.clip(scaled, -MAX_ABS, MAX_ABS).astype(np.float32)


def mel_chunks(mel: np.ndarray, fps: float, frames: int) -> np.ndarray:
    """The network's audio input for ``frames`` video frames at ``fps``: frames x 1 x 80 x 16,
    frame ``i`` hearing the 16 mel steps from ``int(i * 80 / fps)`` (the last 16 where that
    runs past the end; a spectrogram shorter than 16 steps is padded with silence)."""
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[0] != MELS:
        raise ValueError(f"expected a mel spectrogram of {MELS} x T, got {mel.shape}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, not {fps}")
    if mel.shape[1] < MEL_STEPS:
        silence = np.full((MELS, MEL_STEPS - mel.shape[1]), -MAX_ABS, np.float32)
        mel = np.concatenate((mel, silence), axis=1)
    step = float(MEL_RATE) / fps
    last = mel.shape[1] - MEL_STEPS
    out = np.empty((frames, 1, MELS, MEL_STEPS), np.float32)
    for i in range(frames):
        start = min(int(i * step), last)
        out[i, 0] = mel[:, start : start + MEL_STEPS]
    return out


def _ramp(n: int, start: float, end: float, feather: float) -> np.ndarray:
    """Weights of pixels 0..n-1 (centres at i + 0.5) over the span start..end: 0 outside,
    rising smoothly to 1 within ``feather`` of either end."""
    centres = np.arange(n) + 0.5
    inside = np.minimum(centres - start, end - centres)
    t = np.clip(inside / feather, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class LipSync:
    """A portrait's mouth redrawn to speak, one frame per mel window, by a Wav2Lip model
    (:func:`load_wav2lip`)."""

    def __init__(self, torch: Any, model: Any, device: Any = None) -> None:
        self.torch = torch
        self.model = model
        if device is None:
            device = next(model.parameters()).device
        elif isinstance(device, str):
            device = pick_device(torch, device)
        self.device = torch.device(device)
        self.model.to(self.device)

    def _crop(self, face_box: tuple[int, int, int, int], h: int, w: int) -> tuple[int, int, int]:
        """The square (x, y, side) the network sees: the box padded as inference.py pads it
        and grown about its centre to a square; it may reach past the portrait's edges."""
        x0, y0, x1, y1 = face_box
        top, bottom, left, right = PADS
        y0, y1 = max(0, y0 - top), min(h, y1 + bottom)
        x0, x1 = max(0, x0 - left), min(w, x1 + right)
        side = max(x1 - x0, y1 - y0)
        return (x0 + x1 - side) // 2, (y0 + y1 - side) // 2, side

    def frames(
        self,
        portrait: np.ndarray,
        face_box: tuple[int, int, int, int],
        mels: np.ndarray,
        batch_size: int = 32,
    ) -> list[np.ndarray]:
        """One copy of ``portrait`` (uint8 RGB or RGBA, h x w x 3|4) per window in ``mels``
        (:func:`mel_chunks`), the lower half of ``face_box`` (x0, y0, x1, y1, pixels, end
        exclusive) redrawn by the network and blended in with a soft edge. Nothing above the
        box's middle or outside the box changes; alpha is kept."""
        import cv2

        torch = self.torch
        if portrait.dtype != np.uint8 or portrait.ndim != 3 or portrait.shape[2] not in (3, 4):
            raise ValueError(
                f"expected a uint8 RGB or RGBA portrait, got {portrait.dtype} {portrait.shape}"
            )
        h, w = portrait.shape[:2]
        x0, y0, x1, y1 = (int(round(v)) for v in face_box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise ValueError(f"face box {tuple(face_box)} is empty within a {w}x{h} portrait")
        windows = np.asarray(mels, dtype=np.float32)
        if windows.ndim == 3:
            windows = windows[:, None]
        if windows.ndim != 4 or windows.shape[1:] != (1, MELS, MEL_STEPS):
            raise ValueError(f"expected mel windows N x 1 x 80 x 16, got {windows.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")

        # The square the network sees, cut out with the portrait's edges repeated past them.
        sx, sy, side = self._crop((x0, y0, x1, y1), h, w)
        rgb = portrait[:, :, :3]
        cut = rgb[max(0, sy) : min(h, sy + side), max(0, sx) : min(w, sx + side)]
        cut = np.pad(
            cut,
            (
                (max(0, -sy), max(0, sy + side - h)),
                (max(0, -sx), max(0, sx + side - w)),
                (0, 0),
            ),
            mode="edge",
        )
        face = cv2.resize(cut[:, :, ::-1], (FACE, FACE), interpolation=cv2.INTER_AREA)
        masked = face.copy()
        masked[FACE // 2 :] = 0
        # Masked face then whole face, BGR in [0, 1], as Wav2Lip was trained.
        faces = np.concatenate((masked, face), axis=2).transpose(2, 0, 1)
        faces = torch.from_numpy(faces.astype(np.float32) / 255.0)[None]

        # Where the prediction goes: the box's lower half, feathered on every side.
        middle = (y0 + y1) / 2.0
        r0 = int(math.floor(middle))
        feather = max(1.0, 0.12 * min(x1 - x0, y1 - y0))
        rows = _ramp(y1 - r0, middle - r0, float(y1 - r0), feather)
        cols = _ramp(x1 - x0, 0.0, float(x1 - x0), feather)
        weight = (rows[:, None] * cols[None, :])[:, :, None]
        region = rgb[r0:y1, x0:x1].astype(np.float32)

        outputs: list[np.ndarray] = []
        with cpu_threads(torch, self.device), torch.no_grad():
            source = faces.to(self.device)
            for start in range(0, len(windows), batch_size):
                batch = torch.from_numpy(windows[start : start + batch_size]).to(self.device)
                predicted = self.model(batch, source.expand(len(batch), -1, -1, -1))
                predicted = predicted.mul(255.0).permute(0, 2, 3, 1).cpu().numpy()
                for drawn in predicted:
                    big = cv2.resize(drawn[:, :, ::-1], (side, side), interpolation=cv2.INTER_CUBIC)
                    patch = big[r0 - sy : y1 - sy, x0 - sx : x1 - sx]
                    blended = region + (patch - region) * weight
                    out = portrait.copy()
                    out[r0:y1, x0:x1, :3] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
                    outputs.append(out)
        return outputs
