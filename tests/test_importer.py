"""The graph walk: what it builds, and every error it raises at import time."""

import gc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fx2relax
from tests.helpers import check_against_torch, course_cnn


def test_main_is_one_dataflow_block_of_named_primfuncs():
    mod = fx2relax.from_module(course_cnn(), (4, 1, 28, 28))
    main = mod["main"]
    assert len(main.params) == 1 and [int(d) for d in main.params[0].ty.shape.values] == [4, 1, 28, 28]
    assert len(main.body.blocks) == 1 and main.body.blocks[0].__class__.__name__ == "DataflowBlock"
    names = {gv.name_hint if hasattr(gv, "name_hint") else str(gv) for gv in mod.get_global_vars()}
    script = mod.script()
    for kernel in ("conv2d", "relu", "max_pool2d", "flatten", "linear", "softmax"):
        assert f"def {kernel}(" in script, kernel
    assert "R.call_tir(cls.conv2d" in script and names


def test_course_cnn_matches_torch_with_float64():
    model = course_cnn().double()
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    expected = model(x).detach().numpy()
    out = fx2relax.build(fx2relax.from_module(model, (2, 1, 28, 28), dtype="float64"))(x.numpy())
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_bare_module_is_imported_as_one_node():
    check_against_torch(nn.Conv2d(2, 4, 3, padding=1), torch.rand(1, 2, 5, 5))


def test_bare_module_with_two_inputs_takes_both():
    torch.manual_seed(0)
    check_against_torch(nn.Bilinear(3, 4, 5).eval(), (torch.randn(2, 3), torch.randn(2, 4)))


def test_non_module_is_a_type_error():
    with pytest.raises(TypeError, match="expects a torch.nn.Module, got function"):
        fx2relax.from_module(lambda x: x, (1, 2))


def test_unsupported_modules_are_all_listed_in_one_error():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.PixelShuffle(2), nn.ReLU(), nn.ChannelShuffle(2))
    with pytest.raises(fx2relax.UnsupportedOpError) as error:
        fx2relax.from_module(model, (1, 1, 8, 8))
    message = str(error.value)
    assert "2 node(s)" in message
    assert "module '1', nn.PixelShuffle" in message and "module '3', nn.ChannelShuffle" in message
    assert "Supported:" in message and "nn.Conv2d" in message
    assert len(error.value.unsupported) == 2


def test_unsupported_function_is_named():
    class Cumulative(nn.Module):
        def forward(self, x):
            return torch.cumprod(x, 0)

    with pytest.raises(fx2relax.UnsupportedOpError, match=r"node 'cumprod' \(function torch.cumprod\)"):
        fx2relax.from_module(Cumulative(), (3,))


def test_untraceable_model_is_a_trace_error():
    class DataDependent(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(fx2relax.TraceError, match="DataDependent"):
        fx2relax.from_module(DataDependent(), (2,))


@pytest.mark.parametrize(
    "shape, match",
    [
        ((4, 0, 28, 28), "dimensions must be positive integers"),
        ((4, -1, 28, 28), "dimensions must be positive integers"),
        ((4, 1.5, 28, 28), "dimensions must be positive integers"),
        ((4, True, 28, 28), "dimensions must be positive integers"),
        ((), "empty shape"),
        ("4,1,28,28", "must be a shape such as"),
        (4, "must be a shape such as"),
        ([(4, 1, 28, 28), (4, 1, 28, 28)], r"takes 1 input\(s\) but input_shape gives 2"),
        ((4, "1x", 28, 28), "not an identifier"),
    ],
)
def test_bad_input_shape_is_refused(shape, match):
    with pytest.raises(fx2relax.InputShapeError, match=match):
        fx2relax.from_module(course_cnn(), shape)


def test_input_of_the_wrong_rank_names_the_first_layer():
    with pytest.raises(fx2relax.ShapeError, match=r"node '_0' \(module '0', nn.Conv2d\).*got shape \(28, 28\)"):
        fx2relax.from_module(course_cnn(), (28, 28))


def test_wrong_image_size_is_a_feature_count_mismatch_at_the_linear_layer():
    with pytest.raises(fx2relax.ShapeError, match=r"module '4', nn.Linear.*in_features=5408"):
        fx2relax.from_module(course_cnn(), (1, 1, 32, 32))


def test_unsupported_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype 'int8' is not supported"):
        fx2relax.from_module(course_cnn(), (1, 1, 28, 28), dtype="int8")


def test_unexpected_converter_failure_names_the_node():
    class Odd(nn.Module):
        pass

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.odd = Odd()

        def forward(self, x):
            return self.odd(x)

    with fx2relax.REGISTRY.scope():

        @fx2relax.register_converter(Odd)
        def broken(ctx, input):
            raise RuntimeError("boom")

        with pytest.raises(fx2relax.ConversionError, match=r"node 'odd' \(module 'odd', .*Odd\): RuntimeError: boom"):
            fx2relax.from_module(Model(), (2,))


def test_converter_given_arguments_it_does_not_take_is_refused():
    class Scaled(nn.Module):
        def forward(self, x, scale):
            return x * scale

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.scaled = Scaled()

        def forward(self, x):
            return self.scaled(x, 2.0)

    with fx2relax.REGISTRY.scope():

        @fx2relax.register_converter(Scaled)
        def scaled(ctx, input):
            return input

        with pytest.raises(fx2relax.UnsupportedParameterError, match="arguments not understood"):
            fx2relax.from_module(Model(), (2,))


def test_registered_user_module_is_a_leaf_and_converted_whole():
    from fx2relax.kernels.activation import relu

    class MyRelu(nn.Module):
        def forward(self, x):
            return torch.where(x > 0, x, torch.cumprod(x * 0, 0))  # no converter for cumprod: not traced into

    with fx2relax.REGISTRY.scope():

        @fx2relax.register_converter(MyRelu)
        def my_relu(ctx, input):
            return ctx.emit_te(relu, input)

        check_against_torch(nn.Sequential(nn.Linear(3, 3), MyRelu()), torch.randn(2, 3))
    with pytest.raises(fx2relax.UnsupportedOpError, match="function torch.cumprod"):  # the scope has ended
        fx2relax.from_module(nn.Sequential(nn.Linear(3, 3), MyRelu()), (2, 3))


def test_a_float64_model_imported_as_float32_is_refused_naming_the_weight_and_the_fix():
    with pytest.raises(fx2relax.DtypeError) as error:
        fx2relax.from_module(course_cnn().double(), (1, 1, 28, 28))
    message = str(error.value)
    assert "node '_0' (module '0', nn.Conv2d): parameter '0.bias': has dtype float64 but the model is imported as float32" in message
    assert 'dtype="float64"' in message and "model.float()" in message


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_a_float_buffer_of_another_float_dtype_is_refused(dtype):
    class Offset(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("offset", torch.ones(3, dtype=dtype))

        def forward(self, x):
            return x + self.offset

    with pytest.raises(fx2relax.DtypeError, match=rf"parameter 'offset': has dtype {str(dtype)[6:]} but .* model.float\(\)"):
        fx2relax.from_module(Offset(), (2, 3))


class WithBuffers(nn.Module):
    """An int64 index table and a bool mask among the buffers, read as typed constants."""

    def __init__(self):
        super().__init__()
        self.register_buffer("positions", torch.tensor([2, 0, 1]))
        self.register_buffer("keep", torch.tensor([True, False, True]))

    def forward(self, x):
        return x[:, self.positions][:, self.keep]


def test_integer_and_boolean_buffers_keep_their_dtype():
    importer, _ = fx2relax.importer.import_model(WithBuffers(), (2, 3))
    dtypes = {name: str(value.ty.dtype) for value, name in importer.param_names.items()}
    assert dtypes == {"positions": "int64", "keep": "bool"}
    check_against_torch(WithBuffers(), torch.randn(2, 3))


def test_an_integer_tensor_where_a_converter_computes_in_floats_is_refused_by_name():
    class AddCounts(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("counts", torch.arange(3))

        def forward(self, x):
            return F.linear(x, self.counts)  # fx2relax's linear computes in the model's float dtype

    with pytest.raises(fx2relax.DtypeError, match=r"parameter 'weight': takes float32 tensors, got a int64 tensor \(buffer 'counts'\)"):
        fx2relax.from_module(AddCounts(), (2, 3))



class ReluThenLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = x.relu()
        return self.fc(y)  # the line the error names


def test_a_refusal_names_the_users_source_line_and_leaves_stderr_clean(capfd):
    with pytest.raises(fx2relax.ShapeError) as error:
        fx2relax.from_module(ReluThenLinear(), (3, 3))
    assert error.value.source.startswith(f"{__file__}:")
    assert str(error.value).endswith("return self.fc(y)  # the line the error names")
    del error
    gc.collect()  # the importer and its BlockBuilder are gone: TVM would warn now about open blocks
    assert capfd.readouterr().err == ""


def test_the_walk_itself_refuses_unsupported_ops_naming_their_source_lines():
    class Cumulative(nn.Module):
        def forward(self, x):
            return torch.cumprod(x, 0) + torch.cummax(x, 0).values

    importer = fx2relax.importer.GraphImporter(fx2relax.importer.trace(Cumulative()))
    with pytest.raises(fx2relax.UnsupportedOpError) as error:
        importer.import_graph([(3,)])
    assert len(error.value.unsupported) == 2
    assert f"      at {__file__}:" in str(error.value)
    assert "return torch.cumprod(x, 0) + torch.cummax(x, 0).values" in str(error.value)


class OptionalMask(nn.Module):
    """forward(x, mask=None, scale=2.0), as timm's attention blocks take an optional attn_mask."""

    def forward(self, x, mask=None, scale=2.0):
        return torch.nn.functional.scaled_dot_product_attention(x, x, x, attn_mask=mask) * scale


def test_optional_arguments_left_out_take_their_defaults():
    x, mask = torch.randn(2, 3, 4), torch.randn(3, 3)
    check_against_torch(OptionalMask(), x)
    check_against_torch(OptionalMask(), [x, mask])  # given, the optional mask is an input


def test_a_graph_traced_with_its_input_shape_leaves_the_optional_arguments_out():
    x = torch.randn(2, 3, 4)
    check_against_torch(fx2relax.importer.trace(OptionalMask(), x.shape), x)  # how the timm survey traces


def test_a_graph_traced_beforehand_with_an_optional_tensor_argument_is_refused_with_the_remedy():
    graph_module = torch.fx.symbolic_trace(OptionalMask())  # `mask` is an input of this graph
    with pytest.raises(fx2relax.InputShapeError, match=r"'mask' \(default None\).*trace\(model, input_shape\)"):
        fx2relax.from_module(graph_module, (2, 3, 4))


def test_more_shapes_than_inputs_are_refused():
    with pytest.raises(fx2relax.InputShapeError, match=r"takes 3 input\(s\) but input_shape gives 4 shape\(s\)"):
        fx2relax.from_module(OptionalMask(), [(2, 3, 4)] * 4)
