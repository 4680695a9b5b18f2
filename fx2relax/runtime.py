"""Build an imported IRModule and run it like a function: NumPy or torch tensors in, NumPy out.

This module needs TVM and NumPy only, never torch, so a model exported with `CompiledModel.export`
loads and runs (`load`) where torch is not installed.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tvm
from tvm.runtime.vm import VirtualMachine

from .errors import ExportError, InputError, LoadError

TargetLike = Any  # "llvm", a dict such as {"kind": "llvm", "mcpu": "znver4"}, or a tvm.target.Target
EXPORT_FORMAT = 2  # the version of the sidecar written by CompiledModel.export


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
    input is an InputError naming the expected and the given shape, never a crash. Safe to call
    from many threads at once: a TVM VirtualMachine is not, so each thread gets its own, made on
    its first call over the shared executable and weights (calls to one model never wait on a lock).
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
        self._weight_tensors = [tvm.runtime.tensor(w, self.device) for w in self.weights.values()]
        self._checks = [_InputCheck(spec) for spec in self.inputs]
        self._on_cpu = self.device.dlpack_device_type() == tvm.cpu().dlpack_device_type()
        self._per_thread = threading.local()
        self._loaded_from: tuple[bytes, str | None] | None = None  # a loaded model's library bytes and target

    @property
    def vm(self) -> VirtualMachine:
        """The calling thread's VirtualMachine (made on first use)."""
        return self._thread_state().vm

    def __call__(self, *inputs: Any, **named_inputs: Any) -> Any:
        """Run `main` on one array per input, in order or by name (`model(x=...)`)."""
        state = getattr(self._per_thread, "state", None) or self._thread_state()
        arrays = self.check_inputs(self._in_order(inputs, named_inputs) if named_inputs else inputs)
        args = [self._stage(array, index, state) for index, array in enumerate(arrays)]
        return _to_numpy(state.main(*args, *self._weight_tensors))

    def __reduce__(self) -> Any:
        raise TypeError("a CompiledModel cannot be pickled (it holds a loaded library): export() it and load() it")

    def check_inputs(self, inputs: tuple) -> list[np.ndarray]:
        """The inputs as NumPy arrays, or an InputError saying what was expected."""
        if len(inputs) != len(self._checks):
            raise InputError(f"the model takes {len(self._checks)} input(s), got {len(inputs)}")
        bound: dict[str, int] = {}  # a symbolic dimension takes one size across all inputs
        return [check.array(value, bound) for check, value in zip(self._checks, inputs)]

    def _in_order(self, inputs: tuple, named_inputs: dict[str, Any]) -> tuple:
        """Positional and named inputs as one tuple in `main`'s order."""
        names = [spec.name for spec in self.inputs]
        ordered = dict(zip(names, inputs))
        for name, value in named_inputs.items():
            if name not in names:
                raise InputError(f"the model has no input named {name!r}; its inputs are {', '.join(names)}")
            if name in ordered:
                raise InputError(f"input {name!r} is given twice, by position and by name")
            ordered[name] = value
        missing = [name for name in names if name not in ordered]
        if missing or len(inputs) > len(names):
            raise InputError(
                f"the model takes {len(names)} input(s) ({', '.join(names)}), got "
                f"{len(inputs)} by position and {', '.join(named_inputs)} by name"
            )
        return tuple(ordered[name] for name in names)

    def _thread_state(self) -> _ThreadState:
        state = getattr(self._per_thread, "state", None)
        if state is None:
            with _VM_CREATION:  # making a VM fills caches of the shared library module
                vm = VirtualMachine(self.executable, self.device)
            state = self._per_thread.state = _ThreadState(vm, vm["main"], [None] * len(self._checks))
        return state

    def _stage(self, array: np.ndarray, index: int, state: _ThreadState) -> Any:
        """A TVM tensor holding `array`: the array itself (DLPack, no copy) where it is contiguous,
        writeable and 64-byte aligned, as TVM's kernels assume (a torch tensor's storage is);
        otherwise a copy into this thread's aligned buffer for that input, which takes read-only,
        strided and misaligned arrays alike. The copy of a 16 x 3 x 224 x 224 image batch cost
        660 us a call; sharing costs under 1 us."""
        if not self._on_cpu:
            return tvm.runtime.tensor(np.ascontiguousarray(array), self.device)
        if array.flags.c_contiguous and array.flags.writeable and array.ctypes.data % _TVM_ALIGNMENT == 0:
            return tvm.runtime.from_dlpack(array)
        staged = state.staged[index]
        if staged is None or staged[0].shape != array.shape:
            staged = state.staged[index] = _aligned_tensor(array.shape, array.dtype)
        np.copyto(staged[0], array)
        return staged[1]

    def export(self, path: str | Path) -> Path:
        """Write the model to `path` (`model.so`, or `model` meaning `model.so`); returns the library's path.

        Files, side by side: `model.so` the shared library; `model.json` its sidecar (the
        library's size and SHA-256, which `load` checks before loading it, the input specs with
        symbolic dimensions by name, and the weights' names, shapes and dtypes); `model.npz` the
        weights, only for a model compiled with `keep_params_as_input=True` (otherwise they are
        constants inside the library). Each file is written whole, then renamed into place.
        """
        files = ExportFiles.of(path).writable()
        try:
            if self._loaded_from is None:
                library = _write_atomically(files.library, lambda temporary: self.executable.export_library(str(temporary)))
                target = _target_string(self.executable)
            else:  # TVM cannot save a loaded library again: write the bytes it was loaded from
                library, target = self._loaded_from
                _write_atomically(files.library, lambda temporary: temporary.write_bytes(library))
            if self.weights:
                _write_atomically(files.weights, lambda temporary: np.savez(temporary, **self.weights))
            metadata = {
                "format": EXPORT_FORMAT,
                "library": {"size": len(library), "sha256": hashlib.sha256(library).hexdigest()},
                "target": target,
                "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
                "weights": [{"name": n, "shape": list(w.shape), "dtype": str(w.dtype)} for n, w in self.weights.items()],
            }
            text = json.dumps(metadata, indent=2) + "\n"
            _write_atomically(files.sidecar, lambda temporary: temporary.write_text(text))
        except (OSError, RuntimeError) as error:  # RuntimeError: TVM's linker step failed to write
            raise ExportError(f"cannot write {files.library} and its sidecars: {' '.join(str(error).split())}") from error
        return files.library


@dataclass
class _ThreadState:
    """What one thread needs to call a model: its VirtualMachine, `main`, and a staging buffer per input."""

    vm: VirtualMachine
    main: Any
    staged: list[tuple[np.ndarray, Any] | None]


_VM_CREATION = threading.Lock()
_TVM_ALIGNMENT = 64
_TORCH_DTYPE_PREFIX = "torch."


class _InputCheck:
    """One input's spec, prepared once so that checking a call's input costs little."""

    def __init__(self, spec: InputSpec):
        self.spec = spec
        self.dtype = np.dtype(spec.dtype)
        self.static_shape = spec.shape if all(isinstance(d, int) for d in spec.shape) else None

    def array(self, value: Any, bound: dict[str, int]) -> np.ndarray:
        """`value` as a NumPy array of the spec's dtype and shape (binding symbolic dims in `bound`), or an InputError."""
        spec = self.spec
        if isinstance(value, np.ndarray):
            if isinstance(value, np.ma.MaskedArray):
                raise InputError(f"input '{spec.name}' is a masked array: pass its .filled(value) or its .data")
            array = value
            if array.dtype != self.dtype:
                raise InputError(f"input '{spec.name}' must have dtype {spec.dtype}, got {_describe_dtype(array.dtype)}")
        elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor, without importing torch
            dtype = str(value.dtype).removeprefix(_TORCH_DTYPE_PREFIX)
            if dtype != spec.dtype:
                raise InputError(f"input '{spec.name}' must have dtype {spec.dtype}, got torch.{dtype}")
            try:
                array = value.numpy(force=True)  # detached, on the CPU, conjugate and negative views resolved
            except (RuntimeError, TypeError) as error:
                raise InputError(f"input '{spec.name}': the torch tensor cannot be read: {error}") from error
        else:
            raise InputError(f"input '{spec.name}' must be a NumPy array or a torch tensor, got {type(value).__name__}")
        if array.shape != self.static_shape:
            self.check_shape(array.shape, bound)
        return array

    def check_shape(self, shape: tuple[int, ...], bound: dict[str, int]) -> None:
        spec = self.spec
        if len(shape) != len(spec.shape):
            raise InputError(
                f"input '{spec.name}' must have shape {spec.describe()} (rank {len(spec.shape)}), "
                f"got shape {shape} (rank {len(shape)})"
            )
        for want, got in zip(spec.shape, shape):
            matches = want == got if isinstance(want, int) else got > 0 and bound.setdefault(want, got) == got
            if not matches:
                bindings = ", ".join(f"{name}={size}" for name, size in bound.items())
                raise InputError(
                    f"input '{spec.name}' must have shape {spec.describe()}, got shape {shape}"
                    + (f" (with {bindings})" if bindings else "")
                )


def _describe_dtype(dtype: np.dtype) -> str:
    """A NumPy dtype's name, saying when its byte order is not this machine's (`float32 (big-endian)`)."""
    if dtype.byteorder in ("<", ">") and not dtype.isnative:
        return f"{dtype.newbyteorder('=').name} ({'big' if dtype.byteorder == '>' else 'little'}-endian)"
    return str(dtype)


def _aligned_tensor(shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, Any]:
    """A new NumPy array at a 64-byte aligned address and the TVM tensor sharing its memory (DLPack)."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(nbytes + _TVM_ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % _TVM_ALIGNMENT
    array = buffer[start : start + nbytes].view(dtype).reshape(shape)
    return array, tvm.runtime.from_dlpack(array)


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "numpy"):
        return np.from_dlpack(value).copy()  # .numpy() costs tens of microseconds
    return tuple(_to_numpy(item) for item in value)


def _target_string(executable: Any) -> str | None:
    """The target the library's kernels were compiled for, as LLVM reports it (None if it does not say)."""
    for module in executable.mod.imports:
        describe = module.get_function("_get_target_string", True)
        if describe is not None:
            return str(describe())
    return None


def _write_atomically(path: Path, write: Any) -> bytes:
    """Call `write(temporary)` for a temporary path beside `path` (same suffix), then rename it to
    `path`: a reader never sees half a file. Returns the bytes written."""
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp{path.suffix}")
    try:
        write(temporary)
        content = temporary.read_bytes()
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return content


@dataclass(frozen=True)
class ExportFiles:
    """The files of one exported model: `model.so`, its sidecar `model.json`, its weights `model.npz`."""

    library: Path
    sidecar: Path
    weights: Path

    @classmethod
    def of(cls, path: str | Path, *, loading: bool = False) -> ExportFiles:
        """The files for `model.so` or `model` (and, to load, the sidecar `model.json`); another
        suffix is refused: `model.json` or `model.npz` would overwrite a sidecar with the library."""
        path = Path(path)
        if path.name in ("", ".", "..") or (not loading and path.is_dir()):
            raise (LoadError if loading else ExportError)(
                f"{str(path)!r} is {'a directory' if path.is_dir() else 'no file name'}: give the library's path, e.g. "
                f"{path / 'model.so'}"
            )
        accepted = (".so", ".json") if loading else (".so",)
        if path.suffix and path.suffix not in accepted:
            raise (LoadError if loading else ExportError)(
                f"{path}: give the library's path, ending in .so (e.g. {path.with_suffix('.so')}) or without a "
                f"suffix{' (or its .json sidecar)' if loading else ''}; {path.suffix!r} is not one"
            )
        stem = path.with_suffix("") if path.suffix else path
        return cls(Path(f"{stem}.so"), Path(f"{stem}.json"), Path(f"{stem}.npz"))

    def writable(self) -> ExportFiles:
        """These files, once their directory is known to exist and be writable (else an ExportError)."""
        directory = self.library.parent
        if not directory.is_dir():
            raise ExportError(f"cannot export to {self.library}: directory {directory} does not exist")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ExportError(f"cannot export to {self.library}: directory {directory} is not writable")
        return self


def load(path: str | Path, device: Any = None) -> CompiledModel:
    """A CompiledModel from the files `CompiledModel.export(path)` wrote; needs TVM and NumPy, not torch.

    `path` is the library (`model.so`), its stem (`model`) or its sidecar (`model.json`). The
    sidecar is validated field by field and the library's size and SHA-256 checked against it
    before the library is loaded, so a truncated or replaced file is a LoadError. The library is
    code run in this process: load only libraries you made or trust.
    """
    files = ExportFiles.of(path, loading=True)
    metadata = _read_sidecar(files.sidecar)
    library = _read_library(files, metadata["library"])
    weights = _read_weights(files.weights, metadata["weights"]) if metadata["weights"] else {}
    module = _load_library(library, files.library)
    model = CompiledModel(module, metadata["inputs"], device, weights)
    model._loaded_from = (library, metadata["target"])
    _check_parameters(model, files)
    return model


def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    """The sidecar's fields, each validated; `inputs` as InputSpecs."""
    try:
        metadata = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise LoadError(f"{sidecar}: no such file (export writes it beside the library)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise LoadError(f"{sidecar}: not a readable JSON sidecar: {type(error).__name__}: {error}") from error
    field = _SidecarField(sidecar)
    if not isinstance(metadata, dict):
        raise field.error(None, f"must be a JSON object, got {type(metadata).__name__}")
    if metadata.get("format") != EXPORT_FORMAT:
        raise field.error("format", f"is {metadata.get('format')!r}, expected {EXPORT_FORMAT} (re-export the model with this fx2relax)")
    unknown = sorted(set(metadata) - _SIDECAR_FIELDS)
    if unknown:
        raise field.error(unknown[0], "is not a field export writes")
    library = field.mapping(metadata, "library", {"size", "sha256"})
    size = field.integer(library, "library.size", "size", minimum=1)
    sha256 = field.of_type(library, "library.sha256", "sha256", str)
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise field.error("library.sha256", f"must be 64 lowercase hex digits, got {sha256!r}")
    target = metadata.get("target")
    if target is not None and not isinstance(target, str):
        raise field.error("target", f"must be a string or null, got {type(target).__name__}")
    inputs = [field.spec(item, f"inputs[{i}]", symbolic=True) for i, item in enumerate(field.items(metadata, "inputs"))]
    if not inputs:
        raise field.error("inputs", "is empty: a model takes at least one input")
    weights = [field.spec(item, f"weights[{i}]", symbolic=False) for i, item in enumerate(field.items(metadata, "weights"))]
    for name, specs in (("inputs", inputs), ("weights", weights)):
        names = [spec.name for spec in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise field.error(name, f"names {duplicates[0]!r} twice")
    return {"library": {"size": size, "sha256": sha256}, "target": target, "inputs": inputs, "weights": weights}


_SIDECAR_FIELDS = {"format", "library", "target", "inputs", "weights"}
_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")


class _SidecarField:
    """Validation of one sidecar's fields: each failure is a LoadError naming the file and the field."""

    def __init__(self, sidecar: Path):
        self.sidecar = sidecar

    def error(self, field: str | None, message: str) -> LoadError:
        return LoadError(f"{self.sidecar}: " + (f"field '{field}' " if field else "") + message)

    def of_type(self, mapping: dict, field: str, key: str, kind: type) -> Any:
        if key not in mapping:
            raise self.error(field, "is missing")
        value = mapping[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.error(field, f"must be {_JSON_TYPE_NAMES[kind]}, got {json.dumps(value)}")
        return value

    def integer(self, mapping: dict, field: str, key: str, minimum: int) -> int:
        value = self.of_type(mapping, field, key, int)
        if value < minimum:
            raise self.error(field, f"must be at least {minimum}, got {value}")
        return value

    def mapping(self, mapping: dict, field: str, keys: set[str]) -> dict:
        value = self.of_type(mapping, field, field.rpartition(".")[2], dict)
        unknown = sorted(set(value) - keys)
        if unknown:
            raise self.error(f"{field}.{unknown[0]}", "is not a field export writes")
        return value

    def items(self, mapping: dict, field: str) -> list[dict]:
        values = self.of_type(mapping, field, field, list)
        for index, value in enumerate(values):
            if not isinstance(value, dict):
                raise self.error(f"{field}[{index}]", f"must be an object with name, shape and dtype, got {json.dumps(value)}")
        return values

    def spec(self, item: dict, field: str, symbolic: bool) -> InputSpec:
        unknown = sorted(set(item) - {"name", "shape", "dtype"})
        if unknown:
            raise self.error(f"{field}.{unknown[0]}", "is not a field export writes")
        name = self.of_type(item, f"{field}.name", "name", str)
        if not name:
            raise self.error(f"{field}.name", "is empty")
        shape = self.of_type(item, f"{field}.shape", "shape", list)
        for dim in shape:
            valid = (isinstance(dim, int) and not isinstance(dim, bool) and dim > (0 if symbolic else -1)) or (
                symbolic and isinstance(dim, str) and dim.isidentifier()
            )
            if not valid:
                kinds = "positive integers or names of symbolic dimensions" if symbolic else "non-negative integers"
                raise self.error(f"{field}.shape", f"must list {kinds}, got {json.dumps(shape)}")
        dtype = self.of_type(item, f"{field}.dtype", "dtype", str)
        if dtype not in _DTYPES:
            raise self.error(f"{field}.dtype", f"must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        return InputSpec(name, tuple(shape), dtype)


_JSON_TYPE_NAMES = {int: "an integer", str: "a string", list: "a list", dict: "a JSON object"}


def _read_library(files: ExportFiles, recorded: dict[str, Any]) -> bytes:
    """The library's bytes, once their size and SHA-256 match the sidecar's."""
    try:
        library = files.library.read_bytes()
    except FileNotFoundError:
        raise LoadError(f"{files.library}: no such file (the library {files.sidecar} describes)") from None
    except OSError as error:
        raise LoadError(f"{files.library}: cannot be read: {error}") from error
    if len(library) != recorded["size"]:
        raise LoadError(
            f"{files.library}: {len(library)} bytes, but {files.sidecar} records {recorded['size']} "
            "(truncated, or replaced without its sidecar): export the model again"
        )
    if hashlib.sha256(library).hexdigest() != recorded["sha256"]:
        raise LoadError(
            f"{files.library}: its SHA-256 differs from the one {files.sidecar} records "
            "(modified, or replaced without its sidecar): export the model again"
        )
    return library


def _read_weights(path: Path, specs: list[InputSpec]) -> dict[str, np.ndarray]:
    """The weights named by the sidecar, each checked for presence, shape and dtype."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            missing = [spec.name for spec in specs if spec.name not in names]
            if missing:
                raise LoadError(f"{path}: has no array {missing[0]!r} (the sidecar lists {len(specs)} weights)")
            weights = {spec.name: archive[spec.name] for spec in specs}
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file (the model's weights, written by export)") from None
    except LoadError:
        raise
    except Exception as error:  # a damaged archive: zipfile, zlib, NumPy format or pickle refusal
        raise LoadError(f"{path}: not a readable weights archive: {type(error).__name__}: {error}") from error
    for spec in specs:
        array = weights[spec.name]
        if array.shape != spec.shape or array.dtype != np.dtype(spec.dtype):
            raise LoadError(
                f"{path}: array {spec.name!r} has shape {array.shape} and dtype {_describe_dtype(array.dtype)}, "
                f"the sidecar records {spec.shape} and {spec.dtype}"
            )
    return weights


def _load_library(library: bytes, path: Path) -> Any:
    """Load the checked bytes from a private copy named by their SHA-256: the dynamic loader caches
    libraries by path, so loading `path` itself after a re-export would give the old model; the
    copy is removed once loaded (the loader keeps it mapped). One load at a time in a process, so
    that two threads never write the same copy at once."""
    digest = hashlib.sha256(library).hexdigest()
    with _LOADING:
        copy = _private_directory() / f"{digest}.so"
        copy.write_bytes(library)
        try:
            return tvm.runtime.load_module(str(copy))
        except Exception as error:  # not a library for this machine, or not one TVM made
            raise LoadError(f"{path}: cannot be loaded as a TVM library: {type(error).__name__}: {error}") from error
        finally:
            copy.unlink(missing_ok=True)


_LOADING = threading.Lock()
_PRIVATE_DIRECTORY: list[Path] = []  # made on first load, removed at exit


def _private_directory() -> Path:
    if not _PRIVATE_DIRECTORY:
        directory = Path(tempfile.mkdtemp(prefix="fx2relax-load-"))  # mode 0700: no one else writes there
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        _PRIVATE_DIRECTORY.append(directory)
    return _PRIVATE_DIRECTORY[0]


def _check_parameters(model: CompiledModel, files: ExportFiles) -> None:
    """The library's `main` takes the parameters the sidecar lists (inputs, then weights), by name."""
    vm = model.vm
    try:
        arity = vm._get_function_arity("main")
        names = [vm._get_function_param_name("main", i) for i in range(arity)]
    except Exception as error:
        raise LoadError(f"{files.library}: has no Relax function 'main': {error}") from error
    expected = [spec.name for spec in model.inputs] + list(model.weights)
    if names != expected:
        raise LoadError(
            f"{files.sidecar}: field 'inputs' and 'weights' list parameters {expected}, "
            f"but the library's main takes {names}"
        )


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
