"""hrnet_zoo.evaluation: AP equals pycocotools' (custom K and sigmas included), rescoring and OKS-NMS
equal a transcription of the official code, PCK, model evaluation with ground-truth or detector boxes,
the evaluate/predict commands."""
import contextlib
import copy
import io
import json

import numpy as np
import pytest
import torch
from synthetic_keypoints import make_synthetic_coco

import hrnet_zoo
from hrnet_zoo.cli import main
from hrnet_zoo.data import DatasetError, load_coco_keypoints
from hrnet_zoo.evaluation import STAT_NAMES, evaluate, evaluate_results, oks_nms, postprocess, rescore
from hrnet_zoo.evaluation.functional import oks_overlaps
from hrnet_zoo.pose.keypoint_set import COCO_SIGMAS
from hrnet_zoo.pose.oks import oks

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


# --------------------------------------------------------------------------------------------- transcription
# The official code, transcribed from a reading of leoxiaobin/deep-high-resolution-net.pytorch
# (lib/nms/nms.py oks_iou + oks_nms; lib/dataset/coco.py COCODataset.evaluate's rescoring), loops kept.
def official_oks_iou(g, d, a_g, a_d, sigmas, in_vis_thre=None):
    variances = (sigmas * 2) ** 2
    xg, yg, vg = g[0::3], g[1::3], g[2::3]
    ious = np.zeros(d.shape[0])
    for n_d in range(d.shape[0]):
        xd, yd, vd = d[n_d, 0::3], d[n_d, 1::3], d[n_d, 2::3]
        dx, dy = xd - xg, yd - yg
        e = (dx ** 2 + dy ** 2) / variances / ((a_g + a_d[n_d]) / 2 + np.spacing(1)) / 2
        if in_vis_thre is not None:
            ind = list(vg > in_vis_thre) and list(vd > in_vis_thre)   # Python's `and`: the second list
            e = e[ind]
        ious[n_d] = np.sum(np.exp(-e)) / e.shape[0] if e.shape[0] != 0 else 0.0
    return ious


def official_oks_nms(kpts_db, thresh, sigmas, in_vis_thre=None):
    if len(kpts_db) == 0:
        return []
    scores = np.array([p["score"] for p in kpts_db])
    kpts = np.array([p["keypoints"].flatten() for p in kpts_db])
    areas = np.array([p["area"] for p in kpts_db])
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        oks_ovr = official_oks_iou(kpts[i], kpts[order[1:]], areas[i], areas[order[1:]], sigmas, in_vis_thre)
        inds = np.where(oks_ovr <= thresh)[0]
        order = order[inds + 1]
    return keep


def official_rescore(people, num_keypoints, in_vis_thre=0.2):
    for person in people:
        box_score = person["score"]
        kpt_score, valid_num = 0, 0
        for j in range(num_keypoints):
            t_s = person["keypoints"][j][2]
            if t_s > in_vis_thre:
                kpt_score += t_s
                valid_num += 1
        if valid_num != 0:
            kpt_score = kpt_score / valid_num
        person["score"] = kpt_score * box_score
    return people


def crowded_people(rng, n=12, k=17):
    """People around two centres (so that OKS-NMS has something to suppress), scores in [0, 1]."""
    centres = np.array([[50.0, 60.0], [120.0, 80.0]])
    base = rng.uniform(-30, 30, size=(2, k, 2))
    people = []
    for i in range(n):
        c = i % 2
        xy = centres[c] + base[c] + rng.normal(0, 1.0 if i < 8 else 6.0, size=(k, 2))
        scores = rng.uniform(0, 1, size=(k, 1))
        people.append({"keypoints": np.concatenate((xy, scores), 1), "area": float(rng.uniform(2000, 6000)),
                       "score": float(rng.uniform(0.3, 1))})
    return people


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k,sigmas", [(17, np.array(COCO_SIGMAS)), (5, np.array([0.05, 0.08, 0.08, 0.1, 0.1]))])
def test_rescoring_and_oks_nms_equal_the_official_code(seed, k, sigmas):
    rng = np.random.default_rng(seed)
    people = crowded_people(rng, k=k)
    expected = official_rescore(copy.deepcopy(people), k)
    scores = rescore(np.stack([p["keypoints"] for p in people]), [p["score"] for p in people])
    np.testing.assert_allclose(scores, [p["score"] for p in expected], rtol=1e-12)
    for thresh in (0.9, 0.5):
        for in_vis in (None, 0.2):
            keep = official_oks_nms(expected, thresh, sigmas, in_vis)
            ours = oks_nms(np.stack([p["keypoints"] for p in people]), scores, [p["area"] for p in people],
                           sigmas, thresh, in_vis)
            assert ours == [int(i) for i in keep]
            assert len(keep) < len(people) or thresh == 0.9


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("in_vis", [None, 0.2, 0.6])
def test_the_nms_oks_is_the_official_oks_iou(seed, in_vis):
    # the NMS runs the package's one OKS (hrnet_zoo.pose.oks); fed as oks_iou feeds its formula, the
    # values equal the transcription's, a person with no keypoint above in_vis_thre included (OKS 0)
    rng = np.random.default_rng(seed)
    people = crowded_people(rng, k=17)
    people[3]["keypoints"][:, 2] = 0.1
    keypoints = np.stack([p["keypoints"] for p in people])
    areas = np.array([p["area"] for p in people])
    sigmas = np.array(COCO_SIGMAS)
    flat = keypoints.reshape(len(people), -1)
    for index in (0, 5):
        others = np.array([i for i in range(len(people)) if i != index])
        expected = official_oks_iou(flat[index], flat[others], areas[index], areas[others], sigmas, in_vis)
        ours = oks_overlaps(keypoints, index, others, areas, sigmas, in_vis)
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)
        if in_vis is not None:
            assert ours[list(others).index(3)] == 0.0


def test_the_nms_oks_and_coco_s_oks_are_one_function():
    # equal areas and every keypoint labelled: the pair's OKS is COCO's OKS of the kept person against the others
    rng = np.random.default_rng(3)
    keypoints = np.stack([p["keypoints"] for p in crowded_people(rng, n=6, k=5)])
    sigmas = [0.05, 0.08, 0.08, 0.1, 0.1]
    others = keypoints[1:].copy()
    others[..., 2] = 2
    coco_oks = oks(keypoints[:1], others, np.full(5, 3000.0), sigmas).numpy()[0]
    np.testing.assert_array_equal(oks_overlaps(keypoints, 0, np.arange(1, 6), np.full(6, 3000.0), sigmas), coco_oks)


def test_rescoring_of_a_person_without_confident_keypoints_is_zero():
    keypoints = np.zeros((1, 5, 3))
    keypoints[0, :, 2] = 0.1
    assert rescore(keypoints, [0.9]).tolist() == [0.0]


# --------------------------------------------------------------------------------------------- AP = pycocotools
def ground_truth(k=5, num_images=4, seed=0, with_area=True):
    rng = np.random.default_rng(seed)
    names = ["head", "left_a", "right_a", "left_b", "right_b", "tail"][:k] if k <= 6 else [f"kp{i}" for i in range(k)]
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "file_name": f"{image_id}.png", "width": 300, "height": 200})
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, 150), rng.uniform(0, 80)
            w, h = rng.uniform(20, 140), rng.uniform(20, 110)
            xy = np.stack((rng.uniform(x, x + w, k), rng.uniform(y, y + h, k)), 1)
            v = rng.choice([0, 1, 2], size=k, p=[0.15, 0.15, 0.7])
            xy[v == 0] = 0
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": 7, "iscrowd": 0,
                   "bbox": [x, y, w, h], "keypoints": np.concatenate((xy, v[:, None]), 1).reshape(-1).tolist(),
                   "num_keypoints": int((v > 0).sum())}
            if with_area:
                ann["area"] = w * h * 0.7
            annotations.append(ann)
    categories = [{"id": 7, "name": "thing", "keypoints": names, "skeleton": [[1, 2]]}]
    return {"images": images, "annotations": annotations, "categories": categories}


def noisy_results(gt, seed=0, extra=3):
    rng = np.random.default_rng(seed)
    results = []
    for ann in gt["annotations"]:
        kpts = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        kpts[:, :2] += rng.normal(0, rng.uniform(1, 12), size=(len(kpts), 2))
        kpts[:, 2] = rng.uniform(0.2, 1, len(kpts))
        results.append({"image_id": ann["image_id"], "category_id": 7, "keypoints": kpts.reshape(-1).tolist(),
                        "score": float(rng.uniform(0.1, 1))})
    for _ in range(extra):  # false positives
        kpts = np.concatenate((rng.uniform(0, 300, (len(kpts), 2)), rng.uniform(0, 1, (len(kpts), 1))), 1)
        results.append({"image_id": int(rng.integers(1, len(gt["images"]) + 1)), "category_id": 7,
                        "keypoints": kpts.reshape(-1).tolist(), "score": float(rng.uniform(0, 1))})
    return results


def pycocotools_stats(gt, results, sigmas):
    data = copy.deepcopy(gt)
    for ann in data["annotations"]:
        ann.setdefault("area", ann["bbox"][2] * ann["bbox"][3])
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(STAT_NAMES, ev.stats.tolist()))


@pytest.mark.parametrize("k,sigmas,with_area", [
    (5, [0.05, 0.09, 0.09, 0.07, 0.07], True),
    (5, None, False),                 # default sigmas, area from the box
    (17, None, True),                 # COCO names → COCO sigmas
])
def test_ap_equals_pycocotools(tmp_path, k, sigmas, with_area):
    gt = ground_truth(k, with_area=with_area)
    if k == 17:
        gt["categories"][0]["keypoints"] = list(hrnet_zoo.pose.COCO_KEYPOINTS.keypoint_names)
    results = noisy_results(gt)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    expected_sigmas = sigmas or (COCO_SIGMAS if k == 17 else [0.05] * k)
    expected = pycocotools_stats(gt, results, expected_sigmas)
    assert 0.05 < expected["AP"] < 0.95   # a figure with something to get wrong
    ours = evaluate_results(tmp_path / "res.json", tmp_path / "gt.json", sigmas=sigmas)
    assert {n: ours[n] for n in STAT_NAMES} == expected

    argv = ["evaluate", "--results", str(tmp_path / "res.json"), "--ann", str(tmp_path / "gt.json"), "--json"]
    if sigmas:
        argv += ["--sigmas", ",".join(map(str, sigmas))]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    printed = json.loads(out.getvalue())
    assert {n: printed[n] for n in STAT_NAMES} == expected
    assert all(isinstance(printed[n], float) for n in ("AP", "AP50", "AP75", "APm", "APl", "AR"))


def test_results_errors_name_the_file_and_image(tmp_path, capsys):
    gt = ground_truth()
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    results = noisy_results(gt)
    results[2]["image_id"] = 4242
    (tmp_path / "res.json").write_text(json.dumps(results))
    with pytest.raises(DatasetError, match=r"res.json: result \[2\]: image id 4242 is not in .*gt.json"):
        evaluate_results(tmp_path / "res.json", tmp_path / "gt.json")
    assert main(["evaluate", "--results", str(tmp_path / "res.json"), "--ann", str(tmp_path / "gt.json")]) == 1
    summary, error = capsys.readouterr().err.splitlines()   # the keypoint summary line, then one error line
    assert summary.startswith("keypoints: ") and "4242" in error and "Traceback" not in error
    results[2]["image_id"] = 1
    results[2]["keypoints"] = [1, 2, 3]
    with pytest.raises(DatasetError, match=r"result \[2\] \(image id 1\): 'keypoints' must be 15 numbers"):
        evaluate_results(results, tmp_path / "gt.json")


def test_pck_and_mean_error(tmp_path):
    gt = ground_truth(seed=4)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    coco = load_coco_keypoints(tmp_path / "gt.json", check_images=False)
    perfect = [{"image_id": a["image_id"], "category_id": 7, "keypoints": a["keypoints"], "score": 1.0}
               for a in gt["annotations"]]
    metrics = evaluate_results(perfect, coco)
    assert metrics["PCK@0.05"] == 1.0 and metrics["mean_error_px"] == 0.0 and metrics["AP"] == 1.0
    shifted = copy.deepcopy(perfect)
    for r in shifted:
        r["keypoints"] = [v + 3.0 if i % 3 == 0 else v for i, v in enumerate(r["keypoints"])]
    metrics = evaluate_results(shifted, coco)
    assert metrics["mean_error_px"] == pytest.approx(3.0)
    annotated = {a["id"]: a["bbox"] for a in gt["annotations"]}   # PCK's normaliser: the box as annotated
    sizes = np.array([max(annotated[r.ann_id][2], annotated[r.ann_id][3]) for r in coco.records])
    labelled = np.array([(r.visible > 0).sum() for r in coco.records])
    assert metrics["PCK@0.05"] == pytest.approx((labelled * (3.0 <= 0.05 * sizes)).sum() / labelled.sum())
    assert set(metrics["per_keypoint_error_px"]) == set(coco.keypoint_set.keypoint_names)


def test_postprocess_keeps_one_of_duplicates():
    kpts = np.tile(np.array([[10.0, 10, 0.9], [20, 30, 0.8], [40, 50, 0.7]]), (3, 1, 1))
    kpts[2, :, :2] += 100
    people = [{"image_id": 1, "keypoints": k, "box_score": s, "area": 900.0} for k, s in zip(kpts, (1.0, 0.5, 1.0))]
    results = postprocess(people, 3, [0.05] * 3)
    assert len(results) == 2 and all(r["category_id"] == 3 for r in results)
    assert results[0]["score"] == pytest.approx(0.8)


# --------------------------------------------------------------------------------------------- a model
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalsyn")
    paths = make_synthetic_coco(root, num_images=4, seed=7, split="val")
    kset = load_coco_keypoints(paths["ann_file"], paths["image_dir"]).keypoint_set
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", keypoints=kset,
                                   pretrained_cfg_overlay={"input_size": (64, 48)})
    model.save_pretrained(root / "model")
    return {**paths, "model": model.eval(), "model_dir": str(root / "model"), "root": root}


def test_evaluate_a_model_with_ground_truth_or_detector_boxes(tiny, tmp_path):
    results_file = tmp_path / "res.json"
    metrics = evaluate(tiny["model"], tiny["ann_file"], tiny["image_dir"], results_file=results_file)
    for name in ("AP", "AP50", "AP75", "APm", "APl", "AR", "PCK@0.05", "PCK@0.1"):
        assert -1.0 <= metrics[name] <= 1.0
    again = evaluate_results(results_file, tiny["ann_file"])
    assert {n: again[n] for n in STAT_NAMES} == {n: metrics[n] for n in STAT_NAMES}
    gt = json.loads(open(tiny["ann_file"]).read())
    detections = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
                  for a in gt["annotations"]] + [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 1}]
    (tmp_path / "dets.json").write_text(json.dumps(detections))
    with_dets = evaluate(tiny["model"], tiny["ann_file"], tiny["image_dir"], boxes=tmp_path / "dets.json",
                         flip_test=False, decoder="quarter")
    assert with_dets["num_results"] <= len(gt["annotations"])
    detections[0]["bbox"] = [3, 3, 0, 9]
    (tmp_path / "dets.json").write_text(json.dumps(detections))
    with pytest.raises(DatasetError, match=r"dets.json: detection \[0\] \(image id 1\): box .* has zero size"):
        evaluate(tiny["model"], tiny["ann_file"], tiny["image_dir"], boxes=tmp_path / "dets.json")
    other_k = hrnet_zoo.create_model("hrnet_w18_small_v1", num_keypoints=3).eval()
    with pytest.raises(DatasetError, match=r"the model predicts 3 keypoints but the file's category has 5"):
        evaluate(other_k, tiny["ann_file"], tiny["image_dir"])
    detections[0] = {"image_id": 77, "bbox": [1, 1, 5, 5], "score": 1}
    (tmp_path / "dets.json").write_text(json.dumps(detections))
    with pytest.raises(DatasetError, match=r"detection \[0\]: image id 77 is not in"):
        evaluate(tiny["model"], tiny["ann_file"], tiny["image_dir"], boxes=tmp_path / "dets.json")


def test_evaluate_and_predict_commands(tiny, tmp_path, capsys):
    argv = ["evaluate", "--model", tiny["model_dir"], "--ann", tiny["ann_file"], "--images", tiny["image_dir"],
            "--json", "--output", str(tmp_path / "r.json")]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"AP", "AP50", "AP75", "APm", "APl", "AR"} <= set(printed)
    gt = json.loads(open(tiny["ann_file"]).read())
    stats = pycocotools_stats(gt, json.loads((tmp_path / "r.json").read_text()), [0.05] * 5)
    assert {n: printed[n] for n in STAT_NAMES} == stats

    images = [f"{tiny['image_dir']}/{im['file_name']}" for im in gt["images"][:2]]
    out = tmp_path / "pred"
    assert main(["predict", "--model", tiny["model_dir"], "--images", *images, "--box", "5,5,60,80",
                 "--output", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    results = json.loads((out / "keypoints.json").read_text())
    assert summary["people"] == 2 and len(results[0]["keypoints"]) == 15
    assert all((out / p.split("/")[-1]).is_file() for p in summary["images"])
    assert main(["predict", "--model", tiny["model_dir"], "--images", *images, "--box", "5,5,60,80",
                 "--output", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    dets = [{"image_id": 1, "bbox": [5, 5, 50, 60], "score": 0.8}, {"image_id": 1, "bbox": [60, 5, 40, 70], "score": 0.7}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    assert main(["predict", "--model", tiny["model_dir"], "--images", *images, "--boxes", str(tmp_path / "dets.json"),
                 "--output", str(out), "--force"]) == 0
    assert [r["image_id"] for r in json.loads((out / "keypoints.json").read_text())] == [1, 1]
    capsys.readouterr()
    dets[0]["bbox"] = [5, 5, 0, 60]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    assert main(["predict", "--model", tiny["model_dir"], "--images", *images, "--boxes", str(tmp_path / "dets.json"),
                 "--output", str(out), "--force"]) == 1
    err = capsys.readouterr().err
    assert "dets.json: detection [0] (image id 1)" in err and "zero size" in err and err.count("\n") == 1


def test_evaluate_leaves_the_caller_s_model_mode_alone(tiny):
    model = tiny["model"].train()
    try:
        with pytest.raises(ValueError, match="train mode"):
            evaluate(model, tiny["ann_file"], tiny["image_dir"])
        assert model.training  # refused, not switched
    finally:
        model.eval()


def test_evaluate_takes_an_optimized_runner_in_place_of_the_model(tiny, tmp_path):
    runner = hrnet_zoo.optimize(tiny["model"], "torch", "fp32", cache=False)
    assert runner.pretrained_cfg.input_size == (64, 48)  # the runner carries the model's cfg
    by_model = evaluate(tiny["model"], tiny["ann_file"], tiny["image_dir"], results_file=tmp_path / "m.json")
    by_runner = evaluate(runner, tiny["ann_file"], tiny["image_dir"], results_file=tmp_path / "r.json")
    assert {n: by_runner[n] for n in STAT_NAMES} == pytest.approx({n: by_model[n] for n in STAT_NAMES}, abs=1e-4)
    model_results = json.loads((tmp_path / "m.json").read_text())
    runner_results = json.loads((tmp_path / "r.json").read_text())
    assert len(runner_results) == len(model_results) > 0
    for a, b in zip(model_results, runner_results):
        # BatchNorm folding changes fp32 rounding; on this untrained model's flat heatmaps the DARK offset
        # moves a keypoint by up to ~0.013 px on some CPUs: 0.05 px still catches a wrong crop or decoder
        assert np.allclose(a["keypoints"], b["keypoints"], atol=5e-2)


# --------------------------------------------------------------------------------------------- the package
def test_the_old_paths_keep_working():
    import importlib
    import sys

    import hrnet_zoo.evaluation as evaluation
    import hrnet_zoo.pose.scoring as pose_scoring
    from hrnet_zoo.evaluation import coco, files, functional, metrics, run

    # the 0.2 module paths warn on import (until 0.4), naming the new module
    old = {}
    for name, home in (("metrics", "hrnet_zoo.evaluation.metrics"), ("result_files", "hrnet_zoo.evaluation.files")):
        sys.modules.pop(f"hrnet_zoo.{name}", None)
        with pytest.warns(DeprecationWarning, match=rf"hrnet_zoo\.{name} is deprecated.*import from {home}"):
            old[name] = importlib.import_module(f"hrnet_zoo.{name}")
    old_metrics, old_files = old["metrics"], old["result_files"]

    # what `from hrnet_zoo.evaluation import ...` gave when it was one module
    for name in ("evaluate", "evaluate_results", "coco_keypoint_ap", "keypoint_errors", "load_detections",
                 "load_results", "oks_nms", "oks_overlaps", "postprocess", "rescore", "write_json",
                 "conventional_metrics", "predict_people", "ground_truth_boxes", "IN_VIS_THRESHOLD",
                 "OKS_THRESHOLD", "STAT_NAMES", "PCK_THRESHOLDS", "METRIC_NAMES", "check_detection",
                 "read_list", "_ground_truth", "_keypoint_category_ids", "_metric_names"):
        assert hasattr(evaluation, name), name
    assert evaluation.evaluate is run.evaluate and evaluation.coco_keypoint_ap is coco.coco_keypoint_ap
    assert evaluation.rescore is functional.rescore is pose_scoring.rescore  # PoseEstimator's rescoring
    assert (evaluation.IN_VIS_THRESHOLD, evaluation.OKS_THRESHOLD) == (0.2, 0.9)
    assert old_metrics.keypoint_errors is metrics.keypoint_errors
    assert old_metrics.AUC_THRESHOLDS is metrics.AUC_THRESHOLDS
    assert old_metrics.match_people is metrics.match_people and old_metrics._pck is metrics._pck
    for name in ("write_json", "dumps", "read_list", "check_result", "check_detection", "check_category",
                 "read_image_index", "image_id_of", "is_finite_number"):
        assert getattr(old_files, name) is getattr(files, name), name
