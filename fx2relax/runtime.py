"""Build an imported IRModule and run it like a function: NumPy or torch tensors in, NumPy out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tvm
from tvm import relax, tirx

from .errors import InputError

TargetLike = Any  # "llvm", a dict such as {"kind": "llvm", "mcpu": "znver4"}, or a tvm.target.Target


def make_target(target: TargetLike) -> tvm.target.Target:
    """A tvm.target.Target from a kind name, a dict of target attributes, or a Target."""
    if isinstance(target, tvm.target.Target):
        return target
    if isinstance(target, str):
        return tvm.target.Target({"kind": target})
    return tvm.target.Target(dict(target))


class InputSpec:
    """The shape and dtype `main` declares for one input; symbolic dimensions are tirx.Vars."""

    def __init__(self, name: str, ty: relax.TensorType):
        self.name = name
        self.dtype = str(ty.dtype)
        self.shape = tuple(int(d) if isinstance(d, tirx.IntImm) else d for d in ty.shape.values)

    def describe(self) -> str:
        return "(" + ", ".join(str(d) for d in self.shape) + ")"


class CompiledModel:
    """A compiled `main`: call it with one array per model input; returns NumPy (a tuple for tuple outputs).

    Inputs are checked against the declared shapes and dtype before the VM sees them, so a wrong
    input is an InputError naming the expected and the given shape, never a crash.
    """

    def __init__(self, executable: Any, mod: tvm.IRModule, device: Any, weights: Mapping[str, np.ndarray] | None = None):
        self.executable = executable
        self.device = device
        self.vm = relax.VirtualMachine(executable, device)
        params = list(mod["main"].params)
        weight_count = len(weights) if weights else 0
        self.inputs = [InputSpec(p.name, p.ty) for p in params[: len(params) - weight_count]]
        self._weights = [tvm.runtime.tensor(np.ascontiguousarray(w), device) for w in (weights or {}).values()]

    def __call__(self, *inputs: Any) -> Any:
        arrays = self.check_inputs(inputs)
        args = [_to_device(a, self.device) for a in arrays] + self._weights
        return _to_numpy(self.vm["main"](*args))

    def check_inputs(self, inputs: tuple) -> list[np.ndarray]:
        """The inputs as contiguous NumPy arrays, or an InputError saying what was expected."""
        if len(inputs) != len(self.inputs):
            raise InputError(f"the model takes {len(self.inputs)} input(s), got {len(inputs)}")
        arrays = []
        bound: dict[str, int] = {}
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
                    matches = got > 0 and bound.setdefault(str(want), got) == got
                if not matches:
                    raise InputError(
                        f"input '{spec.name}' must have shape {spec.describe()}, got shape {tuple(array.shape)}"
                    )
            arrays.append(np.ascontiguousarray(array))
        return arrays


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

    `weights` are the arrays returned by `from_module(..., keep_params_as_input=True)`.
    """
    executable = tvm.compile(mod, target=make_target(target))
    return CompiledModel(executable, mod, tvm.cpu(), weights)
