"""``predict``/``evaluate`` with a model: COCO image ids through --ann, unique drawing names, an
unwritable --output, and a model whose heatmaps are not finite — each a result or one line."""
import copy
import json
import shutil

import pytest

from cli_output import error_lines
import torch
from synthetic_keypoints import make_synthetic_coco

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.cli.predict import PREDICT_EPILOG
from hrnet_zoo.data import load_coco_keypoints
from hrnet_zoo.errors import NonFiniteOutputError

pytest.importorskip("pycocotools")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    paths = make_synthetic_coco(root, num_images=3, seed=3, split="val")
    kset = load_coco_keypoints(paths["ann_file"], paths["image_dir"]).keypoint_set
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", keypoints=kset,
                                   pretrained_cfg_overlay={"input_size": (64, 48)}).eval()
    model.save_pretrained(root / "model")
    gt = json.loads(open(paths["ann_file"]).read())
    return {**paths, "model": model, "model_dir": str(root / "model"), "root": root, "gt": gt}


def test_predict_boxes_with_coco_image_ids_through_ann(tiny, tmp_path, capsys):
    gt = copy.deepcopy(tiny["gt"])
    for image in gt["images"]:   # COCO ids are not list indices
        image["id"] += 1000
    for ann in gt["annotations"]:
        ann["image_id"] += 1000
    (tmp_path / "val.json").write_text(json.dumps(gt))
    images = [f"{tiny['image_dir']}/{im['file_name']}" for im in gt["images"]][::-1]
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9} for a in gt["annotations"]]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "out"
    assert main(["predict", "--model", tiny["model_dir"], "--images", *images[:2], "--ann", str(tmp_path / "val.json"),
                 "--boxes", str(tmp_path / "dets.json"), "--output", str(out), "--json", "--no-flip-test"]) == 0
    results = json.loads((out / "keypoints.json").read_text())
    ids_of = {f"{tiny['image_dir']}/{im['file_name']}": im["id"] for im in gt["images"]}
    expected = sorted(a["image_id"] for a in gt["annotations"] if a["image_id"] in {ids_of[p] for p in images[:2]})
    assert sorted(r["image_id"] for r in results) == expected
    assert all(ids_of[r["file_name"]] == r["image_id"] for r in results)
    capsys.readouterr()
    # without --ann the ids must be indices, and the error says how to use COCO ids
    assert main(["predict", "--model", tiny["model_dir"], "--images", *images, "--boxes", str(tmp_path / "dets.json"),
                 "--output", str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err
    assert "is not an index of the 3 --images" in err and "--ann" in err and len(error_lines(err)) == 1
    dets.append({"image_id": 7, "category_id": 1, "bbox": [1, 1, 9, 9], "score": 0.9})
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    assert main(["predict", "--model", tiny["model_dir"], "--images", *images, "--ann", str(tmp_path / "val.json"),
                 "--boxes", str(tmp_path / "dets.json"), "--output", str(tmp_path / "out4")]) == 1
    assert f"detection [{len(dets) - 1}]: image id 7 is not in --ann" in capsys.readouterr().err
    assert main(["predict", "--model", tiny["model_dir"], "--images", str(tmp_path / "val.json"), "--box", "1,1,9,9",
                 "--ann", str(tmp_path / "val.json"), "--output", str(tmp_path / "out3")]) == 2
    assert "is not among the images" in capsys.readouterr().err


def test_predict_help_names_real_options_and_files():
    assert "--image-ids" not in PREDICT_EPILOG
    assert "--ann" in PREDICT_EPILOG and "_keypoints.jpg" in PREDICT_EPILOG


def test_predict_images_sharing_a_stem_get_unique_drawings(tiny, tmp_path, capsys):
    source = f"{tiny['image_dir']}/{tiny['gt']['images'][0]['file_name']}"
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / "x.png")
    out = tmp_path / "out"
    images = [str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")]
    assert main(["predict", "--model", tiny["model_dir"], "--images", *images, "--box", "5,5,60,80",
                 "--output", str(out), "--json", "--no-flip-test"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(set(summary["images"])) == 2 and all(open(p, "rb").read(2) == b"\xff\xd8" for p in summary["images"])
    assert sorted(p.name for p in out.iterdir()) == ["keypoints.json", "x-2_keypoints.jpg", "x_keypoints.jpg"]
    assert main(["predict", "--model", tiny["model_dir"], "--images", images[0], images[0], "--box", "5,5,60,80",
                 "--output", str(tmp_path / "again")]) == 2
    assert "twice" in capsys.readouterr().err


def test_predict_into_an_unwritable_place_is_one_line(tiny, tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder would be")
    image = f"{tiny['image_dir']}/{tiny['gt']['images'][0]['file_name']}"
    assert main(["predict", "--model", tiny["model_dir"], "--images", image, "--box", "5,5,60,80",
                 "--output", str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and str(blocker / "out") in err and "Traceback" not in err


@pytest.fixture(scope="module")
def broken_model_dir(tiny):
    model = copy.deepcopy(tiny["model"])
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))   # what a diverged training run leaves
    model.save_pretrained(tiny["root"] / "broken")
    return str(tiny["root"] / "broken"), model


def test_non_finite_heatmaps_are_one_line(tiny, broken_model_dir, tmp_path, capsys):
    path, model = broken_model_dir
    image = f"{tiny['image_dir']}/{tiny['gt']['images'][0]['file_name']}"
    with pytest.raises(NonFiniteOutputError, match="heatmaps hold NaN or infinity for 1 of 1 box"):
        hrnet_zoo.predict_keypoints(model, torch.zeros(3, 64, 48, dtype=torch.uint8), [[2, 2, 30, 40]])
    assert main(["evaluate", "--model", path, "--ann", tiny["ann_file"], "--images", tiny["image_dir"],
                 "--no-flip-test", "--output", str(tmp_path / "r.json")]) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and f"--model {path}" in err and "(image id" in err and "NaN" in err
    assert not (tmp_path / "r.json").exists()
    assert main(["predict", "--model", path, "--images", image, "--box", "5,5,60,80", "--no-flip-test",
                 "--output", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and image in err and "NaN" in err


def test_predict_with_boxes_batches_across_images_and_scores_as_the_estimator(tiny, tmp_path, capsys):
    """--box/--boxes run through the same batched core as a detector (PoseEstimator.stream): the
    keypoints do not depend on how crops of different images share batches, and the score is the
    official rescoring of `hrnet_zoo.PoseEstimator`."""
    images = [f"{tiny['image_dir']}/{image['file_name']}" for image in tiny["gt"]["images"]]
    runs = {}
    for batch in (1, 3):
        out = tmp_path / f"b{batch}"
        assert main(["predict", "--model", tiny["model_dir"], "--images", *images, "--box", "5,5,40,50",
                     "--batch-size", str(batch), "--output", str(out), "--json", "--no-flip-test",
                     "--decoder", "quarter"]) == 0
        capsys.readouterr()
        runs[batch] = json.loads((out / "keypoints.json").read_text())
    assert len(runs[1]) == len(images) == len(runs[3])
    for one, three in zip(runs[1], runs[3]):
        assert one["image_id"] == three["image_id"]
        assert one["keypoints"] == pytest.approx(three["keypoints"], abs=2e-3)
    estimator = hrnet_zoo.PoseEstimator(tiny["model"], flip_test=False, decoder="quarter")
    from hrnet_zoo.data.images import read_image
    person, = estimator(read_image(images[0]), boxes=[[5, 5, 40, 50, 1.0]])
    assert runs[3][0]["score"] == pytest.approx(person.score, abs=1e-5)
