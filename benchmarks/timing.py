"""What the benchmark scripts share: the machine line of a table, and waiting for the GPU.

Imported by the scripts beside it (``python benchmarks/effects.py`` puts this folder
first on the path).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any


def synchroniser(device: str) -> Callable[[], None]:
    """Waits for the GPU's queued work on CUDA; nothing on the CPU."""
    if device == "cuda":
        import torch

        return torch.cuda.synchronize
    return lambda: None


def cpu_name() -> str:
    """The CPU's model name, as the kernel reports it."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(torch: Any) -> str:
    """What a table was measured on: CPU, cores, system, Python, torch and its GPU."""
    line = f"{cpu_name()}, {os.cpu_count()} CPUs, {platform.system()}, "
    line += f"Python {platform.python_version()}"
    if torch is None:
        return f"{line}, torch not installed"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return f"{line}, torch {torch.__version__}, {gpu}"


def timed(
    device: str,
    step: Callable[[Any, int], object],
    count: int,
    setup: Callable[[], Any] | None = None,
    warm: bool = True,
    per: int = 1,
) -> tuple[float | None, list[float]]:
    """``step(state, i)`` for i = 1..count, timed one by one (after an untimed i = 0 when
    ``warm``), each time divided by ``per`` (the units a step makes); ``state`` is what
    ``setup()`` returns, timed too (None: no setup), and closed afterwards if it closes.
    Returns the setup's seconds and each step's."""
    sync = synchroniser(device)
    sync()
    started = time.perf_counter()
    state = setup() if setup is not None else None
    sync()
    setup_s = time.perf_counter() - started if setup is not None else None
    times = []
    try:
        if warm:
            step(state, 0)
            sync()
        for i in range(1, count + 1):
            sync()
            started = time.perf_counter()
            step(state, i)
            sync()
            times.append((time.perf_counter() - started) / per)
    finally:
        if hasattr(state, "close"):
            state.close()
    return setup_s, times
