"""The ``hrnet-zoo`` command.

Each group of subcommands lives in its own module with a ``register(subparsers)`` function that adds
its parsers and sets ``func`` on them; `main()` only wires them together and turns
`UsageError` into exit status 2 with one line on stderr, any other `CommandError` or hrnet_zoo error
into exit status 1.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings
from pathlib import Path

from hrnet_zoo import __version__

#: Modules that contribute subcommands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "hrnet_zoo.cli.models",
    "hrnet_zoo.cli.export",
    "hrnet_zoo.cli.weights",
    "hrnet_zoo.cli.runtime",
    "hrnet_zoo.cli.train",
    "hrnet_zoo.cli.predict",
)

EPILOG = """examples:
  hrnet-zoo list 'hrnet_w*'
  hrnet-zoo flops --model w32
  hrnet-zoo flops --model hrnet_w48 --input-size 384x288 --json
  hrnet-zoo benchmark --model w32 --batch-size 4
  hrnet-zoo train --model w32 --train-ann train.json --train-images train/ --val-ann val.json \\
      --val-images val/ --input-size 256x192 --epochs 60 --batch-size 32 --lr 1e-3 --out runs/mine
  hrnet-zoo evaluate --model runs/mine/best --ann val.json --images val/ --json
  hrnet-zoo predict --model runs/mine/best --video in.mp4 --detector yolox_s.onnx --output out/
"""


class CommandError(Exception):
    """A command that could not do its job (e.g. a download failed): reported on stderr without a
    traceback, exit status 1."""

    exit_status = 1


class UsageError(CommandError):
    """Bad input from the user: reported as one line on stderr, exit status 2, no traceback."""

    exit_status = 2


def one_line(error: Exception) -> str:
    """One line for an error, also one re-raised from a DataLoader worker (whose message holds the
    worker's traceback; its last line is the original message)."""
    text = str(error).strip()
    if "Original Traceback" in text:
        text = text.splitlines()[-1]
        text = re.sub(r"^[\w.]+(Error|Exception): ", "", text)
    return " ".join(text.split())


def refuse_overwrite(outputs: list[Path], inputs: list[str | None], force: bool) -> None:
    """UsageError when writing ``outputs`` would replace an input (never, even with ``--force``) or an
    existing file (only with ``--force``)."""
    for output in outputs:
        for given in filter(None, inputs):
            if output.resolve() == Path(given).resolve() or (output.exists() and os.path.samefile(output, given)):
                raise UsageError(f"{output} is an input of this command; choose another --output")
    existing = [str(p) for p in outputs if p.exists()]
    if existing and not force:
        raise UsageError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                         "pass --force to replace, or choose another --output")


def add_output_options(parser: argparse.ArgumentParser, help: str) -> None:
    """``--output`` (alias ``--out``) and ``--force``: the same in every subcommand that writes files."""
    parser.add_argument("--output", "--out", dest="output", required=True, help=help)
    parser.add_argument("--force", action="store_true", help="replace existing output files (never an input)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrnet-zoo", description="High-resolution backbones: models, weights, complexity.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hrnet-zoo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")  # library warnings (fvcore, torch.jit) are not for CLI users
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from hrnet_zoo.errors import HRNetZooError

    try:
        return args.func(args) or 0
    except CommandError as e:
        print(f"hrnet-zoo: error: {e}", file=sys.stderr)
        return e.exit_status
    except HRNetZooError as e:  # every deliberate error of the library says what to do in its message
        print(f"hrnet-zoo: error: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hrnet-zoo: interrupted", file=sys.stderr)
        return 130

