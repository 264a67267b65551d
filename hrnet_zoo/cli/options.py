"""What the commands that read data or run a model share: parsing of sizes, numbers and flip pairs,
checks of input files and folders, loading the model a ``--model`` names, the inference options, and the
rule that turns hrnet_zoo's own errors into one line."""
from __future__ import annotations

import os
import re
from pathlib import Path

from hrnet_zoo.cli import CommandError, UsageError, one_line
from hrnet_zoo.codecs.decode import DECODE_METHODS


def parse_size(text):
    """``--input-size HxW`` → (H, W), or None when not given."""
    from hrnet_zoo.cli.models import parse_input_size
    return None if text is None else parse_input_size(text)


def parse_floats(text: str | None, flag: str):
    """Comma-separated numbers (``--sigmas``) → a list, or None when not given."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"malformed {flag} {text!r}: expected comma-separated numbers") from None


def parse_pairs(text: str | None):
    """``--flip-pairs 1:2,3:4`` → [(1, 2), (3, 4)], or None when not given."""
    if text is None:
        return None
    pairs = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)[:-](\d+)\s*", item)
        if not match:
            raise UsageError(f"malformed --flip-pairs {text!r}: expected 0-based pairs like 1:2,3:4")
        pairs.append((int(match[1]), int(match[2])))
    return pairs


def check_file(path: str | None, flag: str) -> None:
    if path is not None and not Path(path).is_file():
        raise UsageError(f"{flag} file not found: {path}")


def check_dir(path: str | None, flag: str) -> None:
    if path is not None and not Path(path).is_dir():
        raise UsageError(f"{flag} folder not found: {path}")


def model_spec(text: str) -> str:
    """A saved folder as it is; a name or alias resolved to a registry name."""
    if os.path.isdir(text):
        return text
    if os.sep in text or text.startswith("."):
        raise UsageError(f"--model {text!r} is neither a model name nor an existing folder")
    from hrnet_zoo.cli.models import resolve_model_name
    return resolve_model_name(text)


def run_guarded(fn):
    """Run ``fn``; hrnet_zoo's own errors (bad data, a model that does not fit) become one line, exit 1."""
    from hrnet_zoo.errors import HRNetZooError

    try:
        return fn()
    except HRNetZooError as e:
        raise CommandError(one_line(e)) from None
    except RuntimeError as e:
        if "DataLoader worker" in str(e) or "Original Traceback" in str(e):
            raise CommandError(one_line(e)) from None
        raise


def load_model(spec: str, device: str | None):
    import torch

    from hrnet_zoo import create_model, from_pretrained

    spec = model_spec(spec)
    model = from_pretrained(spec) if os.path.isdir(spec) else create_model(spec, pretrained=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval()


def add_inference_options(p) -> None:
    """Options of commands that run a model on images: crop size, decoder, flip test, device."""
    p.add_argument("--input-size", metavar="HxW", help="crop size (default: the model's)")
    p.add_argument("--decoder", choices=DECODE_METHODS, help="default: the model's")
    p.add_argument("--no-flip-test", action="store_true", help="no flip test")
    p.add_argument("--device", help="cpu, cuda … (default: CUDA when available)")
