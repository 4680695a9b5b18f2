"""The one comparison every op test uses: import a model with fx2relax, run it, compare with PyTorch."""

from __future__ import annotations

import importlib.util
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import tvm
import tvm_ffi
from hypothesis import strategies as st
from torch import nn
from tvm import s_tir, tirx

import fx2relax
from fx2relax.kernels.marks import marked_kernel
from fx2relax.schedules import vectors

RTOL = 1e-5
ATOL = 1e-5
COMPILE_ALL = False
"""Set by `pytest --compiled` (tests/conftest.py): every check_against_torch then compiles."""


def check_against_torch(
    model: torch.nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    input_shape: object = None,
    compiled: bool = False,
) -> np.ndarray | tuple:
    """Import `model`, build it (with `compiled`, or under `pytest --compiled`: fx2relax.compile
    it, scheduled for this CPU), run `inputs` through both and assert the outputs match.

    NaN must sit where PyTorch has NaN and ±inf where PyTorch has ±inf (assert_allclose checks
    both). `input_shape` overrides the shapes passed to from_module (e.g. a symbolic batch).
    Returns fx2relax's output.
    """
    model = model.eval()
    inputs = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
    if input_shape is None:
        input_shape = tuple(inputs[0].shape) if len(inputs) == 1 else [tuple(x.shape) for x in inputs]
    with torch.no_grad():  # clones: an in-place op in the model must not change what fx2relax gets
        expected = model(*[x.clone() for x in inputs])
    mod = fx2relax.from_module(model, input_shape)
    actual = cached_build(mod, compiled=compiled or COMPILE_ALL)(*inputs)
    assert_outputs_match(actual, expected, rtol=rtol, atol=atol)
    return actual


_BUILDS: OrderedDict[tuple[int, bool], list[tuple[tvm.IRModule, fx2relax.CompiledModel]]] = OrderedDict()
_BUILDS_KEPT = 64  # distinct modules: hypothesis repeats a module within one test, rarely across tests
BUILD_COUNTS = {"built": 0, "reused": 0}


def cached_build(mod: tvm.IRModule, *, compiled: bool = False) -> fx2relax.CompiledModel:
    """fx2relax.compile (`compiled`) or fx2relax.build of `mod` for this CPU, reusing the model built
    for a structurally equal module (same kernels, shapes and constants): hypothesis draws the same
    parameters and shapes again with new input values, and building dominates an op test's time."""
    key = (tvm_ffi.structural_hash(mod), compiled)
    candidates = _BUILDS.setdefault(key, [])
    _BUILDS.move_to_end(key)
    for built_mod, model in candidates:
        if tvm_ffi.structural_equal(built_mod, mod):
            BUILD_COUNTS["reused"] += 1
            return model
    model = fx2relax.compile(mod) if compiled else fx2relax.build(mod)
    BUILD_COUNTS["built"] += 1
    candidates.append((mod, model))
    while len(_BUILDS) > _BUILDS_KEPT:
        _BUILDS.popitem(last=False)
    return model


def check_exported(
    model: torch.nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    compiled: bool = False,
    dynamic_shapes: object = None,
) -> np.ndarray | tuple:
    """check_against_torch through torch.export: export `model` on `inputs` (any dtypes), import it
    with fx2relax.from_exported_program, build (or compile) and compare with PyTorch."""
    model = model.eval()
    inputs = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
    with torch.no_grad():
        expected = model(*[x.clone() for x in inputs])
    program = torch.export.export(model, tuple(inputs), dynamic_shapes=dynamic_shapes)
    mod = fx2relax.from_exported_program(program)
    run = cached_build(mod, compiled=compiled or COMPILE_ALL)
    actual = run(*inputs)
    assert_outputs_match(actual, expected, rtol=rtol, atol=atol)
    return actual


def assert_outputs_match(actual: object, expected: object, *, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Compare fx2relax's NumPy output (or tuple of them) with PyTorch's tensor (or tuple)."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_outputs_match(a, e, rtol=rtol, atol=atol)
        return
    if not isinstance(expected, torch.Tensor):  # a Python number a graph returns
        expected = torch.tensor(expected)
    expected = expected.detach().numpy()
    assert actual.shape == expected.shape, f"shape {actual.shape} != PyTorch's {expected.shape}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != PyTorch's {expected.dtype}"
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN pattern differs")
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


class Apply(torch.nn.Module):
    """A model whose forward is `function(x)`: tests an F./torch. function or tensor method."""

    def __init__(self, function: Callable[[torch.Tensor], object]):
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> object:
        return self.function(x)


class ApplyBinary(Apply):
    """A model whose forward is `function(x, y)`, for ops on two input tensors."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> object:
        return self.function(x, y)


class ApplyTernary(Apply):
    """A model whose forward is `function(x, y, z)`, for ops on three input tensors."""

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> object:
        return self.function(x, y, z)


class Functional(torch.nn.Module):
    """forward(x) = function(x, weight, bias, **params), the weight and bias read as get_attr
    tensors: tests F. functions that take their weights as tensors (F.conv2d, F.linear)."""

    def __init__(self, function: Callable[..., object], weight: torch.Tensor, bias: torch.Tensor | None, **params: object):
        super().__init__()
        self.function = function
        self.weight = torch.nn.Parameter(weight.detach().clone())
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().clone())
        self.params = params

    def forward(self, x: torch.Tensor) -> object:
        return self.function(x, self.weight, self.bias, **self.params)


class FunctionalWeightInput(Functional):
    """forward(x, weight) = function(x, weight, bias, **params): the weight is a model input."""

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> object:
        return self.function(x, weight, self.bias, **self.params)


def course_cnn(channels: int = 32, seed: int = 0) -> nn.Sequential:
    """The MLC course's Fashion-MNIST CNN (examples/fashion_mnist.py) with seeded random weights, in
    eval mode: Conv2d(1, channels, 3) → ReLU → MaxPool2d(2) → Flatten → Linear(channels·13·13, 100)
    → ReLU → Linear(100, 10) → Softmax. The course has 32 channels; fewer keep a test quick."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, channels, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(channels * 13 * 13, 100), nn.ReLU(), nn.Linear(100, 10), nn.Softmax(dim=1),
    ).eval()


@st.composite
def tensors(draw, shape: Sequence[int], special_values: bool = False, low: float = -3.0, high: float = 3.0) -> torch.Tensor:
    """A float32 tensor of `shape` with values drawn by hypothesis (seeded), optionally sprinkled
    with NaN, +inf and -inf."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    array = rng.uniform(low, high, size=tuple(shape)).astype(np.float32)
    if special_values:
        specials = np.array([np.nan, np.inf, -np.inf], dtype=np.float32)
        mask = rng.random(array.shape) < draw(st.sampled_from([0.01, 0.05, 0.2]))
        array[mask] = rng.choice(specials, size=int(mask.sum()))
    return torch.from_numpy(np.asarray(array))


@st.composite
def int_tensors(draw, shape: Sequence[int], low: int = -5, high: int = 5, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """An integer tensor of `shape` with values in [low, high], drawn by hypothesis (seeded)."""
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.asarray(np.random.default_rng(seed).integers(low, high, size=tuple(shape), endpoint=True))
    return torch.from_numpy(values).to(dtype)


@st.composite
def bool_tensors(draw, shape: Sequence[int]) -> torch.Tensor:
    """A bool tensor of `shape` (True with a drawn probability, all-False and all-True rows included)."""
    seed = draw(st.integers(0, 2**32 - 1))
    probability = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    return torch.from_numpy(np.asarray(np.random.default_rng(seed).random(tuple(shape)) < probability))


def load_example() -> object:
    """examples/fashion_mnist.py as a module (the examples folder is not a package)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "fashion_mnist.py"
    spec = importlib.util.spec_from_file_location("fashion_mnist_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def written_buffers(func: tirx.PrimFunc) -> dict[str, list[tuple[str, int]]]:
    """For each kernel marked in `func`, the buffers its stages write: (scope, bytes) once TVM has
    placed and compacted each allocation as its lowering does, before choosing stack or heap (a
    parameter of `func`: ("param", 0))."""
    passes = [s_tir.transform.LowerInitBlock(), s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
              s_tir.transform.ConvertBlocksToOpaque(), s_tir.transform.CompactBufferAllocation()]
    lowered = tvm.ir.transform.Sequential(passes)(tvm.IRModule({"main": func}))["main"]
    allocated, written, pending = {}, {}, [lowered.body]
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, s_tir.SBlockRealize):
            for buffer in stmt.block.alloc_buffers:
                extents = [int(extent) for extent in buffer.shape]
                allocated[buffer.name] = (buffer.scope(), math.prod(extents) * tvm.DataType(buffer.dtype).bits // 8)
            kernel = marked_kernel(stmt.block.annotations)
            if kernel is not None:
                written.setdefault(kernel, []).extend(region.source.name for region in stmt.block.writes)
            pending.append(stmt.block.body)
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend(stmt.seq)
        elif hasattr(stmt, "body"):  # loops, bindings, attributes
            pending.append(stmt.body)
    return {kernel: [allocated.get(name, ("param", 0)) for name in names] for kernel, names in written.items()}


def loops_around(func: tirx.PrimFunc, kernel: str, update: bool = True) -> tuple[int | None, tuple[int, ...], tuple[int, ...]]:
    """For the first block of `func` marked `kernel` (its reduction's update block if `update`): the
    extent of the parallel loop above it, the extents of the unrolled loops around it (a register
    tile's rows and vectors), and of all loops inside the parallel one."""
    pending = [(func.body, None, (), ())]
    while pending:
        stmt, parallel, unrolled, inner = pending.pop()
        if isinstance(stmt, s_tir.SBlockRealize):
            block = stmt.block
            if marked_kernel(block.annotations) == kernel and block.name_hint.endswith("_update") == update:
                return parallel, unrolled, inner
            pending.append((block.body, parallel, unrolled, inner))
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend((child, parallel, unrolled, inner) for child in stmt.seq)
        elif isinstance(stmt, tirx.For):
            extent = int(stmt.extent)
            if stmt.kind == tirx.ForKind.PARALLEL:
                pending.append((stmt.body, extent, (), ()))
            else:
                tile = (*unrolled, extent) if stmt.kind == tirx.ForKind.UNROLLED else unrolled
                pending.append((stmt.body, parallel, tile, (*inner, extent)))
        elif hasattr(stmt, "body"):  # bindings, attributes, allocations
            pending.append((stmt.body, parallel, unrolled, inner))
    raise AssertionError(f"no {kernel} block")


def vector_store_lanes(func: tirx.PrimFunc, buffer: tirx.Buffer) -> set[int | None]:
    """The extents of the vectorised loops around each block of `func` that writes `buffer` (None
    for a block under no vectorised loop): the lanes of its stores."""
    found: set[int | None] = set()
    pending = [(func.body, None)]
    while pending:
        stmt, lanes = pending.pop()
        if isinstance(stmt, s_tir.SBlockRealize):
            if any(region.source.same_as(buffer) for region in stmt.block.writes):
                found.add(lanes)
            pending.append((stmt.block.body, lanes))
        elif isinstance(stmt, tirx.SeqStmt):
            pending.extend((child, lanes) for child in stmt.seq)
        elif isinstance(stmt, tirx.For):
            pending.append((stmt.body, int(stmt.extent) if stmt.kind == tirx.ForKind.VECTORIZED else lanes))
        elif hasattr(stmt, "body"):  # bindings, attributes, allocations
            pending.append((stmt.body, lanes))
    return found


def scalarized_functions(mod: tvm.IRModule, target: tvm.target.Target) -> dict[str, int]:
    """{function: how many of its vectorised loops TVM's VectorizeLoop ran lane by lane instead}
    for the functions of a scheduled module, built for `target` (a loop it could not vectorise
    becomes a serial loop over a variable named `<lane>_s`)."""
    return _after_vectorizing(mod, target, SCALARIZED_LOOP)


def lane_divisions(mod: tvm.IRModule, target: tvm.target.Target) -> dict[str, int]:
    """{function: how many of its vector indices divide a ramp of lanes, or take its remainder,
    lane by lane (each such load a gather, each store a scatter)} for the functions of a scheduled
    module built for `target`, as TVM's VectorizeLoop leaves them (buffers flattened)."""
    return _after_vectorizing(mod, target, LANE_DIVISION)


def _after_vectorizing(mod: tvm.IRModule, target: tvm.target.Target, pattern: re.Pattern) -> dict[str, int]:
    """{function: how many times `pattern` occurs in its TVMScript right after TVM's VectorizeLoop}
    for the functions of `mod` that have it, building `mod` for `target`."""
    found: dict[str, int] = {}

    @tvm.instrument.pass_instrument
    class AfterVectorizing:
        def run_after_pass(self, after: tvm.IRModule, info: tvm.transform.PassInfo) -> None:
            if info.name == "tirx.VectorizeLoop":
                for global_var, func in after.functions_items():
                    matches = pattern.findall(func.script())
                    if matches:
                        found[global_var.name_hint] = len(matches)

    with tvm.transform.PassContext(instruments=[AfterVectorizing()]):
        tvm.compile(mod, target=target)
    return found


LANE_DIVISION = re.compile(r"T\.Ramp\([^\[\]]*?\) (?://|%) T\.Broadcast\(")
"""A ramp of lanes divided, or its remainder taken, by a broadcast divisor: an index per lane."""


SCALARIZED_LOOP = re.compile(r"for \w+_s in range")
"""A serial loop VectorizeLoop made of a vectorised one it could not vectorise (src/tirx/transforms/vectorize_loop.cc, Scalarize)."""


AVX512_CPUS = ("sapphirerapids", "znver4")
"""Two AVX-512 CPUs for tests that lower for both: one running whole vectors at once, one running
them as two halves (VectorUnit.full_width)."""


def cpu_target(mcpu: str) -> tvm.target.Target:
    """LLVM for the CPU `mcpu` with two cores, whatever the host's: to lower for it (not to run)."""
    return tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 2})


@contextmanager
def whole_vectors_on_every_cpu() -> Iterator[None]:
    """Pack and schedule as for a CPU that runs whole vectors at once (VectorUnit.full_width), the
    host's CPU included: a test of the layouts such CPUs get (padded tiles, groups padded to whole
    vectors) then also runs them on a znver4 host, which does not get them otherwise."""
    kept = vectors._HALF_WIDTH_CPUS
    vectors._HALF_WIDTH_CPUS = ()
    try:
        yield
    finally:
        vectors._HALF_WIDTH_CPUS = kept
