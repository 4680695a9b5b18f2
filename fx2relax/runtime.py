"""Build an imported IRModule and run it like a function: NumPy or torch tensors in, NumPy out.

This module needs TVM and NumPy only, never torch, so a model exported with `CompiledModel.export`
loads and runs (`load`) where torch is not installed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tvm
from tvm.runtime.vm import VirtualMachine

from .errors import InputError

TargetLike = Any  # "llvm", a dict such as {"kind": "llvm", "mcpu": "znver4"}, or a tvm.target.Target
EXPORT_FORMAT = 1  # the version of the sidecar written by CompiledModel.export


def make_target(target: TargetLike) -> tvm.target.Target:
    """A tvm.target.Target from a kind name, a dict of target attributes, or a Target."""
    if isinstance(target, tvm.target.Target):
        return target
    if isinstance(target, str):
        return tvm.target.Target({"kind": target})
    return tvm.target.Target(dict(target))


@dataclass(frozen=True)
class InputSpec:
    """The shape and dtype `main` declares for one input; a symbolic dimension is its name (a str)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    @classmethod
    def from_param(cls, param: Any) -> InputSpec:
        """The spec of one Relax parameter of `main` (a relax.Var with a TensorType)."""
        dims = tuple(int(d) if isinstance(d, tvm.tirx.IntImm) else str(d) for d in param.ty.shape.values)
        return cls(param.name, dims, str(param.ty.dtype))

    def describe(self) -> str:
        return "(" + ", ".join(str(d) for d in self.shape) + ")"


class CompiledModel:
    """A compiled `main`: call it with one array per model input; returns NumPy (a tuple for tuple outputs).

    Inputs are checked against the declared shapes and dtype before the VM sees them, so a wrong
    input is an InputError naming the expected and the given shape, never a crash.
    """

    def __init__(
        self,
        executable: Any,
        mod: tvm.IRModule | Sequence[InputSpec],
        device: Any = None,
        weights: Mapping[str, np.ndarray] | None = None,
    ):
        """`mod` is the imported IRModule (its `main` declares the inputs) or, for a loaded library, the specs."""
        self.executable = executable
        self.inputs = input_specs(mod, len(weights or {})) if isinstance(mod, tvm.IRModule) else list(mod)
        self.device = device if device is not None else tvm.cpu()
        self.weights = {name: np.ascontiguousarray(array) for name, array in (weights or {}).items()}
        self.vm = VirtualMachine(executable, self.device)
        self._weight_tensors = [tvm.runtime.tensor(w, self.device) for w in self.weights.values()]

    def __call__(self, *inputs: Any) -> Any:
        arrays = self.check_inputs(inputs)
        args = [_to_device(a, self.device) for a in arrays] + self._weight_tensors
        return _to_numpy(self.vm["main"](*args))

    def check_inputs(self, inputs: tuple) -> list[np.ndarray]:
        """The inputs as contiguous NumPy arrays, or an InputError saying what was expected."""
        if len(inputs) != len(self.inputs):
            raise InputError(f"the model takes {len(self.inputs)} input(s), got {len(inputs)}")
        arrays = []
        bound: dict[str, int] = {}  # a symbolic dimension takes one size across all inputs
        for spec, value in zip(self.inputs, inputs):
            array = _as_array(value, spec)
            if array.dtype != np.dtype(spec.dtype):
                raise InputError(f"input '{spec.name}' must have dtype {spec.dtype}, got {array.dtype}")
            if array.ndim != len(spec.shape):
                raise InputError(
                    f"input '{spec.name}' must have shape {spec.describe()} (rank {len(spec.shape)}), "
                    f"got shape {tuple(array.shape)} (rank {array.ndim})"
                )
            for want, got in zip(spec.shape, array.shape):
                if isinstance(want, int):
                    matches = want == got
                else:
                    matches = got > 0 and bound.setdefault(want, got) == got
                if not matches:
                    bindings = ", ".join(f"{name}={size}" for name, size in bound.items())
                    raise InputError(
                        f"input '{spec.name}' must have shape {spec.describe()}, got shape {tuple(array.shape)}"
                        + (f" (with {bindings})" if bindings else "")
                    )
            arrays.append(np.ascontiguousarray(array))
        return arrays

    def export(self, path: str | Path) -> Path:
        """Write the compiled library to `path` (e.g. model.so) with its sidecars; `load` reads them back.

        Layout: `model.so` the shared library, `model.json` the input specs (symbolic dimensions
        by name) and the weight order, `model.npz` the weights (only for a model compiled with
        `keep_params_as_input=True`; otherwise they are constants inside the library).
        """
        path = Path(path)
        self.executable.export_library(str(path))
        metadata = {
            "format": EXPORT_FORMAT,
            "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
            "weights": list(self.weights),
        }
        if self.weights:
            np.savez(path.with_suffix(".npz"), **self.weights)
        path.with_suffix(".json").write_text(json.dumps(metadata, indent=2) + "\n")
        return path


def load(path: str | Path, device: Any = None) -> CompiledModel:
    """A CompiledModel from the files `CompiledModel.export(path)` wrote; needs TVM and NumPy, not torch."""
    path = Path(path)
    metadata = json.loads(path.with_suffix(".json").read_text())
    if metadata.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path.with_suffix('.json')} has format {metadata.get('format')!r}, expected {EXPORT_FORMAT}")
    inputs = [InputSpec(item["name"], tuple(item["shape"]), item["dtype"]) for item in metadata["inputs"]]
    weights = {}
    if metadata["weights"]:
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as archive:
            weights = {name: archive[name] for name in metadata["weights"]}
    return CompiledModel(tvm.runtime.load_module(str(path)), inputs, device, weights)


def _as_array(value: Any, spec: InputSpec) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor, without importing torch
        return value.detach().cpu().numpy()
    raise InputError(f"input '{spec.name}' must be a NumPy array or a torch tensor, got {type(value).__name__}")


def _to_device(array: np.ndarray, device: Any) -> Any:
    """A TVM tensor for a contiguous array: shared through DLPack on the CPU (64-byte aligned, as
    TVM requires; copied into an aligned buffer if not), which costs microseconds where
    tvm.runtime.tensor costs tens of them: that matters at batch 1."""
    if device.dlpack_device_type() != tvm.cpu().dlpack_device_type():
        return tvm.runtime.tensor(array, device)
    if array.ctypes.data % _TVM_ALIGNMENT:
        buffer = np.empty(array.nbytes + _TVM_ALIGNMENT, dtype=np.uint8)
        start = -buffer.ctypes.data % _TVM_ALIGNMENT
        aligned = buffer[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
        aligned[...] = array
        array = aligned
    return tvm.runtime.from_dlpack(array)


_TVM_ALIGNMENT = 64


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "numpy"):
        return np.from_dlpack(value).copy()  # .numpy() costs tens of microseconds
    return tuple(_to_numpy(item) for item in value)


def build(mod: tvm.IRModule, target: TargetLike = "llvm", *, weights: Mapping[str, np.ndarray] | None = None) -> CompiledModel:
    """Compile `mod` with TVM's default Relax pipeline (no schedules) and wrap it in a CompiledModel.

    `weights` are the arrays returned by `from_module(..., keep_params_as_input=True)`; they are
    the trailing parameters of `main`, the others are the model's inputs.
    """
    executable = tvm.compile(mod, target=make_target(target))
    return CompiledModel(executable, mod, tvm.cpu(), weights)


def input_specs(mod: tvm.IRModule, weight_count: int = 0) -> list[InputSpec]:
    """The specs of `main`'s parameters that are model inputs (all but the trailing `weight_count`)."""
    params = list(mod["main"].params)
    return [InputSpec.from_param(p) for p in params[: len(params) - weight_count]]
