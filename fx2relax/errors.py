"""Exceptions raised by fx2relax: every failure of an import is one of these, raised at import time."""

from __future__ import annotations


class Fx2RelaxError(Exception):
    """Base class of every error fx2relax raises on purpose."""


class RegistryError(Fx2RelaxError, ValueError):
    """A converter was registered twice for the same target, or for a target of no known kind."""


class TraceError(Fx2RelaxError):
    """`torch.fx.symbolic_trace` could not trace the model."""


class InputShapeError(Fx2RelaxError, ValueError):
    """The `input_shape` given to `from_module` is malformed or does not fit the model's inputs."""


class UnsupportedOpError(Fx2RelaxError):
    """The graph calls modules, functions or methods that have no converter.

    `unsupported` lists one line per offending node, so one error shows all of them; `sources`
    (where known) the user's source line of each, shown under it.
    """

    def __init__(self, unsupported: list[str], supported: list[str], sources: list[str | None] | None = None):
        self.unsupported = unsupported
        self.supported = supported
        sources = sources or [None] * len(unsupported)
        lines = "\n".join(f"  - {line}" + (f"\n      at {source}" if source else "") for line, source in zip(unsupported, sources))
        message = (
            f"{len(unsupported)} node(s) of the graph have no fx2relax converter:\n{lines}\n"
            f"Supported: {', '.join(supported)}.\n"
            "Register one with @fx2relax.register_converter(target)."
        )
        super().__init__(message)


class ConversionError(Fx2RelaxError):
    """Converting one FX node failed; the message names the node, its module or target and the parameter."""

    def __init__(self, where: str, message: str, parameter: str | None = None):
        self.where = where
        self.parameter = parameter
        self.source: str | None = None
        detail = f"parameter '{parameter}': {message}" if parameter else message
        super().__init__(f"{where}: {detail}")

    def locate(self, source: str) -> None:
        """Name the line of the user's code that made the node (`model.py:12: return self.fc(x)`)."""
        if self.source is None:
            self.source = source
            self.args = (f"{self.args[0]}\n  at {source}",)


class UnsupportedParameterError(ConversionError, NotImplementedError):
    """A parameter value that PyTorch accepts but fx2relax refuses rather than compute it wrongly."""


class ShapeError(ConversionError, ValueError):
    """A tensor shape does not fit the node's module or parameters (mismatched channels, too-large kernel...)."""


class DtypeError(ConversionError, TypeError):
    """A tensor's dtype does not fit: a weight of another float dtype than the model's, or a tensor
    of another dtype than the model's where a converter computes in the model's dtype."""


class InputError(Fx2RelaxError, ValueError):
    """A compiled model was called with inputs of the wrong number, rank, shape or dtype."""


class LoadError(Fx2RelaxError):
    """`load` refused exported files: missing, truncated, modified, or a sidecar field not as `export` writes it.

    The message names the file and, for the sidecar, the field."""


class ExportError(Fx2RelaxError, ValueError):
    """`export` was given a path it cannot write files to that `load` reads back."""
