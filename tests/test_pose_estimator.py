"""PoseEstimator: whole images → people, through the same batched core as predict_keypoints and evaluate."""
import copy
import json

import numpy as np
import pytest
import torch

import hrnet_zoo
from hrnet_zoo.pose import PoseEstimator, PoseInstance
from hrnet_zoo.evaluation import STAT_NAMES, evaluate, rescore
from hrnet_zoo.pose.inference import predict_keypoints
from synthetic_keypoints import make_synthetic_coco


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return hrnet_zoo.create_model("hrnet_w18_small_v1", pretrained_cfg_overlay={"input_size": (64, 48)}).eval()


def photo(height, width, seed):
    """A photo-like image: smooth shading and a few bright limbs, so the crops are not noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([(xs * 255 // width), (ys * 255 // height), np.full_like(xs, 90)], -1).astype(np.uint8)
    for _ in range(6):
        x, y = rng.integers(0, width - 8), rng.integers(0, height - 20)
        image[y:y + 20, x:x + 6] = rng.integers(150, 256, 3)
    return image


IMAGES = [photo(120, 100, 0), photo(90, 140, 1), photo(150, 110, 2)]
BOXES = [np.array([[10, 12, 40, 70], [50, 20, 45, 90]], np.float64),
         np.zeros((0, 4)),
         np.array([[0, 0, 110, 150], [30, 40, 30, 50], [60, 70, 50, 75]], np.float64)]


class CountingRunner:
    """A caller-side wrapper around a runner that records each batch it is given (not a product mock:
    it forwards to the real runner, and exposes the runner's fixed batch and cfg as a runner does)."""

    def __init__(self, runner):
        self.runner, self.batches = runner, []
        self.pretrained_cfg, self.batch_size, self.device = runner.pretrained_cfg, runner.batch_size, runner.device

    def __call__(self, x):
        self.batches.append(len(x))
        return self.runner(x)


@pytest.mark.parametrize("batch_size", [2, 8])
@pytest.mark.parametrize("decoder, atol", [("quarter", 1e-5), ("dark", 2e-3)])
def test_a_list_of_images_gives_predict_keypoints_per_image(model, batch_size, decoder, atol):
    """Crops batched across images decode as predict_keypoints decodes them one image at a time. A crop's
    heatmaps differ only by the float noise of another batch composition, which DARK's Newton step amplifies
    (hence its looser tolerance)."""
    estimator = PoseEstimator(model, batch_size=batch_size, decoder=decoder)
    people = estimator(IMAGES, boxes=BOXES)
    assert [len(p) for p in people] == [2, 0, 3]
    for image, boxes, instances in zip(IMAGES, BOXES, people):
        expected = predict_keypoints(model, image, boxes, decoder=decoder).numpy()
        for instance, box, keypoints in zip(instances, boxes, expected):
            assert isinstance(instance, PoseInstance)
            np.testing.assert_array_equal(instance.box, box)
            assert instance.keypoints.shape == (17, 3)
            np.testing.assert_allclose(instance.keypoints, keypoints, atol=atol, rtol=0)
            assert instance.box_score == 1.0
            assert instance.score == pytest.approx(rescore(keypoints[None], [1.0])[0], abs=1e-6)
    # One image alone gives one list; an N×5 box array's scores weigh the pose score.
    scored = np.concatenate((BOXES[0], [[0.5], [0.8]]), axis=1)
    single = estimator(IMAGES[0], boxes=scored)
    assert [p.box_score for p in single] == [0.5, 0.8]
    np.testing.assert_allclose([p.score for p in single], rescore(np.stack([p.keypoints for p in single]), [0.5, 0.8]))


def test_full_image_detector(model):
    image = IMAGES[1]
    (instance,) = PoseEstimator(model, detector="full")(image)
    np.testing.assert_array_equal(instance.box, [0, 0, 140, 90])
    np.testing.assert_allclose(instance.keypoints, predict_keypoints(model, image, [[0, 0, 140, 90]])[0].numpy(),
                               atol=1e-5, rtol=0)
    # A PIL image and a float CHW tensor are the same photo.
    from PIL import Image
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    for same in (Image.fromarray(image), tensor):
        (again,) = PoseEstimator(model, detector="full")(same)
        np.testing.assert_array_equal(again.box, instance.box)
        np.testing.assert_allclose(again.keypoints, instance.keypoints, atol=1e-4, rtol=0)


def test_a_callable_detector_is_thresholded_and_nms_filtered(model):
    seen = []

    def detector(image):
        seen.append((image.dtype, image.shape))
        return np.array([[10, 10, 40, 60, 0.9],      # kept
                         [11, 11, 40, 60, 0.8],      # the same person again: NMS drops it
                         [60, 5, 30, 70, 0.6],       # kept
                         [5, 50, 20, 20, 0.1],       # below the score threshold
                         [70, 80, 0, 10, 0.95]])     # no width: cannot be cropped

    from PIL import Image
    people = PoseEstimator(model, detector=detector, batch_size=3)([IMAGES[0], Image.fromarray(IMAGES[2])])
    assert seen == [(np.uint8, (120, 100, 3)), (np.uint8, (150, 110, 3))]  # uint8 H×W×3 RGB numpy, even from PIL
    for image, instances in zip((IMAGES[0], IMAGES[2]), people):
        np.testing.assert_array_equal(np.stack([p.box for p in instances]), [[10, 10, 40, 60], [60, 5, 30, 70]])
        assert [p.box_score for p in instances] == [0.9, 0.6]
        expected = predict_keypoints(model, image, [[10, 10, 40, 60], [60, 5, 30, 70]]).numpy()
        np.testing.assert_allclose(np.stack([p.keypoints for p in instances]), expected, atol=1e-5, rtol=0)
    unfiltered = PoseEstimator(model, detector=detector, score_threshold=None, nms_threshold=None)(IMAGES[0])
    assert len(unfiltered) == 4
    # A detector that finds nobody, or gives N×4 boxes (score 1).
    assert PoseEstimator(model, detector=lambda image: np.zeros((0, 5)))(IMAGES) == [[], [], []]
    (found,) = PoseEstimator(model, detector=lambda image: [[10, 10, 40, 60]])(IMAGES[0])
    assert found.box_score == 1.0


def test_an_optimized_runner_is_kept_full(model):
    runner = hrnet_zoo.optimize(model, backend="torch", precision="fp32", batch_size=4, cache=False)
    counting = CountingRunner(runner)
    people = PoseEstimator(counting, batch_size=8)(IMAGES, boxes=BOXES)
    # 5 crops in batches of the runner's 4 (the last one padded), each run twice for the flip test.
    assert counting.batches == [4, 4, 4, 4]
    for image, boxes, instances in zip(IMAGES, BOXES, people):
        expected = predict_keypoints(model, image, boxes).numpy()
        # fp32 with BatchNorm folded: tiny differences, which DARK's Newton step may amplify a little.
        found = np.array([p.keypoints for p in instances]).reshape(-1, 17, 3)
        np.testing.assert_allclose(found, expected, atol=5e-2, rtol=0)
    any_batch = hrnet_zoo.optimize(model, backend="torch", precision="fp32", cache=False)
    assert [len(p) for p in PoseEstimator(any_batch, detector="full", batch_size=2)(IMAGES)] == [1, 1, 1]


def test_the_caller_s_model_is_refused_in_train_mode_and_never_changed(model):
    trained = copy.deepcopy(model).train()
    stats = trained.backbone.bn1.running_mean.clone()
    estimator = PoseEstimator(trained, detector="full")
    with pytest.raises(hrnet_zoo.InvalidArgumentError, match="train mode.*model.eval()"):
        estimator(IMAGES[0])
    assert trained.training and torch.equal(trained.backbone.bn1.running_mean, stats)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.requires_grad for p in model.parameters()]
    PoseEstimator(model, detector="full", batch_size=2)(IMAGES)
    assert not model.training and [p.requires_grad for p in model.parameters()] == grads
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("kwargs, call, match", [
    (dict(), dict(images=IMAGES[0]), "no detector: pass boxes"),
    (dict(), dict(images=IMAGES, boxes=BOXES[:2]), "one N×4 or N×5 array per image"),
    (dict(detector=lambda image: np.ones((2, 3))), dict(images=IMAGES[0]), r"the detector.s output must be N×5"),
    (dict(detector=lambda image: [[0, 0, np.nan, 5, 1]]), dict(images=IMAGES[0]), "non-finite"),
    (dict(detector="half"), None, "detector must be a callable"),
    (dict(batch_size=0), None, "batch_size"),
    (dict(decoder="mean"), None, "unknown decoder"),
    (dict(score_threshold="high"), None, "score_threshold"),
])
def test_bad_arguments_get_one_clear_error(model, kwargs, call, match):
    with pytest.raises(hrnet_zoo.HRNetZooError, match=match):
        estimator = PoseEstimator(model, **kwargs)
        estimator(**call)


def test_repr_shows_the_defaults_taken_from_pretrained_cfg(model):
    text = repr(PoseEstimator(model, detector="full"))
    assert "input_size=(64, 48)" in text and "decoder='dark'" in text and "pairs from pretrained_cfg" in text


# ---------------------------------------------------------------- evaluate shares the batches across images


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    return make_synthetic_coco(tmp_path_factory.mktemp("pose_eval"), num_images=4, seed=3, split="val")


def test_evaluate_batches_crops_across_images_with_the_same_results(coco, tmp_path):
    from hrnet_zoo.data import load_coco_keypoints
    dataset = load_coco_keypoints(coco["ann_file"], coco["image_dir"])
    num_people = len(dataset.records)
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", keypoints=dataset.keypoint_set,
                                   pretrained_cfg_overlay={"input_size": (64, 48)}).eval()
    runner = hrnet_zoo.optimize(model, backend="torch", precision="fp32", cache=False)
    counting = CountingRunner(runner)
    metrics = evaluate(counting, coco["ann_file"], coco["image_dir"], batch_size=64, results_file=tmp_path / "a.json")
    assert num_people > 4 and counting.batches == [num_people, num_people]  # all images' crops in one batch
    small = evaluate(runner, coco["ann_file"], coco["image_dir"], batch_size=2, results_file=tmp_path / "b.json")
    assert {n: small[n] for n in STAT_NAMES} == {n: metrics[n] for n in STAT_NAMES}
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert [r["image_id"] for r in a] == [r["image_id"] for r in b]
    np.testing.assert_allclose([r["keypoints"] for r in a], [r["keypoints"] for r in b], atol=2e-3)


# ---------------------------------------------------------------- benchmarks/pipeline.py


def test_pipeline_benchmark_writes_both_timings_in_one_run(tmp_path):
    import importlib.util
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "pipeline.py"
    spec = importlib.util.spec_from_file_location("benchmark_pipeline", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = tmp_path / "pipeline.json"
    assert module.main(["--model", "hrnet_w18_small_v1", "--input-size", "64", "48", "--image-size", "96", "128",
                        "--frames", "3", "--people", "3", "--batch-size", "4", "--backend", "torch", "--precision",
                        "fp32", "--device", "cpu", "--warmup", "0", "--repeats", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    (row,) = result["rows"]
    assert row["crops"] == 9 and row["model_calls"] == 3 and row["runner"].startswith("torch fp32 on cpu (4×3×64×48")
    assert len(row["pipeline_s"]) == len(row["runner_s"]) == len(row["overhead_per_repeat"]) == 2
    assert row["pipeline_frames_per_s"] > 0 and row["runner_frames_per_s"] > 0
    assert result["environment"]["cpu"] and "cpu_flags" in result["environment"]
