"""The converter registry: maps an FX node's target to the function that converts it.

Targets are keyed by the real object: an `nn.Module` subclass (for `call_module` nodes), a
callable such as `torch.relu` or `operator.add` (for `call_function` nodes), or a method name
such as `"view"` (for `call_method` nodes). Every converter has one signature,
`converter(ctx, *args, **kwargs)`: the node's own arguments, bound by Python itself, so positional
and keyword arguments are read alike; `ctx` is the `NodeContext` (the module, emit_te, errors).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
from torch.fx._symbolic_trace import _wrapped_fns_to_patch

from .errors import RegistryError

Target = type | Callable[..., Any] | str
Converter = Callable[..., Any]


@dataclass(frozen=True)
class Entry:
    """One registered target: its kind (FX opcode), display name and converter.

    `any_dtype` names the converter parameters that take tensors of any dtype (the converter checks
    them itself); the walk refuses a tensor of another dtype than the model's for every other one.
    """

    opcode: str
    name: str
    converter: Converter
    any_dtype: frozenset[str] = frozenset()
    empty: frozenset[str] = frozenset()  # parameters that accept empty tensors (importer.EmptyTensor)


def target_opcode(target: Target) -> str:
    """The FX opcode whose nodes carry `target`: call_module, call_function or call_method."""
    if isinstance(target, str):
        return "call_method"
    if inspect.isclass(target):
        if issubclass(target, torch.nn.Module):
            return "call_module"
        raise RegistryError(f"cannot register class {target!r}: only nn.Module subclasses are module targets")
    if isinstance(target, torch._ops.OpOverloadPacket):
        raise RegistryError(
            f"cannot register the ATen packet {target}: register each overload (e.g. {target}.default), "
            "as torch.export records them"
        )
    if callable(target):
        return "call_function"
    raise RegistryError(f"cannot register {target!r}: a target is an nn.Module type, a callable or a method name")


def target_name(target: Target) -> str:
    """A readable name for a target: `nn.Conv2d`, `torch.relu`, `operator.add`, `Tensor.view`, and
    for an ATen overload from torch.export its own name, `aten.add.Tensor`."""
    if isinstance(target, str):
        return f"Tensor.{target}"
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", None) or repr(target)
    if inspect.isclass(target) and module.startswith("torch.nn.modules"):
        return f"nn.{name}"
    prefixes = {
        "torch.nn.functional": "F.", "torch._C._nn": "F.", "torch": "torch.", "torch.functional": "torch.",
        "_operator": "operator.", "builtins": "",
    }
    if module in prefixes:
        return prefixes[module] + name
    return f"{module}.{getattr(target, '__qualname__', name)}" if module else name


def is_fx_wrapped(target: Any) -> bool:
    """Whether `target` is a function `torch.fx.wrap` made a leaf of every trace: torch.fx records
    the globals of the module that wrapped it and the function's name there."""
    return callable(target) and any(
        frame.get(name) is target for (_, name), frame in list(_wrapped_fns_to_patch.items())
    )


class ConverterRegistry:
    """Target → converter. Registering a target twice is an error, so import order never decides.

    `builtins` names a module whose import registers the built-in converters; it is imported on
    the registry's first use, so built-ins are in before any user converter or lookup, however
    fx2relax was imported.
    """

    def __init__(self, builtins: str | None = None) -> None:
        self._entries: dict[tuple[str, Any], Entry] = {}
        self._builtins = builtins

    def _load_builtins(self) -> None:
        if self._builtins is not None:
            module, self._builtins = self._builtins, None  # cleared first: the import registers through us
            importlib.import_module(module)

    def register(self, *targets: Target, any_dtype: Sequence[str] = (), empty: Sequence[str] = ()
                 ) -> Callable[[Converter], Converter]:
        """Decorator registering one converter for each of `targets` (aliases share it).

        `any_dtype`: the converter's parameters that accept tensors of any dtype (integer or boolean
        buffers, say); the walk gives every other parameter only tensors of the model's float dtype.
        `empty`: the parameters that accept empty tensors (an importer.EmptyTensor); the walk refuses
        them everywhere else.
        """
        if not targets:
            raise RegistryError("register() needs at least one target")
        self._load_builtins()

        def decorate(converter: Converter) -> Converter:
            for target in targets:
                key = (target_opcode(target), target)
                if key in self._entries:
                    existing = self._entries[key].converter
                    raise RegistryError(
                        f"{target_name(target)} already has a converter "
                        f"({existing.__module__}.{existing.__qualname__}); refusing to register "
                        f"{converter.__module__}.{converter.__qualname__} over it"
                    )
                self._entries[key] = Entry(key[0], target_name(target), converter, frozenset(any_dtype), frozenset(empty))
            return converter

        return decorate

    @contextlib.contextmanager
    def scope(self) -> Iterator[ConverterRegistry]:
        """A `with` block whose registrations are undone when it ends: a converter for one test or
        one import, e.g. `with fx2relax.REGISTRY.scope(): fx2relax.register_converter(MyModule)(convert)`."""
        self._load_builtins()
        saved = dict(self._entries)
        try:
            yield self
        finally:
            self._entries = saved

    def lookup(self, opcode: str, target: Any) -> Entry | None:
        """The entry for an FX node's opcode and target; module targets match on the exact type. A
        function `torch.fx.wrap` made a leaf (timm's `_build_grid`) without an entry of its own takes
        the entry registered for `torch.fx.wrap` itself."""
        self._load_builtins()
        if opcode == "call_module":
            target = type(target)
        try:
            entry = self._entries.get((opcode, target))
        except TypeError:  # an unhashable target has no converter
            return None
        if entry is None and opcode == "call_function" and is_fx_wrapped(target):
            entry = self._entries.get(("call_function", torch.fx.wrap))
        return entry

    def entries(self) -> list[Entry]:
        """All entries, sorted by opcode then name (for the supported-ops table)."""
        self._load_builtins()
        return sorted(self._entries.values(), key=lambda e: (e.opcode, e.name))


REGISTRY = ConverterRegistry(builtins="fx2relax.converters")


def register_converter(*targets: Target, any_dtype: Sequence[str] = (), empty: Sequence[str] = ()
                       ) -> Callable[[Converter], Converter]:
    """Register a converter in fx2relax's registry, e.g. `@register_converter(nn.ReLU, F.relu, "relu")`."""
    return REGISTRY.register(*targets, any_dtype=any_dtype, empty=empty)
