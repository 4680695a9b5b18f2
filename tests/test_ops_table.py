"""The supported-ops table in README.md is the one the registry generates (regenerate it with
`python -m fx2relax.ops --update-readme`)."""

from torch import nn

import fx2relax
from fx2relax import ops
from fx2relax.registry import ConverterRegistry


def test_readme_table_is_up_to_date():
    readme = ops.README.read_text()
    assert ops.replace_table(readme, ops.ops_table()) == readme, (
        "README.md's ops table is stale: run `python -m fx2relax.ops --update-readme`"
    )


def test_one_row_per_converter_with_all_its_targets():
    table = ops.ops_table()
    row = next(line for line in table.splitlines() if line.startswith("| `relu` |"))
    assert "`fx2relax/converters/activation.py`" in row
    for target in ("`nn.ReLU`", "`F.relu`", "`torch.relu`", "`Tensor.relu`"):
        assert target in row
    assert "| `getitem` | `fx2relax/converters/indexing.py` | `operator.getitem` |" in table


def test_user_converters_are_left_out():
    registry = ConverterRegistry()
    registry.register(nn.ReLU, "relu")(fx2relax.converters.activation.relu)

    class Mine(nn.Module):
        pass

    registry.register(Mine)(lambda ctx, input: input)
    assert ops.ops_table(registry).splitlines()[4:] == [
        "| `relu` | `fx2relax/converters/activation.py` | `Tensor.relu`, `nn.ReLU` |"
    ]


def test_main_prints_the_table(capsys):
    assert ops.main([]) == 0
    assert capsys.readouterr().out == ops.ops_table()
