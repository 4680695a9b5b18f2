"""fx2relax: import PyTorch models into Apache TVM Relax through hand-written TE kernels."""

from . import converters  # noqa: F401  (registers the built-in converters)
from .compiler import compile
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
from .importer import NodeContext, from_module
from .registry import REGISTRY, register_converter
from .runtime import CompiledModel, build

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
    "compile",
    "from_module",
    "register_converter",
]
