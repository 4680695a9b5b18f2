"""The supported-ops table, generated from the converter registry so that it never goes stale.

    python -m fx2relax.ops                  # print the markdown table
    python -m fx2relax.ops --update-readme  # rewrite it in README.md between the markers
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from .registry import REGISTRY, Converter, ConverterRegistry

README = Path(__file__).resolve().parents[1] / "README.md"
START_MARKER = "<!-- ops-table:start -->"
END_MARKER = "<!-- ops-table:end -->"
BUILTIN_PACKAGE = "fx2relax.converters."


def ops_table(registry: ConverterRegistry = REGISTRY) -> str:
    """A markdown table of fx2relax's own converters: one row per converter (sorted by family file,
    then name) with every target it handles (nn.X, F.x, torch.x, Tensor.x, operator.x)."""
    targets: dict[Converter, list[str]] = defaultdict(list)
    for entry in registry.entries():
        if entry.converter.__module__.startswith(BUILTIN_PACKAGE):
            targets[entry.converter].append(entry.name)
    rows = sorted(
        (_family_file(converter), converter.__name__, ", ".join(f"`{name}`" for name in sorted(names)))
        for converter, names in targets.items()
    )
    lines = [
        f"{len(rows)} converters for {sum(len(names) for names in targets.values())} targets.",
        "",
        "| converter | file | targets |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | `{family}` | {names} |" for family, name, names in rows]
    return "\n".join(lines) + "\n"


def _family_file(converter: Converter) -> str:
    return converter.__module__.replace(".", "/") + ".py"


def replace_table(text: str, table: str) -> str:
    """`text` with the part between the ops-table markers replaced by `table`."""
    start = text.find(START_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"README must contain {START_MARKER} followed by {END_MARKER}")
    return text[: start + len(START_MARKER)] + "\n" + table + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print fx2relax's supported-ops table (markdown).")
    parser.add_argument("--update-readme", action="store_true", help=f"rewrite the table in {README.name}")
    args = parser.parse_args(argv)
    table = ops_table()
    if args.update_readme:
        README.write_text(replace_table(README.read_text(), table))
        print(f"updated {README}")
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
