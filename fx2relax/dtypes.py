"""Tensor dtypes between PyTorch and Relax, and PyTorch's type promotion for Relax values.

Every Relax tensor of an import keeps the dtype PyTorch gives it (token ids int64, masks bool,
activations float32); converters ask `result_type` which dtype an op on their operands has, so the
kernels compute what PyTorch computes (int + float is float, a comparison is bool).
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from tvm import relax, tirx

TENSOR_DTYPES = ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
"""The dtypes an imported tensor may have (float16/bfloat16 and complex are refused)."""


def dtype_name(dtype: torch.dtype) -> str:
    """`torch.int64` → "int64"."""
    return str(dtype).removeprefix("torch.")


def torch_dtype(name: str) -> torch.dtype:
    """"int64" → `torch.int64`."""
    return getattr(torch, name)


def is_floating(name: str) -> bool:
    return name.startswith("float")


def _example(value: Any) -> Any:
    """What torch.result_type sees for `value`: a meta tensor of the same rank and dtype for a Relax
    tensor (PyTorch promotes 0-d tensors like scalars), an int for an integer size expression."""
    if isinstance(value, relax.Expr) and isinstance(getattr(value, "ty", None), relax.TensorType):
        rank = len(value.ty.shape.values)
        return torch.empty((1,) * rank, dtype=torch_dtype(str(value.ty.dtype)), device="meta")
    if isinstance(value, tirx.Expr):
        return 1 if "int" in str(value.ty.dtype) else 1.0
    if isinstance(value, (numbers.Number, bool)):
        return value
    raise TypeError(f"not a tensor or a number: {type(value).__name__}")


def result_type(lhs: Any, rhs: Any) -> str:
    """The dtype PyTorch gives a binary element-wise op on `lhs` and `rhs` (Relax tensors, Python
    numbers or integer size expressions): torch.result_type's rules, so a 0-d tensor or a number
    counts only when its category (bool < integer < float) is higher."""
    return dtype_name(torch.result_type(_example(lhs), _example(rhs)))


def default_float() -> str:
    """PyTorch's default float dtype (what int / int and sqrt of an integer give)."""
    return dtype_name(torch.get_default_dtype())


def float_result(dtype: str) -> str:
    """The dtype of a float-valued op (sqrt, exp, true division) on `dtype`: itself if floating,
    else the default float dtype."""
    return dtype if is_floating(dtype) else default_float()


def value_dtype(value: relax.Expr) -> str:
    """The dtype of a Relax tensor value, e.g. "int64"."""
    return str(value.ty.dtype)
