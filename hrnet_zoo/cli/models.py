"""``hrnet-zoo list``, ``hrnet-zoo info`` and ``hrnet-zoo flops``: what the zoo holds and what it costs."""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys

from hrnet_zoo._factory import list_models, unknown_model_message
from hrnet_zoo._registry import alias_prefixes, is_model, list_families
from hrnet_zoo.cli import UsageError

# The prefixes tried, in order, to expand a short alias are the families' (``register_family(alias_prefixes=...)``):
# ``w32`` → ``hrnet_w32``, ``r50`` → ``simplebaseline_r50``, ``v2_w48`` → ``hrnetv2_w48``.

FLOPS_EPILOG = """examples:
  hrnet-zoo flops --model w32                              # HRNet-W32 pose at 256x192
  hrnet-zoo flops --model w48 --input-size 384x288 --json  # one JSON object for scripts
  hrnet-zoo flops --model w32 --by-module                  # where the multiply-adds are
  hrnet-zoo flops --model 'hrnet_w*_cls' --no-fvcore       # several models, paper convention only
  hrnet-zoo flops --all --json > zoo.json                  # every model at its default input

GFLOPs: fvcore's count / 1e9 (1 multiply-add = 1 flop; BatchNorm, upsampling and pooling included,
transposed convs at input size). paper GFLOPs: conv + linear multiply-adds / 2^30, transposed convs at
output size: the official get_model_summary convention that reproduces the published tables.
fvcore runs the model on real tensors, so it counts inputs up to 4096x4096 pixels (x batch);
--no-fvcore counts any size from shapes alone.
"""

LIST_EPILOG = """examples:
  hrnet-zoo list                  # every model
  hrnet-zoo list 'hrnetv2_*'      # fnmatch pattern
  hrnet-zoo list w3*              # aliases work in patterns too (hrnet_w30, hrnet_w32)
  hrnet-zoo list --pretrained     # only models with published weights
"""

INFO_EPILOG = """examples:
  hrnet-zoo info w32
  hrnet-zoo info hrnetv2p_w18 --no-fvcore
  hrnet-zoo info hrnet_w48_cls --json
"""


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def resolve_model_name(name: str) -> str:
    """A registry name from a name or short alias (``w32`` → ``hrnet_w32``); else a UsageError
    naming the closest registered names."""
    key = _normalise(name)
    for prefix in alias_prefixes():
        if is_model(prefix + key):
            return prefix + key
    raise UsageError(unknown_model_message(name, closest_models(key)))


def closest_models(key: str, n: int = 3) -> list[str]:
    """Registered names closest to ``key``, comparing aliases with aliases (``w33`` ~ ``w32``) and
    full names with full names, so that a shared ``hrnet_`` prefix alone does not make a match."""
    short_to_name: dict[str, str] = {}
    for name in list_models():
        for prefix in alias_prefixes():
            if prefix and name.startswith(prefix):
                short_to_name.setdefault(name[len(prefix):], name)
        short_to_name[name] = name
    close = difflib.get_close_matches(key, list(short_to_name), n=2 * n, cutoff=0.6)
    return list(dict.fromkeys(short_to_name[c] for c in close))[:n]


def is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def resolve_model_names(pattern: str) -> list[str]:
    """One name/alias, or every model an fnmatch pattern (aliases allowed) matches."""
    if not is_pattern(pattern):
        return [resolve_model_name(pattern)]
    names = match_models(pattern)
    if not names:
        raise UsageError(f"no model matches {pattern!r}; `hrnet-zoo list` shows every name")
    return names


def match_models(pattern: str, pretrained: bool = False) -> list[str]:
    """Names an fnmatch pattern matches, trying the alias prefixes in turn (``w3*`` → ``hrnet_w3*``)."""
    for prefix in alias_prefixes():
        names = list_models(prefix + _normalise(pattern), pretrained=pretrained)
        if names:
            return names
    return []


#: fvcore counts by running the model on real tensors; a bigger input (× batch) is refused before any
#: allocation (10000x10000 needs ~20 GB). Without fvcore the count runs on the meta device, at any size.
FVCORE_MAX_SIDE = 4096
FVCORE_MAX_PIXELS = FVCORE_MAX_SIDE * FVCORE_MAX_SIDE

_SIZE = re.compile(r"^\s*(\d+)\s*[x×X,]\s*(\d+)\s*$")


def parse_input_size(text: str) -> tuple[int, int]:
    """``"256x192"`` → (256, 192) as (H, W)."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"malformed --input-size {text!r}: expected HxW (height x width), e.g. 256x192")
    h, w = int(match[1]), int(match[2])
    if h < 32 or w < 32:
        raise UsageError(f"--input-size {text!r} is too small: height and width must be at least 32")
    return h, w


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def json_row(stats: dict) -> dict:
    """The scripted form: exactly ``model, input_size, params, gflops, paper_gflops``."""
    return {"model": stats["model"], "input_size": list(stats["input_size"]), "params": stats["params"],
            "gflops": stats["gflops"], "paper_gflops": stats["paper_gflops"]}


def _fmt_gflops(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f}M"


_COLUMNS = (("model", "<", 24), ("input", ">", 10), ("params", ">", 10), ("GFLOPs", ">", 8), ("paper GFLOPs", ">", 14))


def _table_line(cells) -> str:
    return "".join(f"{cell:{align}{width}}" for cell, (_, align, width) in zip(cells, _COLUMNS)).rstrip()


def _table_row(stats: dict) -> str:
    h, w = stats["input_size"]
    batch = f"{stats['batch_size']}×" if stats["batch_size"] != 1 else ""
    return _table_line([stats["model"], f"{batch}{h}x{w}", _fmt_params(stats["params"]),
                        _fmt_gflops(stats["gflops"]), _fmt_gflops(stats["paper_gflops"])])


def _print_by_module(stats: dict) -> None:
    print()
    print(_table_line(["module", "", "params", "GFLOPs", "paper GFLOPs"]))
    for name, row in stats["by_module"].items():
        indent = "  " * name.count(".")
        print(_table_line([indent + name, "", _fmt_params(row["params"]), _fmt_gflops(row["gflops"]),
                           _fmt_gflops(row["paper_gflops"])]))


def _cmd_list(args: argparse.Namespace) -> int:
    pattern = args.pattern or "*"
    names = match_models(pattern, pretrained=args.pretrained)
    if not names:
        what = "models with weights" if args.pretrained else "models"
        print(f"hrnet-zoo: no {what} match {pattern!r}", file=sys.stderr)
        return 1
    print("\n".join(names))
    return 0


def _cmd_flops(args: argparse.Namespace) -> int:
    from hrnet_zoo.complexity import measure_model

    if args.all == bool(args.model):
        raise UsageError("give either --model MODEL (name, alias or pattern) or --all")
    names = list_models() if args.all else resolve_model_names(args.model)
    size = parse_input_size(args.input_size) if args.input_size else None
    fvcore = not args.no_fvcore
    if fvcore and size and args.batch_size * size[0] * size[1] > FVCORE_MAX_PIXELS:
        raise UsageError(f"--input-size {size[0]}x{size[1]} × batch {args.batch_size} is over the "
                         f"{FVCORE_MAX_SIDE}x{FVCORE_MAX_SIDE} pixels fvcore may count (its trace runs the model on "
                         "real tensors of that size); add --no-fvcore for the paper GFLOPs, counted from shapes "
                         "without allocating")
    if args.json:
        rows = []
        for name in names:
            stats = measure_model(name, size, args.batch_size, fvcore, args.depth)
            row = json_row(stats)
            if args.by_module:
                row["by_module"] = stats["by_module"]
            rows.append(row)
        single = not args.all and not is_pattern(args.model)
        print(json.dumps(rows[0] if single else rows))
        return 0
    print(_table_line([c for c, _, _ in _COLUMNS]), flush=True)
    for name in names:
        stats = measure_model(name, size, args.batch_size, fvcore, args.depth)
        print(_table_row(stats), flush=True)  # rows appear as they are counted (--all takes minutes)
        if args.by_module:
            _print_by_module(stats)
    print("\nGFLOPs: fvcore (1 multiply-add = 1 flop, BN/upsampling included) / 1e9; "
          "paper GFLOPs: conv+linear multiply-adds / 2^30 (official get_model_summary).")
    return 0


def weights_lines(name: str) -> list[str]:
    """One line per weight set in the manifest, default first; ``["none"]`` without any."""
    try:
        from hrnet_zoo.weights.manifest import source_label, weights_for
    except ImportError:  # a manifest without per-model queries
        return ["none"]
    lines = []
    for entry in weights_for(name):
        notes = ["default"] if entry.get("default") else []
        if entry.get("init") == "backbone":
            notes.append(f"backbone only, from {entry.get('weights_of')}")
        metric = entry.get("metric") or {}
        if metric.get("value") is not None:
            notes.append(f"{metric['name']} {metric['value']}")
        lines.append(f"{entry['tag']}: {source_label(entry)}" + (f" ({'; '.join(notes)})" if notes else ""))
    return lines or ["none"]


def _architecture(model) -> str:
    doc = (type(model).__doc__ or "").strip().splitlines()
    return type(model).__name__ + (f": {doc[0]}" if doc else "")


def _config(model) -> dict:
    return dict(getattr(model, "_hub_mixin_config", None) or {})


def pretrained_cfg_of(model, name: str, tag: str | None):
    """The ``pretrained_cfg`` the model gets with the weights ``tag`` (default: its default weights,
    or the family defaults when it has none), read from the manifest without downloading anything."""
    from hrnet_zoo.weights.manifest import UnknownWeightsError
    from hrnet_zoo.weights.pretrained import weights_spec

    try:
        spec = weights_spec(name, tag or True)
    except UnknownWeightsError as e:
        if tag:
            raise UsageError(str(e)) from None
        return model.pretrained_cfg
    return spec.pretrained_cfg(model.pretrained_cfg)


def pretrained_cfg_lines(cfg) -> list[tuple[str, str]]:
    """``hrnet-zoo info`` rows for a [`PretrainedCfg`][hrnet_zoo.pretrained_cfg.PretrainedCfg]."""
    h, w = cfg.input_size
    rows = [("input size", f"{h}x{w} (HxW)"),
            ("normalisation", f"{cfg.color} {cfg.scale}, mean {list(cfg.mean)}, std {list(cfg.std)}")]
    if cfg.keypoints is not None:
        kset = cfg.keypoints
        rows += [("keypoints", f"{kset.name}, {kset.num_keypoints}: {', '.join(kset.keypoint_names)}"),
                 ("flip pairs", " ".join(f"{a}-{b}" for a, b in kset.flip_pairs) or "none")]
    if cfg.output_stride:
        rows.append(("heatmaps", f"stride {cfg.output_stride}, sigma {cfg.heatmap_sigma}, decoder {cfg.decoder}"))
    if cfg.num_classes:
        rows.append(("classes", str(cfg.num_classes)))
    if cfg.source:
        rows.append(("weights cfg", f"{cfg.tag} from {cfg.source} ({cfg.license or 'licence not stated'})"))
    return rows


def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    from hrnet_zoo import create_model
    from hrnet_zoo.complexity import measure_model

    name = resolve_model_name(args.model)
    with torch.device("meta"):  # for its class and config only: nothing is allocated
        model = create_model(name)
    cfg = pretrained_cfg_of(model, name, args.tag)
    stats = measure_model(name, fvcore=not args.no_fvcore)
    weights = weights_lines(name)
    if args.json:
        print(json.dumps({**json_row({"model": name, **stats}), "architecture": type(model).__name__,
                          "config": _config(model), "weights": weights, "pretrained_cfg": cfg.to_dict()}))
        return 0
    h, w = stats["input_size"]
    config = ", ".join(f"{k}={v}" for k, v in _config(model).items()) or "-"
    rows = [
        ("model", name),
        ("architecture", _architecture(model)),
        ("config", config),
        ("default input", f"{h}x{w}"),
        ("params", f"{stats['params']:,} ({_fmt_params(stats['params'])})"),
        ("GFLOPs", f"{_fmt_gflops(stats['gflops'])} fvcore, {_fmt_gflops(stats['paper_gflops'])} paper convention"),
        ("weights", weights[0]),
        *(("", line) for line in weights[1:]),
        *pretrained_cfg_lines(cfg),
    ]
    for key, value in rows:
        print(f"{key:<15}{value}")
    return 0


def default_inputs_help() -> str:
    """The families' default inputs in words (``256x192 pose, 224x224 classification, …``), each once."""
    return ", ".join(dict.fromkeys(h for f in list_families() for h in f.default_input_help)) or "the model's"


def register(subparsers) -> None:
    formatter = argparse.RawDescriptionHelpFormatter

    p = subparsers.add_parser("list", help="list model names (fnmatch pattern)", epilog=LIST_EPILOG,
                              formatter_class=formatter)
    p.add_argument("pattern", nargs="?", help="fnmatch pattern or alias, e.g. 'hrnet_w*' (default: all)")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.set_defaults(func=_cmd_list)

    p = subparsers.add_parser("info", help="architecture, params, GFLOPs and weights of a model",
                              epilog=INFO_EPILOG, formatter_class=formatter)
    p.add_argument("model", help="model name or alias (w32 → hrnet_w32)")
    p.add_argument("--tag", help="show the pretrained_cfg of these weights (default: the default weights)")
    p.add_argument("--no-fvcore", action="store_true", help="skip fvcore's trace (paper GFLOPs only; faster)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.set_defaults(func=_cmd_info)

    p = subparsers.add_parser("flops", help="parameters and GFLOPs of a model (two conventions)",
                              epilog=FLOPS_EPILOG, formatter_class=formatter)
    p.add_argument("--model", help="model name, alias (w32 → hrnet_w32) or fnmatch pattern")
    p.add_argument("--all", action="store_true", help="every registered model at its default input")
    p.add_argument("--input-size", metavar="HxW",
                   help=f"input height x width; default per family: {default_inputs_help()}")
    p.add_argument("--batch-size", type=_positive_int, default=1, metavar="B",
                   help="batch size; GFLOPs are for the whole batch (default 1)")
    p.add_argument("--json", action="store_true",
                   help="JSON for scripts: {model, input_size, params, gflops, paper_gflops} (a list with --all "
                        "or a pattern)")
    p.add_argument("--by-module", action="store_true", help="also break the counts down per module")
    p.add_argument("--depth", type=_positive_int, default=2, help="module depth of --by-module (default 2)")
    p.add_argument("--no-fvcore", action="store_true", help="skip fvcore's trace: gflops is null (faster)")
    p.set_defaults(func=_cmd_flops)
