"""``hrnet-zoo benchmark``: a short side-by-side timing of eager PyTorch and every runtime backend here."""
from __future__ import annotations

import argparse
import json
import os

from hrnet_zoo.cli import UsageError

#: (label, backend, precision) of the peers timed against eager fp32; ``auto`` is ``optimize(model)``.
PEERS = (("torch fp32", "torch", "fp32"), ("torch bf16", "torch", "bf16"), ("torch fp16", "torch", "fp16"),
         ("onnxruntime fp32", "onnxruntime", "fp32"), ("openvino fp32", "openvino", "fp32"),
         ("openvino bf16", "openvino", "bf16"), ("openvino fp16", "openvino", "fp16"),
         ("optimize (auto)", "auto", "auto"))


def _cmd_benchmark(args: argparse.Namespace) -> int:
    import torch

    from hrnet_zoo import create_model
    from hrnet_zoo.cli.models import parse_input_size, resolve_model_name
    from hrnet_zoo.complexity import default_input_size
    from hrnet_zoo.runtime import build_runner, measure, optimize
    from hrnet_zoo.runtime.hardware import describe_cpu
    from hrnet_zoo.runtime.plan import installed, unsupported_reason

    name = resolve_model_name(args.model)
    size = parse_input_size(args.input_size) if args.input_size else default_input_size(name)
    if args.batch_size < 1 or args.iters < 1:
        raise UsageError("--batch-size and --iters must be positive")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be a positive integer, got {args.threads} (leave it out for torch's default)")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(name).eval()
    runners, skipped = {"eager fp32": _Eager(model)}, {}
    cpu = torch.device("cpu")
    for label, backend, precision in PEERS:
        if backend != "auto" and not installed(backend):
            skipped[label] = "not installed"
            continue
        reason = unsupported_reason(backend, precision, cpu) if backend != "auto" else None
        if reason:
            skipped[label] = reason
            continue
        runners[label] = (optimize(model, input_size=size, batch_size=args.batch_size) if backend == "auto"
                          else build_runner(model, backend, precision, input_size=size, batch_size=args.batch_size))
    x = torch.randn(args.batch_size, 3, *size)
    with torch.no_grad():
        reference = model(x)
    results = measure(runners, x, reference, rounds=args.iters, iters=1, failed=skipped)
    eager_ms = results["eager fp32"]["median_ms"]
    env = dict(**describe_cpu(), threads=torch.get_num_threads(), loadavg=[round(v, 2) for v in os.getloadavg()])
    rows = [dict(mode=label, runner=getattr(runners[label], "describe", lambda: "")(),
                 median_ms=round(r["median_ms"], 2), images_per_s=round(args.batch_size / r["median_ms"] * 1e3, 2),
                 speedup=round(eager_ms / r["median_ms"], 2), max_rel_err=float(f"{r['err']:.2g}"))
            for label, r in results.items()]
    if args.json:
        print(json.dumps(dict(model=name, input_size=list(size), batch_size=args.batch_size, environment=env,
                              rows=rows, skipped=skipped)))
        return 0
    print(f"{name} at {size[0]}x{size[1]}, batch {args.batch_size}, {env['threads']} threads, {env['cpu']} "
          f"({', '.join(env['cpu_flags'])}); load {env['loadavg'][0]}")
    print(f"{'mode':<18} {'ms':>9} {'images/s':>9} {'speed-up':>9} {'max rel err':>12}  runner")
    for r in rows:
        print(f"{r['mode']:<18} {r['median_ms']:>9.1f} {r['images_per_s']:>9.1f} {r['speedup']:>8.2f}× "
              f"{r['max_rel_err']:>12.1e}  {r['runner']}")
    for label, reason in skipped.items():
        print(f"skipped {label}: {reason}")
    return 0


class _Eager:
    """fp32 eager PyTorch, the baseline."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x):
        import torch

        with torch.no_grad():
            return self.model(x)

    def describe(self) -> str:
        return "torch eager fp32 (BatchNorm, NCHW)"


def register(subparsers) -> None:
    p = subparsers.add_parser("benchmark", help="time eager PyTorch against onnxruntime, OpenVINO and optimize()")
    p.add_argument("--model", required=True, help="model name or alias (w32 → hrnet_w32)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--input-size", help="HxW, default per family (256x192 for pose)")
    p.add_argument("--iters", type=int, default=5, help="timed calls per mode, interleaved (default 5)")
    p.add_argument("--threads", type=int, help="torch / runtime threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=_cmd_benchmark)
