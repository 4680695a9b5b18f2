"""fx2relax: import PyTorch models into Apache TVM Relax through hand-written TE kernels.

Importing the package is cheap and needs no torch: names are loaded on first use, so
`fx2relax.load` runs an exported model where only TVM and NumPy are installed. Any name that
touches the converter registry first imports the built-in converters, so they are registered
before any user converter or lookup.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    ConversionError,
    Fx2RelaxError,
    InputError,
    InputShapeError,
    RegistryError,
    ShapeError,
    TraceError,
    UnsupportedOpError,
    UnsupportedParameterError,
)

# name → the submodule defining it; "needs converters" marks names that use the registry.
_LAZY = {
    "CompiledModel": ("runtime", False),
    "build": ("runtime", False),
    "load": ("runtime", False),
    "NodeContext": ("importer", True),
    "from_module": ("importer", True),
    "REGISTRY": ("registry", True),
    "register_converter": ("registry", True),
    "dynamo_backend": ("dynamo", True),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'fx2relax' has no attribute {name!r}")
    module_name, needs_converters = _LAZY[name]
    if needs_converters:
        importlib.import_module(".converters", __name__)
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "REGISTRY",
    "CompiledModel",
    "ConversionError",
    "Fx2RelaxError",
    "InputError",
    "InputShapeError",
    "NodeContext",
    "RegistryError",
    "ShapeError",
    "TraceError",
    "UnsupportedOpError",
    "UnsupportedParameterError",
    "build",
    "dynamo_backend",
    "from_module",
    "load",
    "register_converter",
]
