"""Helpers of ``hrnet-zoo evaluate`` and ``hrnet-zoo predict`` (their commands and parsers are in
`hrnet_zoo.cli.train` and `hrnet_zoo.cli.predict`): the metrics table, the runtime, image ids from a
COCO file, detections, boxes, output names."""
from __future__ import annotations

import argparse
from pathlib import Path

from hrnet_zoo.cli import CommandError, UsageError


def metrics_option(text: str | None):
    """``--metrics AP,NME`` → ``["AP", "NME"]`` (None: the keypoint set's conventional ones)."""
    if text is None:
        return None
    from hrnet_zoo.evaluation.metrics import METRIC_NAMES

    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown or not names:
        raise UsageError(f"malformed --metrics {text!r}: choose from {','.join(METRIC_NAMES)}")
    return names


#: The lines of each headline metric in `evaluate`'s table.
_METRIC_LINES = {"AP": ("AP", "AP50", "AP75", "APm", "APl", "AR"), "PCK": ("PCK@0.05", "PCK@0.1"),
                 "AUC": ("AUC",), "NME": ("NME",)}


def print_metrics(metrics: dict) -> None:
    keys = [key for name in metrics["metrics"] for key in _METRIC_LINES[name]] + ["mean_error_px", "unmatched"]
    for key in keys:
        value = metrics.get(key)
        print(f"{key:>14}  {value:.4f}" if isinstance(value, float) else f"{key:>14}  {value}")
    if "images_per_s" in metrics:
        print(f"{'images/s':>14}  {metrics['images_per_s']}  ({metrics['runtime']})")
    if "NME" in metrics["metrics"]:
        print(f"{'':>14}  (NME normalised by {metrics['NME_normaliser']})")


def parse_box(text: str) -> list[float]:
    """``--box x,y,w,h`` → four floats (a usage error when malformed or of zero size)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"malformed --box {text!r}: expected comma-separated numbers") from None
    if len(values) != 4:
        raise UsageError(f"malformed --box {text!r}: expected x,y,width,height")
    if values[2] <= 0 or values[3] <= 0:
        raise UsageError(f"--box {text!r} has zero size (width and height must be positive)")
    return values


def make_output_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CommandError(f"cannot create --output {out}: {e.strerror or e}") from None


def naming_model(spec: str, fn):
    """Run ``fn``; a model whose outputs are not finite is named in the one-line error."""
    from hrnet_zoo.errors import NonFiniteOutputError

    try:
        return fn()
    except NonFiniteOutputError as e:
        raise NonFiniteOutputError(f"--model {spec}: {e}") from None


def drawing_paths(out: Path, images: list[str]) -> list[Path]:
    """``OUT/<stem>_keypoints.jpg`` for each image; a stem shared by several images (``a/x.png``,
    ``b/x.png``) gets ``-2``, ``-3`` … so that no drawing replaces another."""
    used, paths = set(), []
    for image in images:
        stem = Path(image).stem
        name, n = stem, 1
        while name.lower() in used:  # lower: case-insensitive file systems
            n += 1
            name = f"{stem}-{n}"
        used.add(name.lower())
        paths.append(out / f"{name}_keypoints.jpg")
    return paths


def image_ids_of_images(args: argparse.Namespace):
    """The image id of each --images entry (its index, or its id in --ann), the results' category, and
    every image id that --boxes may name (None: the indices)."""
    if args.ann is None:
        return list(range(len(args.images))), 1, None
    from hrnet_zoo.evaluation.files import image_id_of, read_image_index

    by_file, category_id = read_image_index(args.ann)
    ids = {}
    for path in args.images:
        image_id = image_id_of(path, by_file)
        if image_id is None:
            raise UsageError(f"--images {path} is not among the images (file_name) of --ann {args.ann}")
        if image_id in ids:
            raise UsageError(f"--images {ids[image_id]} and {path} are both image id {image_id} of --ann {args.ann}")
        ids[image_id] = path
    return list(ids), (category_id if category_id is not None else 1), set(by_file.values())


def detections_per_image(args: argparse.Namespace, image_ids: list, all_ids) -> dict:
    """``{image id: [(box, score), …]}`` of the --boxes file for ``image_ids``, validated (one line per
    problem); ``all_ids``: the ids of --ann (None: ids are indices of --images)."""
    from hrnet_zoo.errors import DatasetError
    from hrnet_zoo.data.validate import check_detection
    from hrnet_zoo.evaluation.files import read_list

    known = set(image_ids)
    per_image = {}
    for i, det in enumerate(read_list(args.boxes, "detections file")):
        image_id, box, score = check_detection(det, i, args.boxes)
        if args.ann is None and not 0 <= image_id < len(args.images):
            raise DatasetError(f"{args.boxes}: detection [{i}]: image id {image_id} is not an index of the "
                               f"{len(args.images)} --images (give --ann A.json to use COCO image ids)")
        if all_ids is not None and image_id not in all_ids:
            raise DatasetError(f"{args.boxes}: detection [{i}]: image id {image_id} is not in --ann {args.ann}")
        if image_id in known and score >= args.score_threshold:
            per_image.setdefault(image_id, []).append((box, score))
    return per_image


#: ``--runtime`` choices of ``evaluate``: an `optimize()` runner instead of the eager model.
RUNTIMES = ("auto", "torch", "onnxruntime", "openvino")


def evaluation_runner(model, runtime: str | None, batch_size: int, input_size):
    """The model itself (``runtime`` None), or an `hrnet_zoo.optimize()` runner for a fixed ``batch_size``:
    ``auto`` measures every backend and precision this machine runs natively; a named backend runs fp32,
    so its AP matches eager within fp32 rounding. The choice is printed on stderr."""
    import sys

    if runtime is None:
        return model
    from hrnet_zoo.runtime import optimize

    runner = optimize(model, backend=runtime, precision="auto" if runtime == "auto" else "fp32",
                      input_size=input_size, batch_size=batch_size)
    print(f"runtime: {runner.describe()}", file=sys.stderr, flush=True)
    return runner
