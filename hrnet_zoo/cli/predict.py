"""``hrnet-zoo predict``: keypoints of images or of a video, with boxes given (``--box``, ``--boxes``) or
found by a detector (``--detector``). Videos and detectors run in `hrnet_zoo.cli.predict_video`."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hrnet_zoo.cli import UsageError, predict_video, refuse_overwrite
from hrnet_zoo.cli.keypoint_options import add_keypoint_options, check_keypoint_set
from hrnet_zoo.cli.pose_io import (detections_per_image, drawing_paths, image_ids_of_images, make_output_folder,
                                   naming_model, parse_box)
from hrnet_zoo.cli.options import add_inference_options, check_file, load_model, run_guarded

PREDICT_EPILOG = """examples:
  hrnet-zoo predict --model runs/fish/best --images a.jpg b.jpg --box 10,20,200,120 --output out/
  hrnet-zoo predict --model w32 --images img/*.jpg --boxes detections.json --output out/ --json
  hrnet-zoo predict --model runs/fish/best --images photos/ --detector full --output out/
  hrnet-zoo predict --model w32 --images photos/ --detector yolox_s.onnx --output out/
  hrnet-zoo predict --model w32 --video in.mp4 --detector hf-hub:org/repo/yolox_s.onnx --output out/ --smooth

  hrnet-zoo predict --model w32 --images val/*.jpg --ann val.json --boxes detections.json --output out/

Images (files, or folders of .jpg/.png/... files): writes OUT/keypoints.json (COCO keypoint results;
image_id is the image's index in --images, or with --ann its COCO id: an --images path ends with the
file_name of its entry in --ann, and --boxes uses the same ids) and OUT/<image stem>_keypoints.jpg with
the keypoints drawn (<stem>-2_keypoints.jpg … when images share a stem).

A video (any format FFmpeg reads; needs pip install "hrnet-zoo[video]"): writes OUT/<stem>_pose.mp4 with
the skeletons drawn (every frame of the input) and OUT/<stem>_pose.jsonl, one JSON line per frame:
{"frame", "time" (s), "instances": [{"track_id", "box", "box_score", "keypoints" (K×3), "score"}]}.
Track ids: greedy OKS matching with the previous frames (docs/video.md). Ctrl-C keeps what was written.
A detections --detector/--boxes file for a video uses the frame index (from 0) as image_id.

Boxes come from exactly one of --box, --boxes and --detector. Existing files are kept unless --force.
"""

#: File names --images takes from a folder (what Pillow reads; the case of the suffix does not matter).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

#: Shown when no box source is given: how to choose one.
NO_BOXES = ("top-down pose estimation needs a box per person: choose a detector with --detector "
            "PATH.onnx | hf-hub:org/repo/file.onnx | full (the whole image is one box) | DETECTIONS.json, "
            "or give --box x,y,w,h or --boxes DETECTIONS.json")


def image_files(entries: list[str]) -> list[str]:
    """--images entries with each folder replaced by its image files (sorted by name, not recursive)."""
    files = []
    for entry in entries:
        path = Path(entry)
        if path.is_dir():
            found = sorted(str(p) for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UsageError(f"--images folder {entry} holds no image file ({', '.join(IMAGE_SUFFIXES)})")
            files += found
        else:
            check_file(entry, "--images")
            files.append(entry)
    return files


def _check_predict_args(args: argparse.Namespace) -> None:
    if (args.images is None) == (args.video is None):
        raise UsageError("give exactly one of --images IMG|DIR … and --video VIDEO")
    given = [flag for flag, value in (("--box", args.box), ("--boxes", args.boxes), ("--detector", args.detector))
             if value is not None]
    if not given:
        raise UsageError(NO_BOXES)
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} exclude each other: boxes come from one of them")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.video is not None and args.ann is not None:
        raise UsageError("--ann names the images of --images; a video's frames are numbered from 0")
    if args.images is not None:
        args.images = image_files(args.images)
        seen = set()
        for image in args.images:
            if Path(image).resolve() in seen:
                raise UsageError(f"--images lists {image} twice")
            seen.add(Path(image).resolve())
    check_file(args.boxes, "--boxes")
    check_file(args.ann, "--ann")
    if args.detector is not None and args.detector.lower().endswith(".json"):
        check_file(args.detector, "--detector")
        args.boxes, args.detector = args.detector, None  # a detections file is --boxes, for images and videos
    if args.score_threshold is None:  # a file's boxes were chosen by their maker; a detector's are raw
        args.score_threshold = 0.3 if args.detector is not None else 0.0
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out} exists and is not a folder")


def _cmd_predict(args: argparse.Namespace) -> int:
    _check_predict_args(args)
    check_keypoint_set(args.keypoint_set)
    if args.video is not None:
        return predict_video.predict_video(args)
    return _predict_images(args)


def _predict_images(args: argparse.Namespace) -> int:
    from hrnet_zoo.evaluation.files import dumps, write_json

    out = Path(args.output)
    drawn = drawing_paths(out, args.images)
    refuse_overwrite([out / "keypoints.json"] + drawn,
                     [*args.images, args.boxes, args.ann, predict_video.detector_file(args)], args.force)
    box = parse_box(args.box) if args.box is not None else None
    image_ids, category_id, all_ids = image_ids_of_images(args)
    if args.category_id is not None:  # the results' category; --ann's keypoint category otherwise
        category_id = args.category_id
    detector, boxes = None, None
    if args.detector is not None:
        detector = predict_video.cli_detector(args)
    else:  # the given boxes, with their detection scores
        per_image = detections_per_image(args, image_ids, all_ids) if args.boxes is not None else {}
        entries = [[(box, 1.0)] if box is not None else per_image.get(i, []) for i in image_ids]
        boxes = [np.array([[*b, score] for b, score in e], dtype=np.float64).reshape(-1, 5) for e in entries]
    make_output_folder(out)
    jobs = list(zip(args.images, image_ids, drawn))
    results = run_guarded(lambda: naming_model(args.model, lambda: predict_video.predict_detected_images(
        load_model(args.model, args.device), detector, args, jobs, category_id, boxes)))
    run_guarded(lambda: write_json(out / "keypoints.json", results))
    if args.json:
        print(dumps({"results": str(out / "keypoints.json"), "images": [str(p) for p in drawn],
                     "people": len(results)}))
    else:
        print(f"wrote {out / 'keypoints.json'} ({len(results)} people) and {len(drawn)} drawn image(s)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="keypoints of images or a video, from boxes or a detector",
                              epilog=PREDICT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model name/alias, or a save_pretrained folder")
    p.add_argument("--images", nargs="+", metavar="IMG|DIR", help="image files, or folders of them")
    p.add_argument("--video", metavar="VIDEO", help="a video file (any format FFmpeg reads)")
    p.add_argument("--box", metavar="x,y,w,h", help="one box, used for every image or frame")
    p.add_argument("--boxes", metavar="DETS.json",
                   help="COCO detections; image_id = index in --images (or frame index), or the COCO id with --ann")
    p.add_argument("--detector", metavar="SPEC",
                   help="PATH.onnx or hf-hub:org/repo/file.onnx (YOLOX or RTMDet), full (whole image), or "
                        "DETECTIONS.json")
    p.add_argument("--detector-family", choices=("yolox", "rtmdet"),
                   help="an ONNX detector's family (default: from the file name, rtmdet if it says so, else yolox)")
    p.add_argument("--ann", metavar="A.json",
                   help="COCO file whose images (id, file_name) give the image ids of --images and --boxes")
    p.add_argument("--score-threshold", type=float,
                   help="drop detections scoring below (default: 0 for --boxes, 0.3 for a detector)")
    p.add_argument("--nms-threshold", type=float, default=0.5,
                   help="a detector's boxes overlapping a better one above this IoU are dropped (default 0.5)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N",
                   help="crops per model call, shared across images and frames (default 8)")
    p.add_argument("--smooth", action="store_true", help="video: One-Euro smoothing of the keypoints (off by default)")
    p.add_argument("--output", "--out", dest="output", required=True, metavar="DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_inference_options(p)
    p.add_argument("--flip-pairs", help="0-based left:right pairs for the flip test (default: the model's)")
    add_keypoint_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="a JSON summary on stdout (no progress bar)")
    p.set_defaults(func=_cmd_predict)
