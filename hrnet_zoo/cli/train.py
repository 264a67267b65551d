"""``hrnet-zoo train``, ``hrnet-zoo evaluate`` and ``hrnet-zoo predict``: fine-tuning, COCO AP, and
keypoints of single images."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from hrnet_zoo.cli import CommandError, UsageError, one_line, refuse_overwrite
from hrnet_zoo.cli.keypoint_options import (add_keypoint_options, check_keypoint_set, predict_keypoint_set,
                                            print_keypoint_summary)

TRAIN_EPILOG = """examples:
  hrnet-zoo train --model w32 --train-ann train.json --train-images train/ \\
      --val-ann val.json --val-images val/ --input-size 256x192 --epochs 60 --batch-size 32 --lr 1e-3 --out runs/fish
  hrnet-zoo train ... --out runs/fish --resume                   # continue an interrupted run
  torchrun --nproc_per_node 4 -m hrnet_zoo.cli train ... --sync-bn   # 4 GPUs (DDP)

Output: RUN/best/ and RUN/last/ (save_pretrained folders; last/ also holds the optimizer state), and
RUN/metrics.jsonl (one JSON object per epoch). The MultiStepLR milestones are the official 170 and
200 of 210 epochs, scaled to --epochs.
"""

EVALUATE_EPILOG = """examples:
  hrnet-zoo evaluate --model runs/fish/best --ann val.json --images val/ --json
  hrnet-zoo evaluate --model runs/fish/best --ann val.json --images val/ --boxes detections.json
  hrnet-zoo evaluate --results keypoints.json --ann val.json --json      # no model: score a results file

AP figures are pycocotools COCOeval (keypoints) with the dataset's OKS sigmas, after the official
rescoring and OKS-NMS (thresholds 0.2 and 0.9). -1 means pycocotools has no ground truth in that
area range.
"""

PREDICT_EPILOG = """examples:
  hrnet-zoo predict --model runs/fish/best --images a.jpg b.jpg --box 10,20,200,120 --output out/
  hrnet-zoo predict --model w32 --images img/*.jpg --boxes detections.json --output out/ --json

Writes OUT/keypoints.json (COCO keypoint results; image_id is the index of the image in --images
unless --boxes gives ids and --image-ids maps them) and OUT/<image name>.jpg with the keypoints drawn.
"""


def _size_or_none(text):
    from hrnet_zoo.cli.models import parse_input_size
    return None if text is None else parse_input_size(text)


def _floats(text: str | None, flag: str):
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"malformed {flag} {text!r}: expected comma-separated numbers") from None


def _pairs(text: str | None):
    if text is None:
        return None
    pairs = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)[:-](\d+)\s*", item)
        if not match:
            raise UsageError(f"malformed --flip-pairs {text!r}: expected 0-based pairs like 1:2,3:4")
        pairs.append((int(match[1]), int(match[2])))
    return pairs


def _keypoint_options(args: argparse.Namespace) -> dict:
    """--flip-pairs, --sigmas, --keypoint-set, --category-id as load_coco_keypoints' keyword arguments."""
    return dict(flip_pairs=_pairs(args.flip_pairs), sigmas=_floats(getattr(args, "sigmas", None), "--sigmas"),
                keypoint_set=args.keypoint_set, category_id=args.category_id)


def _check_file(path: str | None, flag: str) -> None:
    if path is not None and not Path(path).is_file():
        raise UsageError(f"{flag} file not found: {path}")


def _check_dir(path: str | None, flag: str) -> None:
    if path is not None and not Path(path).is_dir():
        raise UsageError(f"{flag} folder not found: {path}")


def _model_spec(text: str) -> str:
    """A saved folder as it is; a name or alias resolved to a registry name."""
    if os.path.isdir(text):
        return text
    if os.sep in text or text.startswith("."):
        raise UsageError(f"--model {text!r} is neither a model name nor an existing folder")
    from hrnet_zoo.cli.models import resolve_model_name
    return resolve_model_name(text)


def _run_guarded(fn):
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


# --------------------------------------------------------------------------------------------- train
def _cmd_train(args: argparse.Namespace) -> int:
    from hrnet_zoo.training import TrainConfig, train

    for path, flag in ((args.train_ann, "--train-ann"), (args.val_ann, "--val-ann")):
        _check_file(path, flag)
    for path, flag in ((args.train_images, "--train-images"), (args.val_images, "--val-images")):
        _check_dir(path, flag)
    if (args.val_ann is None) != (args.val_images is None):
        raise UsageError("--val-ann and --val-images go together")
    if args.pretrained is not None and args.no_pretrained:
        raise UsageError("--pretrained TAG and --no-pretrained exclude each other")
    for value, flag in ((args.epochs, "--epochs"), (args.batch_size, "--batch-size")):
        if value < 1:
            raise UsageError(f"{flag} must be a positive integer, got {value}")
    if args.workers < 0:
        raise UsageError(f"--workers must be 0 or more, got {args.workers}")
    if not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    check_keypoint_set(args.keypoint_set)
    pretrained = False if args.no_pretrained else (args.pretrained or True)
    config = TrainConfig(
        model=_model_spec(args.model), train_ann=args.train_ann, train_images=args.train_images,
        val_ann=args.val_ann, val_images=args.val_images, out=args.out, input_size=_size_or_none(args.input_size),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, pretrained=pretrained, new_head=args.new_head,
        max_steps=args.max_steps, workers=args.workers, seed=args.seed, schedule=args.schedule,
        amp=args.amp, sync_bn=args.sync_bn, resume=args.resume, device=args.device,
        flip_pairs=_pairs(args.flip_pairs), sigmas=_floats(args.sigmas, "--sigmas"),
        keypoint_set=args.keypoint_set, category_id=args.category_id,
        flip_test=not args.no_flip_test, progress=not args.no_progress)
    result = _run_guarded(lambda: train(config))
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result) if args.json else
              f"best AP {result['best_ap']} (epoch {result['best_epoch']}); {result['steps']} steps in "
              f"{result['seconds']:.1f} s; {Path(args.out) / 'best'}")
    return 0


# --------------------------------------------------------------------------------------------- evaluate
def _load_model(spec: str, device: str | None):
    import torch

    from hrnet_zoo import create_model, from_pretrained

    spec = _model_spec(spec)
    model = from_pretrained(spec) if os.path.isdir(spec) else create_model(spec, pretrained=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval()


def _load_ground_truth(args: argparse.Namespace, flip_test: bool):
    """The --ann file with the keypoint options, its summary printed once (evaluate's start)."""
    from hrnet_zoo.data.coco import load_coco_keypoints

    coco = load_coco_keypoints(args.ann, args.images, check_images=False, **_keypoint_options(args))
    print_keypoint_summary(coco.keypoint_choice, flip_test)
    return coco


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from hrnet_zoo.evaluation import evaluate, evaluate_results

    _check_file(args.ann, "--ann")
    _check_file(args.boxes, "--boxes")
    check_keypoint_set(args.keypoint_set)
    if args.results is not None:
        _check_file(args.results, "--results")
        if args.model is not None or args.boxes is not None:
            raise UsageError("--results scores an existing results file: no --model or --boxes with it")
        metrics = _run_guarded(lambda: evaluate_results(args.results, _load_ground_truth(args, False)))
    else:
        if args.model is None or args.images is None:
            raise UsageError("evaluate needs --model and --images (or --results R.json)")
        _check_dir(args.images, "--images")
        size = _size_or_none(args.input_size)

        def run():
            coco = _load_ground_truth(args, not args.no_flip_test)
            model = _load_model(args.model, args.device)
            return evaluate(model, coco, boxes=args.boxes, input_size=size,
                            flip_test=not args.no_flip_test, decoder=args.decoder,
                            results_file=args.output, workers=args.workers, progress=not args.json)
        metrics = _run_guarded(run)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key in ("AP", "AP50", "AP75", "APm", "APl", "AR", "PCK@0.05", "PCK@0.1", "mean_error_px"):
            value = metrics.get(key)
            print(f"{key:>14}  {value:.4f}" if isinstance(value, float) else f"{key:>14}  {value}")
    return 0


# --------------------------------------------------------------------------------------------- predict
def _parse_box(text: str):
    values = _floats(text, "--box")
    if len(values) != 4:
        raise UsageError(f"malformed --box {text!r}: expected x,y,width,height")
    if values[2] <= 0 or values[3] <= 0:
        raise UsageError(f"--box {text!r} has zero size (width and height must be positive)")
    return values


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from hrnet_zoo import draw_keypoints, predict_keypoints
    from hrnet_zoo.data.coco import read_image, read_json
    from hrnet_zoo.errors import DatasetError

    if (args.box is None) == (args.boxes is None):
        raise UsageError("give exactly one of --box x,y,w,h and --boxes DETECTIONS.json")
    for image in args.images:
        _check_file(image, "--images")
    _check_file(args.boxes, "--boxes")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out} exists and is not a folder")
    drawn = [out / (Path(p).stem + "_keypoints.jpg") for p in args.images]
    refuse_overwrite([out / "keypoints.json"] + drawn, [*args.images, args.boxes], args.force)
    box = _parse_box(args.box) if args.box is not None else None
    check_keypoint_set(args.keypoint_set)

    def run():
        per_image = {}
        if args.boxes is not None:
            detections = read_json(args.boxes, "detections file")
            if not isinstance(detections, list):
                raise DatasetError(f"{args.boxes}: a detections file is a JSON list of COCO results")
            for i, det in enumerate(detections):
                if not isinstance(det, dict) or "image_id" not in det or "bbox" not in det:
                    raise DatasetError(f"{args.boxes}: detection [{i}] needs 'image_id' and 'bbox'")
                if not 0 <= int(det["image_id"]) < len(args.images):
                    raise DatasetError(f"{args.boxes}: detection [{i}]: image id {det['image_id']} is not an "
                                       f"index of the {len(args.images)} --images")
                b = det["bbox"]
                if len(b) != 4 or not (float(b[2]) > 0 and float(b[3]) > 0):
                    raise DatasetError(f"{args.boxes}: detection [{i}] (image id {det['image_id']}): box {b} "
                                       "has zero size")
                if float(det.get("score", 1.0)) >= args.score_threshold:
                    per_image.setdefault(int(det["image_id"]), []).append((b, float(det.get("score", 1.0))))
        model = _load_model(args.model, args.device)
        kset, flip_test = predict_keypoint_set(model, args.keypoint_set, _pairs(args.flip_pairs), args.category_id,
                                               not args.no_flip_test)
        results = []
        category_id = 1 if args.category_id is None else args.category_id
        out.mkdir(parents=True, exist_ok=True)
        for index, path in enumerate(args.images):
            image = read_image(path, index)
            entries = [(box, 1.0)] if box is not None else per_image.get(index, [])
            boxes = np.asarray([b for b, _ in entries], dtype=np.float64).reshape(-1, 4)
            keypoints = predict_keypoints(model, image, boxes, flip_test=flip_test, flip_pairs=kset.flip_pairs,
                                          decoder=args.decoder, input_size=_size_or_none(args.input_size))
            for (b, score), kpts in zip(entries, keypoints.numpy()):
                results.append({"image_id": index, "file_name": str(path), "category_id": category_id, "box": list(b),
                                "keypoints": [round(float(v), 3) for v in kpts.reshape(-1)],
                                "score": float(score * kpts[:, 2].mean())})
            picture = draw_keypoints(image, keypoints, keypoint_set=kset)
            picture.save(drawn[index], quality=92)
        return results

    results = _run_guarded(run)
    from hrnet_zoo.evaluation import write_json
    write_json(out / "keypoints.json", results)
    if args.json:
        print(json.dumps({"results": str(out / "keypoints.json"), "images": [str(p) for p in drawn],
                          "people": len(results)}))
    else:
        print(f"wrote {out / 'keypoints.json'} ({len(results)} people) and {len(drawn)} drawn image(s)")
    return 0


# --------------------------------------------------------------------------------------------- parsers
def register(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("train", help="fine-tune on a COCO-format keypoint dataset",
                              epilog=TRAIN_EPILOG, formatter_class=fmt)
    p.add_argument("--model", required=True, help="model name/alias, or a save_pretrained folder")
    p.add_argument("--train-ann", required=True, metavar="A.json")
    p.add_argument("--train-images", required=True, metavar="DIR")
    p.add_argument("--val-ann", metavar="B.json")
    p.add_argument("--val-images", metavar="DIR")
    p.add_argument("--input-size", metavar="HxW", help="crop size (default: the model's)")
    p.add_argument("--epochs", type=int, default=210)
    p.add_argument("--batch-size", type=int, default=32, help="per process")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--out", required=True, metavar="RUN")
    p.add_argument("--no-pretrained", action="store_true", help="random initialisation")
    p.add_argument("--pretrained", metavar="TAG", help="a manifest tag instead of the default weights")
    p.add_argument("--new-head", action="store_true",
                   help="a saved folder with another keypoint count: replace its prediction layer")
    p.add_argument("--max-steps", type=int, metavar="S", help="stop after S optimizer steps")
    p.add_argument("--workers", type=int, default=2, metavar="W", help="DataLoader workers (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--schedule", choices=("multistep", "cosine"), default="multistep")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision (default: on for CUDA)")
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under torchrun (CUDA)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/last/")
    p.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    p.add_argument("--sigmas", help="K comma-separated OKS sigmas (default: 0.05 each)")
    p.add_argument("--flip-pairs", help="0-based left:right pairs, e.g. 1:2,3:4 (default: the preset's or from "
                   "the names)")
    add_keypoint_options(p)
    p.add_argument("--no-flip-test", action="store_true", help="validate without the flip test")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser("evaluate", help="COCO keypoint AP (pycocotools) of a model or a results file",
                              epilog=EVALUATE_EPILOG, formatter_class=fmt)
    p.add_argument("--model", help="model name/alias, or a save_pretrained folder")
    p.add_argument("--ann", required=True, metavar="B.json", help="COCO keypoint file (ground truth)")
    p.add_argument("--images", metavar="DIR")
    p.add_argument("--boxes", metavar="D.json", help="a detector's COCO results (default: ground-truth boxes)")
    p.add_argument("--results", metavar="R.json", help="score this COCO keypoint results file (no model)")
    _add_inference_options(p)
    p.add_argument("--sigmas", help="K comma-separated OKS sigmas (default: the dataset's)")
    p.add_argument("--flip-pairs", help="0-based left:right pairs (default: the preset's or from the names)")
    add_keypoint_options(p)
    p.add_argument("--output", metavar="R.json", help="also write the keypoint results here")
    p.add_argument("--workers", type=int, default=0, help="image decoding workers")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_cmd_evaluate)

    p = subparsers.add_parser("predict", help="keypoints of images, with one box or a detections file",
                              epilog=PREDICT_EPILOG, formatter_class=fmt)
    p.add_argument("--model", required=True, help="model name/alias, or a save_pretrained folder")
    p.add_argument("--images", required=True, nargs="+", metavar="IMG")
    p.add_argument("--box", metavar="x,y,w,h", help="one box, used for every image")
    p.add_argument("--boxes", metavar="DETS.json", help="COCO detections; image_id = index in --images")
    p.add_argument("--score-threshold", type=float, default=0.0, help="drop detections scoring below")
    p.add_argument("--output", required=True, metavar="DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    _add_inference_options(p)
    p.add_argument("--flip-pairs", help="0-based left:right pairs for the flip test (default: the model's)")
    add_keypoint_options(p)
    p.add_argument("--json", action="store_true", help="a JSON summary on stdout")
    p.set_defaults(func=_cmd_predict)


def _add_inference_options(p) -> None:
    """Options of commands that run a model on images: crop size, decoder, flip test, device."""
    p.add_argument("--input-size", metavar="HxW", help="crop size (default: the model's)")
    p.add_argument("--decoder", choices=("argmax", "quarter", "dark", "udp"), help="default: the model's")
    p.add_argument("--no-flip-test", action="store_true", help="no flip test")
    p.add_argument("--device", help="cpu, cuda … (default: CUDA when available)")


if __name__ == "__main__":  # pragma: no cover
    from hrnet_zoo.cli import main
    sys.exit(main())
