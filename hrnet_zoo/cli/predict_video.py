"""``hrnet-zoo predict`` with a detector, and on videos: `hrnet_zoo.PoseEstimator` over images or frames
(crops of consecutive frames share model batches), `PoseTracker` ids, optional One-Euro smoothing, an
MP4 with the skeletons drawn and one JSON line per frame."""
from __future__ import annotations

import argparse
import itertools
import sys
from collections import deque
from pathlib import Path

import numpy as np

from hrnet_zoo.cli import CommandError, refuse_overwrite
from hrnet_zoo.cli.pose_io import make_output_folder, naming_model, parse_box
from hrnet_zoo.cli.options import check_file, load_model, parse_pairs, run_guarded, parse_size


class Interrupted(CommandError):
    """Ctrl-C during a video: what was written is kept, closed and readable; exit status 130 as a shell's."""

    exit_status = 130


def detector_file(args: argparse.Namespace) -> str | None:
    """--detector when it names a local file (an input that no output may replace), else None."""
    return args.detector if args.detector is not None and Path(args.detector).is_file() else None


def cli_detector(args: argparse.Namespace):
    """The ``PoseEstimator`` detector of ``--detector`` (``"full"`` or an ONNX detector); its settings are
    printed on stderr, since they change which people are found."""
    from hrnet_zoo.detect import make_detector

    if args.detector == "full":
        detector, name = "full", "full (the whole image is one box)"
    else:
        detector = make_detector(args.detector, family=args.detector_family, score_threshold=args.score_threshold,
                                 nms_iou=args.nms_threshold)
        name = repr(detector)
    print(f"detector: {name}; score threshold {args.score_threshold}, NMS IoU {args.nms_threshold}",
          file=sys.stderr, flush=True)
    return detector


def _estimator(model, detector, args: argparse.Namespace):
    """The `PoseEstimator` of the command line, and the keypoint set for drawing (summary printed)."""
    from hrnet_zoo import PoseEstimator
    from hrnet_zoo.cli.keypoint_options import predict_keypoint_set

    kset, flip_test = predict_keypoint_set(model, args.keypoint_set, parse_pairs(args.flip_pairs), args.category_id,
                                           not args.no_flip_test)
    estimator = PoseEstimator(model, detector, batch_size=args.batch_size, flip_test=flip_test, decoder=args.decoder,
                              input_size=parse_size(args.input_size), flip_pairs=kset.flip_pairs,
                              score_threshold=args.score_threshold, nms_threshold=args.nms_threshold)
    return estimator, kset


def _progress(args: argparse.Namespace, total, unit: str, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=args.json or args.no_progress, leave=False,
                file=sys.stderr)


def _draw(image: np.ndarray, people, keypoints: np.ndarray, kset, track_ids=None) -> np.ndarray:
    """``image`` with the skeletons drawn, and for a video each box with its track id."""
    from PIL import ImageDraw

    from hrnet_zoo import draw_keypoints

    if not len(people):
        return image
    canvas = draw_keypoints(image, keypoints, keypoint_set=kset)
    if track_ids is not None:
        pen = ImageDraw.Draw(canvas)
        for track_id, person in zip(track_ids, people):
            x, y, w, h = (float(v) for v in person.box)
            pen.rectangle([x, y, x + w, y + h], outline=(255, 255, 255))
            pen.text((x + 2, y + 1), str(track_id), fill=(255, 255, 255))
    return np.asarray(canvas)


def predict_detected_images(model, detector, args: argparse.Namespace, jobs: list, category_id,
                            boxes: list | None = None) -> list[dict]:
    """COCO keypoint results of ``(path, image id, drawing path)`` jobs, people found by ``detector`` (or
    given per image in ``boxes``: N×5 x, y, w, h, score); crops of consecutive images share model batches,
    and each image's drawing is written as its results come."""
    from hrnet_zoo.data.images import read_image
    from hrnet_zoo.errors import NonFiniteOutputError

    estimator, kset = _estimator(model, detector, args)
    pending = deque()

    def images():
        for path, image_id, drawing in jobs:
            image = read_image(path, image_id)
            pending.append((path, image_id, drawing, image))
            yield image

    results = []
    with _progress(args, len(jobs), "img", "predict") as bar:
        try:
            for people in estimator.stream(images(), boxes):
                path, image_id, drawing, image = pending.popleft()
                results += [_result(person, image_id, path, category_id) for person in people]
                _save_drawing(drawing, image, people, kset)
                bar.update()
        except NonFiniteOutputError as e:  # the images still in the batch that failed
            raise NonFiniteOutputError(f"{', '.join(str(p[0]) for p in pending)}: {e}") from None
    return results


def _result(person, image_id, path, category_id) -> dict:
    """One person as a COCO keypoint result (plus its file and box)."""
    return {"image_id": image_id, "file_name": str(path), "category_id": category_id,
            "box": [float(v) for v in person.box], "box_score": person.box_score,
            "keypoints": [round(float(v), 3) for v in person.keypoints.reshape(-1)], "score": person.score}


def _save_drawing(drawing, image: np.ndarray, people, kset) -> None:
    from PIL import Image

    keypoints = np.stack([p.keypoints for p in people]) if people else np.zeros((0, 0, 3))
    try:
        Image.fromarray(_draw(image, people, keypoints, kset)).save(drawing, quality=92)
    except OSError as e:
        raise CommandError(f"cannot write {drawing}: {e.strerror or e}") from None


def _frame_boxes(args: argparse.Namespace):
    """Per-frame boxes for ``PoseEstimator.stream`` (None: its detector finds them): ``--box`` in every
    frame, or a detections file looked up by frame index."""
    from hrnet_zoo.detect import DetectionsFileDetector, filter_detections

    if args.box is not None:
        return itertools.repeat(np.array([[*parse_box(args.box), 1.0]]))
    if args.boxes is not None:
        found = DetectionsFileDetector(args.boxes)
        return (filter_detections(found.lookup(index), args.score_threshold) for index in itertools.count())
    return None


def _instances(people, tracker, smoother, seconds: float):
    """Track ids (and smoothed keypoints) of one frame's people → (N×K×3 keypoints, JSON-ready instances)."""
    if not people:
        tracker.update(np.zeros((0, 4)))
        return np.zeros((0, 0, 3)), []
    boxes = np.stack([p.box for p in people])
    keypoints = np.stack([p.keypoints for p in people]).astype(np.float64)
    ids = tracker.update(boxes, keypoints)
    if smoother is not None:
        keypoints = smoother(ids, keypoints, seconds)
    return keypoints, [{"track_id": int(track_id), "box": person.box, "box_score": person.box_score,
                        "keypoints": np.round(kpts, 3), "score": person.score}
                       for track_id, person, kpts in zip(ids, people, keypoints)]


def video_outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    out, stem = Path(args.output), Path(args.video).stem
    return out / f"{stem}_pose.mp4", out / f"{stem}_pose.jsonl"


def predict_video(args: argparse.Namespace) -> int:
    """``predict --video``: OUT/<stem>_pose.mp4 and OUT/<stem>_pose.jsonl (see the command's epilog)."""
    from hrnet_zoo.evaluation.files import dumps
    from hrnet_zoo.video import probe_video, require_av

    require_av()  # before the model loads: a missing extra is the first thing said
    check_file(args.video, "--video")
    mp4, jsonl = video_outputs(args)
    refuse_overwrite([mp4, jsonl], [args.video, args.boxes, detector_file(args)], args.force)
    info = probe_video(args.video)
    boxes = _frame_boxes(args)
    detector = cli_detector(args) if boxes is None else None
    model = run_guarded(lambda: load_model(args.model, args.device))
    make_output_folder(Path(args.output))
    frames, tracks = run_guarded(lambda: naming_model(args.model, lambda: _run_video(
        model, detector, boxes, args, info, mp4, jsonl)))
    summary = {"video": str(mp4), "lines": str(jsonl), "frames": frames, "tracks": tracks}
    print(dumps(summary) if args.json else f"wrote {mp4} and {jsonl} ({frames} frames, {tracks} track id(s))")
    return 0


def _run_video(model, detector, boxes, args: argparse.Namespace, info, mp4: Path, jsonl: Path) -> tuple[int, int]:
    """Frames → poses → tracks → MP4 and JSON lines; (frames written, track ids given)."""
    from hrnet_zoo.video import KeypointSmoother, PoseJsonlWriter, PoseTracker, VideoWriter, read_frames

    estimator, kset = _estimator(model, detector, args)
    tracker = PoseTracker()
    smoother = KeypointSmoother() if args.smooth else None
    pending = deque()  # (index, seconds, frame) of frames whose crops are in the estimator's batches

    def frames():
        for index, seconds, frame in read_frames(args.video):
            pending.append((index, seconds, frame))
            yield frame

    written, track_ids = 0, set()
    try:
        with VideoWriter(mp4, info.fps) as video, PoseJsonlWriter(jsonl) as lines, \
                _progress(args, info.frames, "frame", Path(args.video).name) as bar:
            for people in estimator.stream(frames(), boxes):
                index, seconds, frame = pending.popleft()
                keypoints, instances = _instances(people, tracker, smoother, seconds)
                video.write(_draw(frame, people, keypoints, kset, [i["track_id"] for i in instances]))
                lines.write(index, seconds, instances)
                track_ids.update(instance["track_id"] for instance in instances)
                written += 1
                bar.update()
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: {mp4} and {jsonl} hold the first {written} frames") from None
    return written, len(track_ids)
