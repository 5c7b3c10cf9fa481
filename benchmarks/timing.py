"""What the benchmark scripts share: the machine line of a table, and waiting for the GPU.

Imported by the scripts beside it (``python benchmarks/effects.py`` puts this folder
first on the path).
"""

from __future__ import annotations

import os
import platform
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
