"""The target CPU's vector unit: how many lanes of a dtype one vector register holds, how many registers.

Read from the target's LLVM CPU features (its -mcpu and -mattr), never assumed: the schedules and the
weight packing size their vector axes with it, so they fit an AVX2-only CPU and float64 as well as
AVX-512 and float32. (LLVM's own `llvm_get_vector_width` reports 512 bits for an AVX2-only -mcpu.)
"""

from __future__ import annotations

from dataclasses import dataclass

import tvm
from tvm.target.codegen import llvm_cpu_has_features

# x86 extension → (vector bits, vector registers), the widest first; other CPUs get the fallback.
_X86_VECTOR_UNITS = (("avx512f", 512, 32), ("avx", 256, 16))
_FALLBACK = (128, 16)  # SSE2, the x86-64 baseline
_HALF_WIDTH_CPUS = ("znver4",)
"""LLVM CPUs that run each 512-bit operation as two 256-bit halves (AMD Zen 4): an FMA of a whole
vector takes twice a full-width core's time and a half vector's FMA half of it, so FMAs rather than
loads bound a register tile, and work added to save loads loses there: the unrolled lanes of
schedules.conv.UNROLLED_LANES_MIN_CHANNELS, the extra vector of packing.EXTRA_VECTOR_MAX_WASTE and
half vectors padded to whole ones (packing.PADDED_TILE_MAX_WASTE, GROUP_PADDED_VECTORS_MAX_WASTE)."""


@dataclass(frozen=True)
class VectorUnit:
    """One CPU's vector registers: `bits` wide, `registers` of them; `full_width`: whether it runs an
    operation on a whole register at once (not as halves, `_HALF_WIDTH_CPUS`)."""

    bits: int
    registers: int
    full_width: bool = True

    def lanes(self, dtype: str) -> int:
        """Elements of `dtype` in one vector (at least 1)."""
        return max(1, self.bits // tvm.DataType(dtype).bits)


def vector_unit(target: tvm.target.Target) -> VectorUnit:
    """The vector unit of an LLVM target's CPU."""
    is_x86 = str(target.attrs.get("mtriple", "") or tvm.target.codegen.llvm_get_system_triple()).startswith(("x86", "i686"))
    if is_x86:
        for feature, bits, registers in _X86_VECTOR_UNITS:
            if llvm_cpu_has_features(feature, target):
                return VectorUnit(bits, registers, bits < 512 or str(target.attrs.get("mcpu", "")) not in _HALF_WIDTH_CPUS)
    return VectorUnit(*_FALLBACK)


def block_lanes(channels: int, vector: int) -> int | None:
    """The lanes of a block of channels: a whole vector (`vector` lanes) where the channels fill
    whole vectors, else half a vector where they fill whole halves (MobileNetV2's 24 channels in
    float32's 16 lanes), else None. Packed conv weights and channel-blocked activations agree on it."""
    return next((lanes for lanes in (vector, vector // 2) if lanes and channels % lanes == 0), None)
