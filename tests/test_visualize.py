"""draw_keypoints / plot_heatmaps produce the pictures they promise; keypoint metadata and OKS."""
import warnings

import numpy as np
import pytest
import torch

PIL = pytest.importorskip("PIL")

import hrnet_zoo  # noqa: E402
from hrnet_zoo.pose.keypoint_set import COCO_KEYPOINTS, MPII_KEYPOINTS  # noqa: E402
from hrnet_zoo.pose.oks import oks  # noqa: E402


def test_draw_keypoints_marks_the_keypoints_and_limbs():
    image = np.zeros((120, 100, 3), dtype=np.uint8)
    keypoints = torch.zeros(1, 17, 3)
    keypoints[0, :, 2] = 0.0                      # hidden…
    keypoints[0, 5] = torch.tensor([20.0, 30.0, 0.9])   # …except the shoulders, joined by a limb
    keypoints[0, 6] = torch.tensor([80.0, 30.0, 0.9])
    drawn = np.asarray(hrnet_zoo.draw_keypoints(image, keypoints, radius=3, line_width=2))
    assert drawn.shape == image.shape
    assert drawn[30, 20].any() and drawn[30, 80].any() and drawn[30, 50].any()   # both dots, the limb
    assert not drawn[100, 50].any()                                              # nothing else
    assert drawn[30, 20].tolist() != drawn[30, 80].tolist()                      # left ≠ right colour
    # Low scores are not drawn; the input is not modified.
    keypoints[0, 5, 2] = 0.1
    assert not np.asarray(hrnet_zoo.draw_keypoints(image, keypoints, radius=3))[30, 20].any()
    assert not image.any()


def test_draw_keypoints_bad_shape():
    with pytest.raises(ValueError, match="N×K×3"):
        hrnet_zoo.draw_keypoints(np.zeros((10, 10, 3), np.uint8), np.zeros((1, 17, 4)))


def test_plot_heatmaps_grid():
    heatmaps = torch.zeros(17, 16, 12)
    heatmaps[3, 8, 6] = 1.0
    grid = hrnet_zoo.pose.plot_heatmaps(heatmaps, cell_size=32)
    assert grid.size == (5 * 24, 4 * 32)                   # ⌈√17⌉ = 5 columns, 24 px wide tiles
    pixels = np.asarray(grid).astype(int)
    tile = pixels[0:32, 3 * 24:4 * 24]                      # keypoint 3: the hot one
    other = pixels[0:32, 1 * 24:2 * 24]
    assert tile.sum() > other.sum()
    with_image = hrnet_zoo.pose.plot_heatmaps(heatmaps[None], image=np.full((64, 48, 3), 255, np.uint8), cell_size=32)
    assert with_image.size == grid.size
    with pytest.raises(ValueError, match="non-finite"):
        hrnet_zoo.pose.plot_heatmaps(torch.full((2, 4, 4), float("nan")))


def test_keypoint_metadata():
    assert COCO_KEYPOINTS.num_keypoints == 17 and MPII_KEYPOINTS.num_keypoints == 16
    for kset in (COCO_KEYPOINTS, MPII_KEYPOINTS):
        assert len(kset.sigmas) == kset.num_keypoints
        flip = kset.flip_indices
        assert sorted(flip) == list(range(kset.num_keypoints))
        for a, b in kset.flip_pairs:   # left ↔ right names
            assert kset.keypoint_names[a].replace("left", "right") == kset.keypoint_names[b] or \
                kset.keypoint_names[a].replace("right", "left") == kset.keypoint_names[b]
        assert all(0 <= i < kset.num_keypoints and 0 <= j < kset.num_keypoints for i, j in kset.skeleton)


def coco_compute_oks(dt, gt, area, sigmas, bbox):
    """pycocotools ``COCOeval.computeOks`` for one detection and one ground truth."""
    vars_ = (np.array(sigmas) * 2) ** 2
    xg, yg, vg = gt[0::3], gt[1::3], gt[2::3]
    k1 = np.count_nonzero(vg > 0)
    x0, x1 = bbox[0] - bbox[2], bbox[0] + bbox[2] * 2
    y0, y1 = bbox[1] - bbox[3], bbox[1] + bbox[3] * 2
    xd, yd = dt[0::3], dt[1::3]
    if k1 > 0:
        dx, dy = xd - xg, yd - yg
    else:
        z = np.zeros(len(sigmas))
        dx = np.max((z, x0 - xd), axis=0) + np.max((z, xd - x1), axis=0)
        dy = np.max((z, y0 - yd), axis=0) + np.max((z, yd - y1), axis=0)
    e = (dx**2 + dy**2) / vars_ / (area + np.spacing(1)) / 2
    if k1 > 0:
        e = e[vg > 0]
    return np.sum(np.exp(-e)) / e.shape[0]


def test_oks_matches_cocoeval():
    rng = np.random.default_rng(0)
    gt = np.concatenate([rng.uniform(0, 200, (3, 17, 2)), rng.integers(0, 3, (3, 17, 1))], -1)
    gt[2, :, 2] = 0                                            # no labelled keypoint: the box rule
    pred = gt[None, :, :, :2].repeat(2, 0).reshape(-1, 17, 2)[:4] + rng.normal(0, 5, (4, 17, 2))
    areas, boxes = rng.uniform(2000, 9000, 3), np.array([[20, 20, 80, 150]] * 3, dtype=float)
    ours = oks(pred, gt, areas, gt_boxes=boxes).numpy()
    for p in range(4):
        for g in range(3):
            dt = np.concatenate([pred[p], np.ones((17, 1))], 1).reshape(-1)
            ref = coco_compute_oks(dt, gt[g].reshape(-1), areas[g], COCO_KEYPOINTS.sigmas, boxes[g])
            assert ours[p, g] == pytest.approx(ref, rel=1e-9)
    assert oks(gt[:1, :, :2], gt[:1], areas[:1])[0, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="gt_boxes"):
        oks(pred, gt, areas)


def test_a_threshold_that_hides_every_point_warns():
    image = np.zeros((40, 30, 3), np.uint8)
    low = np.array([[[5.0, 5.0, 0.1], [10.0, 10.0, 0.2]]])
    with pytest.warns(UserWarning, match="drew nothing.*score_threshold=0.3"):
        hrnet_zoo.draw_keypoints(image, low)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hrnet_zoo.draw_keypoints(image, low, score_threshold=0.15)  # one point shown: no warning


def test_a_keypoint_set_gives_skeleton_and_colours():
    fish = hrnet_zoo.KeypointSet.from_names(["snout", "left_fin", "right_fin"], skeleton=[(0, 1)])
    image = np.zeros((40, 40, 3), np.uint8)
    drawn = np.asarray(hrnet_zoo.draw_keypoints(image, np.array([[[5.0, 5.0, 1], [30.0, 30.0, 1], [5, 30, 1]]]),
                                                keypoint_set=fish, radius=1, line_width=1))
    assert drawn[17, 17].any()  # on the snout–left_fin link
    with pytest.raises(ValueError, match="keypoint_set"):
        hrnet_zoo.draw_keypoints(image, np.zeros((1, 4, 3)), keypoint_set=fish)
