"""Export a small transformer with torch.export, run it through fx2relax, check it against PyTorch.

    .venv/bin/python examples/transformer_export.py [--model bert|gpt2|llama] [--length 8] [--unscheduled]

The model is built from a tiny config with random weights (nothing is downloaded). Its input is
int64 token ids; the sequence length is a `torch.export.Dim`, so one compiled model runs any length.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import transformers

import fx2relax

CONFIGS = {
    "bert": lambda: transformers.BertModel(transformers.BertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=1000,
        max_position_embeddings=128)),
    "gpt2": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_embd=64, n_layer=2, n_head=4, vocab_size=1000, n_positions=128, use_cache=False, bos_token_id=0, eos_token_id=0)),
    "llama": lambda: transformers.LlamaModel(transformers.LlamaConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
        vocab_size=1000, max_position_embeddings=128, use_cache=False)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(CONFIGS), default="bert")
    parser.add_argument("--length", type=int, default=8, help="sequence length to export with")
    parser.add_argument("--unscheduled", action="store_true", help="fx2relax.build (plain loop nests) instead of compile")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    model = CONFIGS[args.model]().eval()
    ids = torch.randint(0, 1000, (1, args.length))
    length = torch.export.Dim("length", min=2, max=128)
    program = torch.export.export(model, (ids,), dynamic_shapes=({1: length},))

    start = time.perf_counter()
    mod = fx2relax.from_exported_program(program)
    imported = time.perf_counter()
    run = fx2relax.build(mod) if args.unscheduled else fx2relax.compile(mod)
    built = time.perf_counter()
    print(f"{args.model}: imported in {imported - start:.1f}s, {'built' if args.unscheduled else 'compiled'} in "
          f"{built - imported:.1f}s")

    worst = 0.0
    for size in (args.length, args.length * 2 + 1):  # one compiled model, two sequence lengths
        tokens = torch.randint(0, 1000, (1, size))
        with torch.no_grad():
            expected = model(tokens)
        expected = expected[0] if isinstance(expected, tuple) else next(iter(expected.values()))
        actual = run(tokens)
        actual = actual[0] if isinstance(actual, tuple) else actual
        error = float(np.abs(actual - expected.numpy()).max() / np.abs(expected.numpy()).max())
        worst = max(worst, error)
        print(f"  length {size}: output {tuple(actual.shape)}, relative error {error:.1e}")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
