"""Modules imported on first use, so that planning never pays for them.

``from filmkit.lazy import numpy as np`` binds a module object whose real
import happens at the first attribute access (stdlib ``importlib.util.LazyLoader``).
Backend modules are imported at plan time to read their ``Params`` and
``version``; numpy alone would otherwise add a sixth of a second to every
``filmkit validate``, ``plan`` and no-op ``build``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module that imports itself when first touched."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


numpy = lazy_module("numpy")
