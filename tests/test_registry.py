"""The converter registry: keys, names, duplicates."""

import operator

import pytest
import torch
from torch import nn

from fx2relax import RegistryError
from fx2relax.registry import ConverterRegistry, target_name


def test_duplicate_registration_is_an_error():
    registry = ConverterRegistry()
    registry.register(nn.ReLU)(lambda ctx, input: input)
    with pytest.raises(RegistryError, match="nn.ReLU already has a converter"):
        registry.register(nn.ReLU)(lambda ctx, input: input)


def test_targets_are_keyed_by_opcode_and_real_object():
    registry = ConverterRegistry()

    def convert(ctx, *args):
        return None

    registry.register(nn.ReLU, torch.relu, "relu", operator.add)(convert)
    assert registry.lookup("call_module", nn.ReLU()).converter is convert
    assert registry.lookup("call_function", torch.relu).converter is convert
    assert registry.lookup("call_method", "relu").converter is convert
    assert registry.lookup("call_function", operator.add).converter is convert
    assert registry.lookup("call_function", torch.add) is None  # not merged by name
    assert registry.lookup("call_module", nn.ReLU6()) is None  # exact type, not subclass


def test_non_module_classes_cannot_be_registered():
    with pytest.raises(RegistryError, match="only nn.Module subclasses"):
        ConverterRegistry().register(int)(lambda ctx: None)


def test_target_names_are_readable():
    assert target_name(nn.Conv2d) == "nn.Conv2d"
    assert target_name(torch.nn.functional.relu) == "F.relu"
    assert target_name(torch.relu) == "torch.relu"
    assert target_name(operator.add) == "operator.add"
    assert target_name("view") == "Tensor.view"


def test_a_scoped_registration_ends_with_its_scope():
    registry = ConverterRegistry()
    registry.register(nn.ReLU)(lambda ctx, input: input)
    with registry.scope():
        registry.register(torch.relu)(lambda ctx, input: input)
        assert registry.lookup("call_function", torch.relu) is not None
    assert registry.lookup("call_function", torch.relu) is None
    assert registry.lookup("call_module", nn.ReLU()) is not None  # registered before the scope: kept
    with registry.scope():
        registry.register(torch.relu)(lambda ctx, input: input)  # registering again is no duplicate


def test_any_dtype_parameters_are_recorded_on_the_entry():
    registry = ConverterRegistry()
    registry.register(operator.getitem, any_dtype=("obj", "index"))(lambda ctx, obj, index: obj)
    assert registry.lookup("call_function", operator.getitem).any_dtype == {"obj", "index"}
