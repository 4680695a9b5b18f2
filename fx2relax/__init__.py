"""fx2relax: import PyTorch models into Apache TVM Relax through hand-written TE kernels.

Importing the package is cheap and needs no torch: names are loaded on first use, so
`fx2relax.load` runs an exported model where only TVM and NumPy are installed. The registry
imports the built-in converters on its first use (see registry.py).
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    ConversionError,
    DtypeError,
    ExportError,
    Fx2RelaxError,
    InputError,
    InputShapeError,
    LoadError,
    RegistryError,
    ShapeError,
    TraceError,
    UnsupportedOpError,
    UnsupportedParameterError,
)

# name → the submodule defining it, imported on first use of the name
_LAZY = {
    "CompiledModel": "runtime",
    "build": "runtime",
    "compile": "compiler",
    "load": "runtime",
    "NodeContext": "importer",
    "from_module": "importer",
    "from_exported_program": "exported",
    "REGISTRY": "registry",
    "register_converter": "registry",
    "dynamo_backend": "dynamo",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'fx2relax' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "REGISTRY",
    "CompiledModel",
    "ConversionError",
    "DtypeError",
    "ExportError",
    "Fx2RelaxError",
    "InputError",
    "InputShapeError",
    "LoadError",
    "NodeContext",
    "RegistryError",
    "ShapeError",
    "TraceError",
    "UnsupportedOpError",
    "UnsupportedParameterError",
    "build",
    "compile",
    "dynamo_backend",
    "from_exported_program",
    "from_module",
    "load",
    "register_converter",
]
