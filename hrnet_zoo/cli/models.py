"""``hrnet-zoo list`` and ``hrnet-zoo flops``: what the zoo holds and what it costs."""
from __future__ import annotations

import argparse
import json

from hrnet_zoo._registry import is_model, list_models, unknown_model_message


def resolve_model_name(name: str) -> str:
    """Accept registry names and short aliases (``w32`` → ``hrnet_w32``)."""
    from hrnet_zoo.cli import UsageError

    for candidate in (name, f"hrnet_{name}"):
        if is_model(candidate):
            return candidate
    raise UsageError(unknown_model_message(name))


def parse_input_size(text: str) -> tuple[int, int]:
    """``"256x192"`` → (256, 192) as (H, W)."""
    from hrnet_zoo.cli import UsageError

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"malformed --input-size {text!r}: expected HxW, e.g. 256x192") from None
    if h < 32 or w < 32:
        raise UsageError(f"--input-size {text!r} is too small: both sides must be at least 32")
    return h, w


def _cmd_list(args: argparse.Namespace) -> int:
    for name in list_models(args.pattern or "*", pretrained=args.pretrained):
        print(name)
    return 0


def _cmd_flops(args: argparse.Namespace) -> int:
    from hrnet_zoo.complexity import count_flops, default_input_size
    from hrnet_zoo import create_model

    name = resolve_model_name(args.model)
    size = parse_input_size(args.input_size) if args.input_size else default_input_size(name)
    result = count_flops(create_model(name), input_size=size)
    row = {"model": name, "input_size": list(size), "params": result["params"],
           "gflops": result["gflops"], "paper_gflops": result["paper_gflops"]}
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{'model':<22}{'input':>10}{'params':>14}{'GFLOPs':>10}{'paper GFLOPs':>14}")
        print(f"{name:<22}{'%dx%d' % size:>10}{row['params']:>14,}{row['gflops']:>10.2f}{row['paper_gflops']:>14.2f}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("list", help="list model names (fnmatch pattern)")
    p.add_argument("pattern", nargs="?", help="e.g. 'hrnet_w*'")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.set_defaults(func=_cmd_list)

    p = subparsers.add_parser("flops", help="parameters and GFLOPs of a model")
    p.add_argument("--model", required=True, help="model name or alias (w32 → hrnet_w32)")
    p.add_argument("--input-size", help="HxW, default per family (256x192 for pose)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    p.set_defaults(func=_cmd_flops)
