"""hrnet_zoo.data: COCO-format parsing with clear errors, the official augmentation's geometry and
statistics, determinism across workers."""
import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from synthetic_keypoints import NAMES, make_synthetic_coco

from hrnet_zoo.data import AugmentConfig, CocoKeypointDataset, DatasetError, crop_transforms, load_coco_keypoints
from hrnet_zoo.data.transforms import half_body_center_scale, random_crop
from hrnet_zoo.pose.geometry import affine_points, box_to_center_scale, crop_images, get_affine_transform
from hrnet_zoo.pose.keypoint_set import COCO_KEYPOINTS, DEFAULT_SIGMA

INPUT = (64, 48)
COLOURS = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2}  # keypoint → its disc's dominant channel (head red, hands green, feet blue)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic_coco(tmp_path_factory.mktemp("syn"), num_images=6, seed=3)


def write_variant(tmp_path, synthetic, edit):
    data = json.loads(open(synthetic["ann_file"]).read())
    edit(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


def test_keypoint_set_comes_from_the_category(synthetic):
    coco = load_coco_keypoints(synthetic["ann_file"], synthetic["image_dir"])
    kset = coco.keypoint_set
    assert kset.keypoint_names == tuple(NAMES) and kset.name == "figure"
    assert kset.skeleton == ((0, 1), (0, 2), (0, 3), (0, 4))             # 1-based in the file
    assert kset.flip_pairs == ((1, 2), (3, 4))                           # from left_/right_ names
    assert kset.sigmas == (DEFAULT_SIGMA,) * 5
    given = load_coco_keypoints(synthetic["ann_file"], synthetic["image_dir"], flip_pairs=[(3, 4)],
                                sigmas=[0.1] * 5).keypoint_set
    assert given.flip_pairs == ((3, 4),) and given.sigmas == (0.1,) * 5
    assert len(coco.records) == synthetic["num_annotations"]


def test_category_sigmas_and_coco_person_sigmas(tmp_path, synthetic):
    path = write_variant(tmp_path, synthetic, lambda d: d["categories"][0].update(sigmas=[0.07] * 5))
    assert load_coco_keypoints(path, synthetic["image_dir"]).keypoint_set.sigmas == (0.07,) * 5

    def to_person(d):
        d["categories"] = [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS.keypoint_names)}]
        for a in d["annotations"]:
            a["keypoints"] = a["keypoints"] + [0] * 36
    person = load_coco_keypoints(write_variant(tmp_path, synthetic, to_person), synthetic["image_dir"]).keypoint_set
    assert person.sigmas == COCO_KEYPOINTS.sigmas and person.flip_pairs == COCO_KEYPOINTS.flip_pairs


def test_crowd_and_unlabelled_annotations_are_skipped(tmp_path, synthetic):
    def edit(d):
        d["annotations"][0]["iscrowd"] = 1
        d["annotations"][1]["keypoints"] = [0] * 15
        d["annotations"][1]["bbox"] = [0, 0, 0, 0]   # not even checked: skipped first, as the official
    coco = load_coco_keypoints(write_variant(tmp_path, synthetic, edit), synthetic["image_dir"])
    assert [r.ann_id for r in coco.records] == list(range(3, synthetic["num_annotations"] + 1))


def test_box_is_clipped_and_becomes_center_scale_like_the_official(synthetic):
    ds = CocoKeypointDataset(synthetic["ann_file"], synthetic["image_dir"], INPUT)
    data = json.loads(open(synthetic["ann_file"]).read())
    x, y, w, h = data["annotations"][0]["bbox"]
    x1, y1 = max(0, x), max(0, y)
    clean = [x1, y1, min(159, x1 + max(0, w - 1)) - x1, min(127, y1 + max(0, h - 1)) - y1]
    np.testing.assert_allclose(ds.records[0].box, clean)
    center, scale = box_to_center_scale([clean], INPUT[1] / INPUT[0])
    np.testing.assert_allclose(ds.centers[0], center[0])
    np.testing.assert_allclose(ds.scales[0], scale[0])


@pytest.mark.parametrize("edit,expected", [
    (lambda d: d["annotations"][2].pop("bbox"), "annotation id 3: missing field 'bbox'"),
    (lambda d: d["images"][0].pop("file_name"), "images[0] (id 1): missing field 'file_name'"),
    (lambda d: d.pop("categories"), "missing field 'categories'"),
    (lambda d: d["annotations"][1].update(image_id=999), "annotation id 2: image id 999 is not in"),
    (lambda d: d["annotations"][0].update(bbox=[5, 5, 0, 10]), "annotation id 1 (image id 1): box [5, 5, 0, 10] has zero size"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2, 2]), "annotation id 1: 'keypoints' must be 15 numbers"),
    (lambda d: d["categories"][0].pop("keypoints"), "no category with a 'keypoints' list"),
])
def test_bad_annotation_files_name_the_file_and_the_id(tmp_path, synthetic, edit, expected):
    path = write_variant(tmp_path, synthetic, edit)
    with pytest.raises(DatasetError) as info:
        load_coco_keypoints(path, synthetic["image_dir"])
    assert str(path) in str(info.value) and expected in str(info.value)


def test_missing_and_unreadable_images(tmp_path, synthetic):
    missing = write_variant(tmp_path, synthetic, lambda d: d["images"][1].update(file_name="nope.png"))
    with pytest.raises(DatasetError, match=r"image id 2: file .*nope.png not found"):
        load_coco_keypoints(missing, synthetic["image_dir"])
    broken_dir = tmp_path / "images"
    broken_dir.mkdir()
    data = json.loads(open(synthetic["ann_file"]).read())
    for image in data["images"]:
        (broken_dir / image["file_name"]).write_bytes(b"not a png")
    (tmp_path / "broken.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"000001.png \(image id 1\): cannot decode the image"):
        CocoKeypointDataset(tmp_path / "broken.json", broken_dir, INPUT)   # headers are read when loading
    ds = CocoKeypointDataset(load_coco_keypoints(tmp_path / "broken.json", broken_dir, check_images=False),
                             input_size=INPUT)
    with pytest.raises(DatasetError, match=r"000001.png \(image id 1\): cannot decode the image"):
        ds[0]
    with pytest.raises(DatasetError, match="not found"):
        load_coco_keypoints(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(DatasetError, match=r"bad.json: cannot read annotation file as JSON"):
        load_coco_keypoints(tmp_path / "bad.json")


def test_crop_transform_forward_then_inverse_is_exact():
    rng = np.random.default_rng(0)
    for flip in (None, 160):
        center = rng.uniform(20, 140, size=(8, 2))
        scale = rng.uniform(0.2, 1.0, size=(8, 2))
        rotation = rng.uniform(-90, 90, size=8)
        forward, inverse = crop_transforms(center, scale, rotation, INPUT, flip_width=flip)
        points = rng.uniform(0, 160, size=(8, 5, 2))
        np.testing.assert_allclose(affine_points(affine_points(points, forward), inverse), points, atol=1e-9)
        # The box centre lands on the crop centre, whatever the rotation and flip.
        mirrored = center if flip is None else np.stack((flip - 1 - center[:, 0], center[:, 1]), 1)
        np.testing.assert_allclose(affine_points(mirrored[:, None], forward)[:, 0], [[24, 32]] * 8, atol=1e-9)


def test_flip_folded_into_the_crop_equals_cropping_the_mirrored_image():
    """The official order: mirror the image (x → W − 1 − x), then crop around the mirrored centre."""
    image = torch.rand(3, 40, 50)
    center, scale, rotation = np.array([[20.0, 18.0]]), np.array([[0.15, 0.2]]), np.array([17.0])
    _, inverse = crop_transforms(center, scale, rotation, INPUT, flip_width=50)
    folded = crop_images(image, inverse, INPUT)
    official = crop_images(image.flip(-1), get_affine_transform(center, scale, rotation, INPUT, inv=True), INPUT)
    torch.testing.assert_close(folded, official, atol=1e-5, rtol=0)


def test_augmented_keypoints_land_on_their_drawn_discs(synthetic):
    """Every transformed keypoint (scale, rotation, flip with swapped pairs, half body) sits on a disc of
    its own colour in the crop: image and keypoints go through the same map."""
    ds = CocoKeypointDataset(synthetic["ann_file"], synthetic["image_dir"], (128, 96), train=True, seed=1)
    mean, std = torch.tensor(ds.mean).view(3, 1, 1), torch.tensor(ds.std).view(3, 1, 1)
    flips = checked = 0
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            sample = ds[i]
            flips += sample["flip"]
            pixels = sample["image"] * std + mean
            for k, (x, y, v) in enumerate(sample["keypoints"].tolist()):
                xi, yi = int(round(x)), int(round(y))
                if v > 0 and 0 <= xi < 96 and 0 <= yi < 128:
                    assert int(pixels[:, yi, xi].argmax()) == COLOURS[k], (epoch, i, k, sample["flip"])
                    checked += 1
    assert flips > 0 and checked > 50


def test_targets_and_weights(synthetic):
    ds = CocoKeypointDataset(synthetic["ann_file"], synthetic["image_dir"], INPUT)
    sample = ds[0]
    assert sample["image"].shape == (3, 64, 48) and sample["target"].shape == (5, 16, 12)
    assert sample["target_weight"].tolist() == [1.0] * 5
    peak = sample["target"].flatten(1).argmax(1)
    xy = torch.stack((peak % 12, peak // 12), 1).float() * 4
    assert (xy - sample["keypoints"][:, :2]).abs().max() <= 4.0


def test_augmentation_statistics_follow_the_official_recipe():
    cfg = AugmentConfig()
    joints = np.array([[10.0, 5], [5, 10], [15, 10], [7, 30], [13, 30]])
    visible = np.ones(5)
    draws = [random_crop(np.array([10.0, 17]), np.array([0.2, 0.25]), joints, visible, 100,
                         COCO_KEYPOINTS, 0.75, cfg, np.random.default_rng(i)) for i in range(3000)]
    rotations = np.array([d[2] for d in draws])
    flips = np.array([d[3] for d in draws])
    assert 0.56 < (rotations != 0).mean() < 0.64 and np.abs(rotations).max() <= 90
    assert 40 < rotations[rotations != 0].std() < 46  # N(0, 45°) clipped at ±90°
    assert 0.46 < flips.mean() < 0.54
    no_half = AugmentConfig(half_body_prob=0.0)
    scales = np.array([random_crop(np.zeros(2), np.array([1.0, 1.0]), joints, visible, 100, COCO_KEYPOINTS, 0.75,
                                   no_half, np.random.default_rng(i))[1][0] for i in range(2000)])
    assert scales.min() >= 0.65 - 1e-12 and scales.max() <= 1.35 + 1e-12 and 0.25 < scales.std() < 0.3


def test_half_body_matches_the_official_rule():
    joints = np.array([[0.0, 0], [10, 0], [20, 0], [0, 40], [10, 60], [20, 40]])
    visible = np.ones(6)

    class Fixed:  # randn() < 0.5 → upper half
        def standard_normal(self):
            return 0.0
    center, scale = half_body_center_scale(joints, visible, (0, 1, 2), 0.75, Fixed())
    np.testing.assert_allclose(center, [10, 0])
    np.testing.assert_allclose(scale, np.array([20, 20 / 0.75]) / 200 * 1.5)
    Fixed.standard_normal = lambda self: 1.0   # → lower half
    center, scale = half_body_center_scale(joints, visible, (0, 1, 2), 0.75, Fixed())
    np.testing.assert_allclose(center, [10, 140 / 3])


def test_augmentation_is_deterministic_under_a_seed_and_across_workers(synthetic):
    ds = CocoKeypointDataset(synthetic["ann_file"], synthetic["image_dir"], INPUT, train=True, seed=5)
    ds.set_epoch(2)
    # DataLoader workers run in a fresh interpreter: forking them from this long-lived test process
    # (OpenVINO and OpenMP thread pools loaded by earlier tests) crashed it, which a training run,
    # started in its own process, does not meet.
    script = f"""
import torch
from hrnet_zoo.data import CocoKeypointDataset
ds = CocoKeypointDataset({synthetic["ann_file"]!r}, {synthetic["image_dir"]!r}, {INPUT!r}, train=True, seed=5)
ds.set_epoch(2)
def batches(workers):
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=workers, shuffle=False)
    return [b["image"] for b in loader] + [b["keypoints"] for b in loader]
for a, b in zip(batches(0), batches(2)):
    torch.testing.assert_close(a, b, rtol=0, atol=0)
print("same")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "same", proc.stderr[-2000:]
    other = copy.copy(ds)
    other.set_epoch(3)
    assert not torch.equal(other[0]["keypoints"], ds[0]["keypoints"]) or other[0]["rotation"] != ds[0]["rotation"]
