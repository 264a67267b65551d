"""Results and detections files are read strictly (NaN, strings, other categories are one-line errors,
never a score), every JSON the package writes is strict, and ``evaluate --output`` keeps files safe."""
import json
import math

import pytest

from cli_output import error_lines

from hrnet_zoo.cli import main
from hrnet_zoo.data import DatasetError, load_coco_keypoints
from hrnet_zoo.errors import HRNetZooError
from hrnet_zoo.evaluation import evaluate_results, load_detections, write_json

pytest.importorskip("pycocotools")

NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear"]


def monkey_file(tmp_path):
    """A small keypoint file in the style of MacaquePose's COCO export: category id 1, areas, num_keypoints."""
    def ann(ann_id, image_id, x, y):
        kpts = [x + 10, y + 10, 2, x + 5, y + 5, 2, x + 15, y + 5, 2, x + 2, y + 8, 1, x + 18, y + 8, 2]
        return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": [x, y, 20, 20],
                "area": 380.0, "num_keypoints": 5, "keypoints": kpts}
    data = {"images": [{"id": 101, "file_name": "01_0001.jpg", "width": 200, "height": 150},
                       {"id": 102, "file_name": "01_0002.jpg", "width": 200, "height": 150}],
            "annotations": [ann(1, 101, 20, 30), ann(2, 101, 120, 40), ann(3, 102, 60, 60)],
            "categories": [{"id": 1, "name": "monkey", "supercategory": "animal", "keypoints": NAMES,
                            "skeleton": [[1, 2], [1, 3], [2, 4], [3, 5]]}]}
    path = tmp_path / "macaque_val.json"
    path.write_text(json.dumps(data))
    return path, data


def perfect_results(data):
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": [float(v) for v in a["keypoints"]],
             "score": 0.9} for a in data["annotations"]]


def write_text(path, text):
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------- results files
def test_all_nan_keypoints_are_an_error_not_a_perfect_score(tmp_path, capsys):
    gt, data = monkey_file(tmp_path)
    results = perfect_results(data)
    for r in results:
        r["keypoints"] = [math.nan] * 15
    # json.dumps writes a bare NaN, as many tools do
    res = write_text(tmp_path / "res.json", json.dumps(results))
    with pytest.raises(DatasetError, match=r"res.json: result \[0\] \(image id 101\): 'keypoints' holds NaN"):
        evaluate_results(res, gt)
    assert main(["evaluate", "--results", str(res), "--ann", str(gt)]) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "NaN" in err and "Traceback" not in err


@pytest.mark.parametrize("field,value,message", [
    ("keypoints", "inf", r"'keypoints' holds NaN or infinity"),
    ("score", "nan", r"'score' must be a finite number"),
    ("score", "high", r"'score' must be a finite number, got 'high'"),
    ("keypoints", "strings", r"'keypoints' must be 15 numbers"),
    ("image_id", "list", r"image id \[101\] is not an integer"),
])
def test_bad_numbers_in_results_are_one_line(tmp_path, capsys, field, value, message):
    gt, data = monkey_file(tmp_path)
    results = perfect_results(data)
    bad = {"inf": [math.inf] + results[1]["keypoints"][1:], "nan": math.nan, "high": "high",
           "strings": [str(v) for v in results[1]["keypoints"]], "list": [101]}[value]
    results[1][field] = bad
    res = write_text(tmp_path / "res.json", json.dumps(results))
    with pytest.raises(DatasetError, match=r"res.json: result \[1\].*" + message):
        evaluate_results(res, gt)
    assert main(["evaluate", "--results", str(res), "--ann", str(gt)]) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "result [1]" in err


def test_results_of_another_category_are_an_error_not_ap_zero(tmp_path, capsys):
    gt, data = monkey_file(tmp_path)
    results = perfect_results(data)
    for r in results:
        r["category_id"] = 2  # e.g. results of a model fine-tuned on another file
    res = write_text(tmp_path / "res.json", json.dumps(results))
    with pytest.raises(DatasetError, match=r"result \[0\] \(image id 101\) has category_id 2 but the keypoint "
                                           r"category of the annotation file is 1"):
        evaluate_results(res, gt)
    assert main(["evaluate", "--results", str(res), "--ann", str(gt)]) == 1
    assert "category_id 2" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- detections
@pytest.mark.parametrize("change,message", [
    ({"bbox": ["20", "30", "20", "20"]}, r"'bbox' must be 4 finite numbers"),
    ({"bbox": "20,30,20,20"}, r"'bbox' must be 4 finite numbers"),
    ({"bbox": 5}, r"'bbox' must be 4 finite numbers x, y, width, height, got 5"),
    ({"bbox": [20, 30, float("nan"), 20]}, r"'bbox' must be 4 finite numbers"),
    ({"score": "high"}, r"'score' must be a finite number, got 'high'"),
    ({"image_id": [101]}, r"image id \[101\] is not an integer"),
    ({"image_id": "101"}, r"image id '101' is not an integer"),
])
def test_malformed_detections_are_one_clear_error(tmp_path, change, message):
    gt, _ = monkey_file(tmp_path)
    dets = [{"image_id": 101, "category_id": 1, "bbox": [20, 30, 20, 20], "score": 0.99},
            {"image_id": 102, "category_id": 1, "bbox": [60, 60, 20, 20], "score": 0.9}]
    dets[1].update(change)
    path = write_text(tmp_path / "dets.json", json.dumps(dets))
    with pytest.raises(DatasetError, match=r"dets.json: detection \[1\].*" + message):
        load_detections(path, load_coco_keypoints(gt, check_images=False))


def test_detections_of_no_keypoint_category_are_an_error(tmp_path):
    gt, _ = monkey_file(tmp_path)
    coco = load_coco_keypoints(gt, check_images=False)
    dets = [{"image_id": 101, "category_id": 3, "bbox": [20, 30, 20, 20], "score": 0.99}]
    path = write_text(tmp_path / "dets.json", json.dumps(dets))
    with pytest.raises(DatasetError, match=r"no detection has the keypoint category 1 .*category ids found: 3"):
        load_detections(path, coco)
    # a detector's file of several classes keeps the keypoint category's boxes
    dets.append({"image_id": 102, "category_id": 1, "bbox": [60, 60, 20, 20], "score": 0.5})
    path.write_text(json.dumps(dets))
    assert list(load_detections(path, coco)) == [102]


# --------------------------------------------------------------------------------------------- writing
def test_json_is_written_strictly_and_atomically(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(HRNetZooError, match=r"out.json: refusing to write a non-finite number"):
        write_json(target, [{"score": math.nan}])
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no temporary file
    write_json(target, [{"score": 1.5}])
    assert json.loads(target.read_text()) == [{"score": 1.5}]


def test_evaluate_output_refuses_inputs_and_existing_files(tmp_path, capsys):
    gt, data = monkey_file(tmp_path)
    res = write_text(tmp_path / "res.json", json.dumps(perfect_results(data)))
    dets = write_text(tmp_path / "dets.json", "[]")
    gt_text, res_text = gt.read_text(), res.read_text()
    for target in (gt, res):   # its own inputs: never, not even with --force
        for force in ([], ["--force"]):
            assert main(["evaluate", "--results", str(res), "--ann", str(gt), "--output", str(target), *force]) == 2
            assert "is an input of this command" in capsys.readouterr().err
    assert gt.read_text() == gt_text and res.read_text() == res_text
    argv = ["evaluate", "--model", "w32", "--images", str(tmp_path), "--ann", str(gt), "--boxes", str(dets)]
    assert main(argv + ["--output", str(dets)]) == 2          # refused before any model is loaded
    assert dets.read_text() == "[]"

    out = tmp_path / "scored.json"
    assert main(["evaluate", "--results", str(res), "--ann", str(gt), "--output", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["AP"] == 1.0
    assert json.loads(out.read_text()) == perfect_results(data)   # --output with --results: the scored results
    out.write_text("mine")
    assert main(["evaluate", "--results", str(res), "--ann", str(gt), "--output", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_text() == "mine"
    assert main(["evaluate", "--results", str(res), "--ann", str(gt), "--output", str(out), "--force"]) == 0
    assert json.loads(out.read_text()) == perfect_results(data)


def test_evaluate_workers_must_not_be_negative(tmp_path, capsys):
    gt, _ = monkey_file(tmp_path)
    assert main(["evaluate", "--model", "w32", "--images", str(tmp_path), "--ann", str(gt), "--workers", "-1"]) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "--workers must be 0 or more, got -1" in err


@pytest.mark.parametrize("change", [{"bbox": 5}, {"bbox": ["1", "2", "30", "40"]}, {"score": "high"},
                                    {"image_id": [0]}, {"image_id": "0"}])
def test_predict_reads_detections_strictly(tmp_path, capsys, change):
    from PIL import Image

    Image.new("RGB", (64, 48)).save(tmp_path / "0001.png")
    det = {"image_id": 0, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.9, **change}
    (tmp_path / "dets.json").write_text(json.dumps([det]))
    argv = ["predict", "--model", "w32", "--images", str(tmp_path / "0001.png"), "--boxes", str(tmp_path / "dets.json"),
            "--output", str(tmp_path / "out")]
    assert main(argv) == 1          # refused before any model is loaded
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "dets.json: detection [0]" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
