"""``hrnet-zoo train`` and ``hrnet-zoo evaluate``: fine-tuning and COCO AP (``predict`` is in
`hrnet_zoo.cli.predict`, which shares the helpers here)."""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from hrnet_zoo.cli import UsageError, refuse_overwrite
from hrnet_zoo.cli.pose_io import RUNTIMES, evaluation_runner, metrics_option, naming_model, print_metrics
from hrnet_zoo.cli.keypoint_options import add_keypoint_options, check_keypoint_set, print_keypoint_summary
from hrnet_zoo.cli.options import (add_inference_options, check_dir, check_file, load_model, model_spec, parse_floats,
                                   parse_pairs, parse_size, run_guarded)

TRAIN_EPILOG = """examples:
  hrnet-zoo train --model w32 --train-ann train.json --train-images train/ \\
      --val-ann val.json --val-images val/ --input-size 256x192 --epochs 60 --batch-size 32 --lr 1e-3 --out runs/fish
  hrnet-zoo train ... --out runs/fish --resume                   # continue an interrupted run
  hrnet-zoo train ... --optimizer adamw --weight-decay 1e-4 --warmup-epochs 5 --schedule cosine
  hrnet-zoo train ... --device cpu --precision bf16              # bf16 autocast (CPUs with native bf16)
  torchrun --nproc_per_node 4 -m hrnet_zoo.cli train ... --sync-bn   # 4 GPUs (DDP)

Output: RUN/best/ and RUN/last/ (save_pretrained folders; last/ also holds the optimizer state), and
RUN/metrics.jsonl (one JSON object per epoch). The defaults are the official recipe: Adam, lr 1e-3,
no weight decay, no warmup, MultiStepLR x0.1 at epochs 170 and 200 of 210, scaled to --epochs.
"""

EVALUATE_EPILOG = """examples:
  hrnet-zoo evaluate --model runs/fish/best --ann val.json --images val/ --json
  hrnet-zoo evaluate --model runs/fish/best --ann val.json --images val/ --boxes detections.json
  hrnet-zoo evaluate --results keypoints.json --ann val.json --json      # no model: score a results file
  hrnet-zoo evaluate --model runs/fish/best --ann val.json --images val/ --runtime auto --batch-size 16

AP figures are pycocotools COCOeval (keypoints) with the dataset's OKS sigmas, after the official
rescoring and OKS-NMS (thresholds 0.2 and 0.9). -1 means pycocotools has no ground truth in that
area range.
"""

def _keypoint_options(args: argparse.Namespace) -> dict:
    """--flip-pairs, --sigmas, --keypoint-set, --category-id as load_coco_keypoints' keyword arguments."""
    return dict(flip_pairs=parse_pairs(args.flip_pairs), sigmas=parse_floats(getattr(args, "sigmas", None), "--sigmas"),
                keypoint_set=args.keypoint_set, category_id=args.category_id)


# --------------------------------------------------------------------------------------------- train
#: train options whose parser default is None, so that a resume knows which were given: field -> default.
_TRAIN_DEFAULTS = {"epochs": 210, "batch_size": 32, "lr": 1e-3, "seed": 0, "schedule": "multistep",
                   "optimizer": "adam", "weight_decay": 0.0, "warmup_epochs": 0}


def _check_train_numbers(args: argparse.Namespace) -> None:
    for value, flag in ((args.epochs, "--epochs"), (args.batch_size, "--batch-size"), (args.max_steps, "--max-steps")):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be a positive integer, got {value}")
    for value, flag in ((args.workers, "--workers"), (args.seed, "--seed"), (args.warmup_epochs, "--warmup-epochs")):
        if value is not None and value < 0:
            raise UsageError(f"{flag} must be 0 or more, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.weight_decay is not None and not args.weight_decay >= 0:
        raise UsageError(f"--weight-decay must be 0 or more, got {args.weight_decay}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file; a run needs a folder (new, empty, or a run to --resume)")


def _cmd_train(args: argparse.Namespace) -> int:
    from hrnet_zoo.training import TrainConfig, train

    for path, flag in ((args.train_ann, "--train-ann"), (args.val_ann, "--val-ann")):
        check_file(path, flag)
    for path, flag in ((args.train_images, "--train-images"), (args.val_images, "--val-images")):
        check_dir(path, flag)
    if (args.val_ann is None) != (args.val_images is None):
        raise UsageError("--val-ann and --val-images go together")
    if args.pretrained is not None and args.no_pretrained:
        raise UsageError("--pretrained TAG and --no-pretrained exclude each other")
    _check_train_numbers(args)
    check_keypoint_set(args.keypoint_set)
    pretrained = False if args.no_pretrained else (args.pretrained or True)
    given = {name for name in (*_TRAIN_DEFAULTS, "input_size", "max_steps") if getattr(args, name) is not None}
    given.add("model")
    config = TrainConfig(
        model=model_spec(args.model), train_ann=args.train_ann, train_images=args.train_images,
        val_ann=args.val_ann, val_images=args.val_images, out=args.out, input_size=parse_size(args.input_size),
        pretrained=pretrained, new_head=args.new_head, max_steps=args.max_steps, workers=args.workers,
        amp=args.amp, precision=args.precision, sync_bn=args.sync_bn, resume=args.resume, force=args.force, device=args.device,
        flip_pairs=parse_pairs(args.flip_pairs), sigmas=parse_floats(args.sigmas, "--sigmas"),
        keypoint_set=args.keypoint_set, category_id=args.category_id,
        flip_test=not args.no_flip_test, progress=not args.no_progress, given=frozenset(given),
        **{name: getattr(args, name) if getattr(args, name) is not None else default
           for name, default in _TRAIN_DEFAULTS.items()})
    result = run_guarded(lambda: train(config))
    if int(os.environ.get("RANK", "0")) == 0:
        best = Path(args.out) / "best"
        where = best if result["best_epoch"] is not None else "no best/ yet (no epoch ended)"
        print(json.dumps(result) if args.json else
              f"best AP {result['best_ap']} (epoch {result['best_epoch']}); {result['steps']} steps in "
              f"{result['seconds']:.1f} s; {where}")
    return 0


# --------------------------------------------------------------------------------------------- evaluate
def _load_ground_truth(args: argparse.Namespace, flip_test: bool):
    """The --ann file with the keypoint options, its summary printed once (evaluate's start)."""
    from hrnet_zoo.data.coco import load_coco_keypoints

    coco = load_coco_keypoints(args.ann, args.images, check_images=False, **_keypoint_options(args))
    print_keypoint_summary(coco.keypoint_choice, flip_test)
    return coco


def _check_evaluate_args(args: argparse.Namespace) -> None:
    check_file(args.ann, "--ann")
    check_file(args.boxes, "--boxes")
    check_file(args.results, "--results")
    if args.workers < 0:
        raise UsageError(f"--workers must be 0 or more, got {args.workers}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.results is not None and args.runtime is not None:
        raise UsageError("--runtime runs a model: not with --results")
    check_keypoint_set(args.keypoint_set)
    if args.results is not None:
        if args.model is not None or args.boxes is not None:
            raise UsageError("--results scores an existing results file: no --model or --boxes with it")
    elif args.model is None or args.images is None:
        raise UsageError("evaluate needs --model and --images (or --results R.json)")
    else:
        check_dir(args.images, "--images")
    if args.output is not None:
        refuse_overwrite([Path(args.output)], [args.ann, args.boxes, args.results], args.force)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from hrnet_zoo.evaluation import evaluate, evaluate_results
    from hrnet_zoo.evaluation.files import dumps

    _check_evaluate_args(args)
    metric_names = metrics_option(args.metrics)
    if args.results is not None:
        metrics = run_guarded(lambda: evaluate_results(
            args.results, _load_ground_truth(args, False), metrics=metric_names, results_file=args.output))
    else:
        size = parse_size(args.input_size)

        def run():
            coco = _load_ground_truth(args, not args.no_flip_test)
            model = load_model(args.model, args.device)
            model = evaluation_runner(model, args.runtime, args.batch_size, size or model.pretrained_cfg.input_size)
            start = time.perf_counter()
            metrics = naming_model(args.model, lambda: evaluate(
                model, coco, boxes=args.boxes, input_size=size, flip_test=not args.no_flip_test,
                decoder=args.decoder, results_file=args.output, workers=args.workers, progress=not args.json,
                metrics=metric_names, batch_size=args.batch_size))
            seconds = time.perf_counter() - start  # prediction and scoring; not loading nor optimize()
            return dict(metrics, images_per_s=round(metrics["num_images"] / seconds, 2),
                        runtime=model.describe() if args.runtime else "torch eager")
        metrics = run_guarded(run)
    if args.json:
        print(dumps(metrics))
    else:
        print_metrics(metrics)
    return 0


# --------------------------------------------------------------------------------------------- parsers
def register(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    _add_train_parser(subparsers)

    p = subparsers.add_parser("evaluate", help="COCO keypoint AP (pycocotools) of a model or a results file",
                              epilog=EVALUATE_EPILOG, formatter_class=fmt)
    p.add_argument("--model", help="model name/alias, or a save_pretrained folder")
    p.add_argument("--ann", required=True, metavar="B.json", help="COCO keypoint file (ground truth)")
    p.add_argument("--images", metavar="DIR")
    p.add_argument("--boxes", metavar="D.json", help="a detector's COCO results (default: ground-truth boxes)")
    p.add_argument("--results", metavar="R.json", help="score this COCO keypoint results file (no model)")
    add_inference_options(p)
    p.add_argument("--sigmas", help="K comma-separated OKS sigmas (default: the dataset's)")
    p.add_argument("--flip-pairs", help="0-based left:right pairs (default: the preset's or from the names)")
    p.add_argument("--output", metavar="R.json",
                   help="also write the keypoint results here (with --results: the results as scored)")
    p.add_argument("--force", action="store_true", help="replace an existing --output file (never an input)")
    p.add_argument("--metrics", metavar="NAMES",
                   help="headline metrics, from AP,PCK,AUC,NME (default: the keypoint set's conventional ones)")
    p.add_argument("--workers", type=int, default=0, help="image decoding workers (0: none)")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="crops per model call (default 64)")
    p.add_argument("--runtime", choices=RUNTIMES, help="run an optimize() runner: auto (fastest here) or one "
                   "backend in fp32 (default: the eager model)")
    add_keypoint_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_cmd_evaluate)


def _add_train_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="fine-tune on a COCO-format keypoint dataset",
                              epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model name/alias, or a save_pretrained folder")
    p.add_argument("--train-ann", required=True, metavar="A.json")
    p.add_argument("--train-images", required=True, metavar="DIR")
    p.add_argument("--val-ann", metavar="B.json")
    p.add_argument("--val-images", metavar="DIR")
    p.add_argument("--input-size", metavar="HxW", help="crop size (default: the model's)")
    p.add_argument("--epochs", type=int, metavar="N", help="default 210 (a resume: the run's)")
    p.add_argument("--batch-size", type=int, metavar="B", help="per process; default 32 (a resume: the run's)")
    p.add_argument("--lr", type=float, help="default 1e-3 (a resume: the run's)")
    p.add_argument("--out", required=True, metavar="RUN")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder that is not a run (never over its files)")
    p.add_argument("--no-pretrained", action="store_true", help="random initialisation")
    p.add_argument("--pretrained", metavar="TAG", help="a manifest tag instead of the default weights")
    p.add_argument("--new-head", action="store_true",
                   help="a saved folder with another keypoint count: replace its prediction layer")
    p.add_argument("--max-steps", type=int, metavar="S", help="stop after S optimizer steps")
    p.add_argument("--workers", type=int, default=2, metavar="W", help="DataLoader workers (0: none)")
    p.add_argument("--seed", type=int, metavar="S", help="default 0 (a resume: the run's)")
    p.add_argument("--schedule", choices=("multistep", "cosine"), help="default multistep (a resume: the run's)")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"),
                   help="default adam, the official recipe (sgd: momentum 0.9; a resume: the run's)")
    p.add_argument("--weight-decay", type=float, metavar="WD",
                   help="default 0; norms and biases take none (a resume: the run's)")
    p.add_argument("--warmup-epochs", type=int, metavar="E",
                   help="linear learning-rate warmup over E epochs' steps; default 0 (a resume: the run's)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="auto (default): fp16 autocast on CUDA, fp32 on CPU; bf16: CUDA, or a CPU with native "
                        "bf16 (refused elsewhere)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="older switch: --amp = mixed precision (fp16 on CUDA, bf16 on CPU), --no-amp = fp32")
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under torchrun (CUDA)")
    p.add_argument("--resume", action="store_true",
                   help="continue from RUN/last/ (keeps its options; --lr, --epochs, --max-steps may change)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    p.add_argument("--sigmas", help="K comma-separated OKS sigmas (default: 0.05 each)")
    p.add_argument("--flip-pairs", help="0-based left:right pairs, e.g. 1:2,3:4 (default: the preset's or from "
                   "the names)")
    add_keypoint_options(p)
    p.add_argument("--no-flip-test", action="store_true", help="validate without the flip test")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=_cmd_train)

