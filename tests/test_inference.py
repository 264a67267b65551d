"""Top-down inference geometry: boxes, affine crops and their inverse, flip test, bad input."""
import numpy as np
import pytest
import torch
from torch import nn

import hrnet_zoo
from hrnet_zoo.codecs import flip_back
from hrnet_zoo.pose.geometry import affine_points, box_to_center_scale, crop_images, get_affine_transform
from hrnet_zoo.pose.inference import predict_keypoints
from hrnet_zoo.pretrained_cfg import IMAGENET_MEAN, IMAGENET_STD
from hrnet_zoo.pose.keypoint_set import COCO_FLIP_PAIRS, MPII_FLIP_PAIRS

# ---------------------------------------------------------------- official references (numpy, no OpenCV)


def official_affine(center, scale, rot, output_size, inv=False):
    """``get_affine_transform`` of the official code; cv2.getAffineTransform replaced by a 3-point solve."""
    scale_tmp = np.asarray(scale) * 200.0
    src_w, dst_w, dst_h = scale_tmp[0], output_size[0], output_size[1]
    rot_rad = np.pi * rot / 180
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    src_dir = np.array([0 * cs - (src_w * -0.5) * sn, 0 * sn + (src_w * -0.5) * cs])
    dst_dir = np.array([0, dst_w * -0.5])
    src, dst = np.zeros((3, 2)), np.zeros((3, 2))
    src[0], src[1] = center, center + src_dir
    dst[0], dst[1] = [dst_w * 0.5, dst_h * 0.5], np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir

    def third(a, b):
        direct = a - b
        return b + np.array([-direct[1], direct[0]])

    src[2], dst[2] = third(src[0], src[1]), third(dst[0], dst[1])
    a, b = (dst, src) if inv else (src, dst)
    # Solve [x y 1] · M^T = target for the 2×3 matrix M.
    return np.linalg.solve(np.concatenate([a, np.ones((3, 1))], 1), b).T


def official_xywh2cs(x, y, w, h, aspect_ratio):
    center = np.array([x + w * 0.5, y + h * 0.5])
    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return center, np.array([w / 200.0, h / 200.0]) * 1.25


def official_flip_back(output_flipped, matched_parts):
    output_flipped = output_flipped[:, :, :, ::-1].copy()
    for pair in matched_parts:
        tmp = output_flipped[:, pair[0], :, :].copy()
        output_flipped[:, pair[0], :, :] = output_flipped[:, pair[1], :, :]
        output_flipped[:, pair[1], :, :] = tmp
    return output_flipped


# ---------------------------------------------------------------- boxes and affine transforms


def test_box_to_center_scale_matches_official():
    boxes = np.array([[10, 20, 50, 200], [5.5, 7.25, 300, 40], [0, 0, 75, 100]], dtype=np.float64)
    center, scale = box_to_center_scale(boxes, 192 / 256)
    for i, box in enumerate(boxes):
        ref_c, ref_s = official_xywh2cs(*box, 192 / 256)
        np.testing.assert_allclose(center[i], ref_c)
        np.testing.assert_allclose(scale[i], ref_s)


@pytest.mark.parametrize("inv", [False, True])
def test_affine_matches_official_construction(inv):
    rng = np.random.default_rng(0)
    center = rng.uniform(0, 500, size=(6, 2))
    scale = rng.uniform(0.2, 3, size=(6, 2))
    rotation = rng.uniform(-45, 45, size=6)
    rotation[0] = 0
    ours = get_affine_transform(center, scale, rotation, (256, 192), inv=inv)
    for i in range(6):
        np.testing.assert_allclose(ours[i], official_affine(center[i], scale[i], rotation[i], (192, 256), inv),
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("udp", [False, True])
def test_transform_and_inverse_map_points_back(udp):
    rng = np.random.default_rng(1)
    center, scale = rng.uniform(0, 640, (5, 2)), rng.uniform(0.3, 2.5, (5, 2))
    rotation = rng.uniform(-60, 60, 5)
    forward = get_affine_transform(center, scale, rotation, (256, 192), udp=udp)
    backward = get_affine_transform(center, scale, rotation, (256, 192), inv=True, udp=udp)
    points = rng.uniform(-100, 700, (5, 30, 2))
    np.testing.assert_allclose(affine_points(affine_points(points, forward), backward), points, atol=1e-3)


@pytest.mark.parametrize("udp, rotation", [(False, 0.0), (False, 30.0), (True, -20.0)])
def test_crop_samples_where_the_inverse_transform_says(udp, rotation):
    """A ramp image whose pixels hold their own coordinates: the crop reads back its source points."""
    height, width = 120, 160
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    image = torch.stack((xs, ys, torch.ones_like(xs)))
    center, scale = box_to_center_scale([[40, 30, 60, 70]], 24 / 32)
    inverse = get_affine_transform(center, scale, rotation, (32, 24), inv=True, udp=udp)
    forward = get_affine_transform(center, scale, rotation, (32, 24), udp=udp)
    crop = crop_images(image, inverse, (32, 24))[0]                          # 3×32×24
    inside = crop[2] > 0.999                                                 # fully inside the image
    assert inside.float().mean() > 0.9
    sampled = torch.stack((crop[0], crop[1]), -1)[inside].double().numpy()[None]
    crop_ys, crop_xs = torch.nonzero(inside, as_tuple=True)
    expected = torch.stack((crop_xs, crop_ys), -1).double().numpy()
    np.testing.assert_allclose(affine_points(sampled, forward)[0], expected, atol=1e-3)


# ---------------------------------------------------------------- flip helpers


@pytest.mark.parametrize("pairs, k", [(COCO_FLIP_PAIRS, 17), (MPII_FLIP_PAIRS, 16), (((0, 2),), 3)])
def test_flip_back_matches_official(pairs, k):
    heatmaps = torch.rand(2, k, 8, 6)
    expected = official_flip_back(heatmaps.numpy(), pairs)
    torch.testing.assert_close(flip_back(heatmaps, pairs), torch.from_numpy(expected))
    shifted = expected.copy()
    shifted[..., 1:] = shifted[..., :-1].copy()
    torch.testing.assert_close(flip_back(heatmaps, pairs, shift=True), torch.from_numpy(shifted))
    if k in (16, 17):
        torch.testing.assert_close(flip_back(heatmaps), torch.from_numpy(expected))


def test_flip_back_rejects_bad_pairs():
    with pytest.raises(ValueError, match="out of range"):
        flip_back(torch.rand(1, 3, 4, 4), [(0, 5)])
    with pytest.raises(ValueError, match="no built-in flip pairs"):
        flip_back(torch.rand(1, 5, 4, 4))


# ---------------------------------------------------------------- end to end with a predictable model


class DotFinder(nn.Module):
    """Heatmap k = the crop's first channel sampled every 4th pixel, × (k + 1)/K.

    Heatmap pixel u then sits exactly at crop pixel 4u, which is what the official inverse transform
    assumes, so a Gaussian dot planted in the image must come back at its own position.
    """

    def __init__(self, num_keypoints=17):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.gain = nn.Parameter(torch.linspace(1, num_keypoints, num_keypoints) / num_keypoints)
        self.eval()  # predict_keypoints refuses modules in train mode

    def forward(self, x):
        raw = x[:, :1] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
        return raw[:, :, ::4, ::4] * self.gain.view(1, -1, 1, 1)


def dot_image(x, y, sigma, height=200, width=240):
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    dot = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return torch.from_numpy(np.stack([dot, np.zeros_like(dot), np.zeros_like(dot)])).float()


def test_planted_dot_comes_back_at_its_image_position():
    # Box 48×64 px after the 1.25 padding, for a 48×64 input: one image pixel per crop pixel, so
    # σ = 8 image px = 2 heatmap px.
    image = dot_image(113.3, 87.6, sigma=8.0)
    box = [[110 - 24 / 1.25, 90 - 32 / 1.25, 48 / 1.25, 64 / 1.25]]
    keypoints = predict_keypoints(DotFinder(), image, box, flip_test=False, decoder="dark", input_size=(64, 48))
    np.testing.assert_allclose(keypoints[0, :, 0], 113.3, atol=0.1)
    np.testing.assert_allclose(keypoints[0, :, 1], 87.6, atol=0.1)
    # The official flip test: the flipped-back map lies 0.75 heatmap px left; shifted one px right it
    # lies 0.25 px right, so the nose (its own pair, equal weights) peaks 0.125 heatmap px = 0.5 image
    # px right of the dot, and 0.375 heatmap px = 1.5 image px left without the shift.
    keypoints = predict_keypoints(DotFinder(), image, box, flip_test=True, decoder="dark", input_size=(64, 48))
    assert keypoints[0, 0, 0] == pytest.approx(113.3 + 0.5, abs=0.1)
    np.testing.assert_allclose(keypoints[0, :, 1], 87.6, atol=0.1)
    unshifted = predict_keypoints(DotFinder(), image, box, decoder="dark", input_size=(64, 48), shift_heatmap=False)
    assert unshifted[0, 0, 0] == pytest.approx(113.3 - 1.5, abs=0.1)
    # Channels are swapped along the COCO pairs: the score averages the gains of both sides.
    gains = np.linspace(1, 17, 17) / 17
    paired = gains.copy()
    for a, b in COCO_FLIP_PAIRS:
        paired[a], paired[b] = gains[b], gains[a]
    np.testing.assert_allclose(keypoints[0, :, 2] / keypoints[0, 0, 2], (gains + paired) / (2 * gains[0]), rtol=1e-3)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return hrnet_zoo.create_model("hrnet_w18_small_v1").eval()


def mirror_symmetric_image(height=140, width=120, seed=0):
    rng = np.random.default_rng(seed)
    half = rng.integers(0, 256, size=(height, width // 2, 3), dtype=np.uint8)
    return np.concatenate([half, half[:, ::-1]], axis=1)


@pytest.mark.parametrize("decoder", ["argmax", "quarter", "dark", "udp"])
def test_flip_test_of_a_symmetric_input(small_model, decoder):
    """A mirror-symmetric crop gives the same output flipped, so the averaged heatmaps are symmetric
    under flip + left/right swap: paired keypoints must be mirror images of each other. The crop stays
    inside the image: zero-padded (constant) regions would give argmax ties, which break toward the
    first index and so are not mirror-symmetric."""
    image = mirror_symmetric_image()
    width, input_size = image.shape[1], (64, 48)
    box_w, box_h = 60.0, 80.0                                     # already 3:4, so no padding
    step = 1.25 * box_w / input_size[1] if decoder != "udp" else 0.0    # image px per crop px
    # The official crop maps its centre to W/2, so the symmetric crop needs a centre of (W − 1 + step)/2;
    # the way back then mirrors about (W − 1 − 3·step)/2 (heatmap u ↔ 4u, flip u ↔ w − 1 − u).
    # UDP's crop and way back are both symmetric about the image axis.
    center_x = (width - 1 + step) / 2
    boxes = [[center_x - box_w / 2, 30.0, box_w, box_h]]
    keypoints, heatmaps = predict_keypoints(small_model, image, boxes, flip_test=True, decoder=decoder,
                                            input_size=input_size, shift_heatmap=False, return_heatmaps=True)
    axis_sum = width - 1 - 3 * step
    hm_width = heatmaps.shape[-1]
    image_px_per_heatmap_px = 1.25 * box_w / (hm_width - (1 if decoder == "udp" else 0))
    # In heatmap px: float noise only for argmax/quarter; DARK's Newton step amplifies it a little;
    # UDP's mixed derivative is one-sided (mmpose: (x+1, y+1) and (x−1, y−1)), so its step is not
    # exactly mirror-equivariant.
    tolerance = {"argmax": 1e-4, "quarter": 1e-4, "dark": 2e-3, "udp": 0.05}[decoder] * image_px_per_heatmap_px
    argmax_x = heatmaps[0].flatten(1).argmax(1) % hm_width
    keypoints = keypoints.double().numpy()  # plain floats for pytest.approx (it does not take 0-d tensors)
    for left, right in COCO_FLIP_PAIRS:
        assert keypoints[0, left, 2] == pytest.approx(keypoints[0, right, 2], rel=1e-5)
        if keypoints[0, left, 2] <= 0:  # official rule: heatmap (0, 0) when the maximum is ≤ 0
            np.testing.assert_allclose(keypoints[0, left], keypoints[0, right], rtol=1.3e-6, atol=1e-5)
            continue
        if decoder == "quarter" and {int(argmax_x[left]), int(argmax_x[right])} == {1, hm_width - 2}:
            continue  # the official 1 < x < W − 1 refines column W − 2 but not its mirror, column 1
        assert keypoints[0, left, 0] + keypoints[0, right, 0] == pytest.approx(axis_sum, abs=tolerance)
        assert keypoints[0, left, 1] == pytest.approx(keypoints[0, right, 1], abs=tolerance)


def test_predict_keypoints_shapes_inputs_and_heatmaps(small_model):
    image = np.random.default_rng(1).integers(0, 256, size=(100, 80, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 30, 60], [0, 0, 80, 100], [50, 60, 40, 50]], dtype=np.float32)
    keypoints, heatmaps = predict_keypoints(small_model, image, boxes, input_size=(64, 48), return_heatmaps=True)
    assert keypoints.shape == (3, 17, 3) and keypoints.dtype == torch.float32
    assert heatmaps.shape == (3, 17, 16, 12)
    # The same image as a float CHW tensor, and in two batches, gives the same keypoints.
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    again, heatmaps_again = predict_keypoints(small_model, tensor, torch.from_numpy(boxes), input_size=(64, 48),
                                              batch_size=2, return_heatmaps=True)
    torch.testing.assert_close(heatmaps_again, heatmaps, atol=1e-4, rtol=1e-4)
    # DARK's Newton step amplifies float noise where a random model's Hessian is nearly singular.
    torch.testing.assert_close(again, keypoints, atol=2e-2, rtol=0)
    assert not small_model.training


def test_predict_keypoints_bad_input(small_model):
    image = np.zeros((50, 40, 3), dtype=np.uint8)
    empty = predict_keypoints(small_model, image, np.zeros((0, 4)), input_size=(64, 48))
    assert empty.shape == (0, 17, 3)
    assert predict_keypoints(small_model, image, [], input_size=(64, 48)).shape == (0, 17, 3)
    with pytest.raises(ValueError, match="N×4"):
        predict_keypoints(small_model, image, [10, 10, 20, 20], input_size=(64, 48))
    with pytest.raises(ValueError, match="N×4"):
        predict_keypoints(small_model, image, [[10, 10, 20]], input_size=(64, 48))
    with pytest.raises(ValueError, match="positive width"):
        predict_keypoints(small_model, image, [[10, 10, 0, 20]], input_size=(64, 48))
    with pytest.raises(ValueError, match="non-finite"):
        predict_keypoints(small_model, image, [[10, np.nan, 5, 20]], input_size=(64, 48))
    with pytest.raises(ValueError, match="3 channels|H×W×3"):
        predict_keypoints(small_model, np.zeros((50, 40), np.uint8), [[1, 1, 5, 5]], input_size=(64, 48))
    with pytest.raises(ValueError, match="alpha"):
        predict_keypoints(small_model, np.zeros((50, 40, 4), np.uint8), [[1, 1, 5, 5]], input_size=(64, 48))
    with pytest.raises(ValueError, match="3×H×W"):
        predict_keypoints(small_model, torch.zeros(1, 50, 40), [[1, 1, 5, 5]], input_size=(64, 48))
    with pytest.raises(ValueError, match="unknown decoder"):
        predict_keypoints(small_model, image, [[1, 1, 5, 5]], decoder="mean")


def test_custom_keypoint_count_needs_flip_pairs():
    model = DotFinder(num_keypoints=5)
    image = dot_image(60, 60, 8.0)
    with pytest.raises(ValueError, match="flip_pairs"):
        predict_keypoints(model, image, [[20, 20, 60, 80]], input_size=(64, 48))
    out = predict_keypoints(model, image, [[20, 20, 60, 80]], input_size=(64, 48), flip_pairs=[(1, 2)])
    assert out.shape == (1, 5, 3)


def test_a_model_in_train_mode_is_refused_and_left_as_it_is(small_model):
    model = hrnet_zoo.create_model("hrnet_w18_small_v1").train()
    stats = model.backbone.bn1.running_mean.clone()
    with pytest.raises(ValueError, match="train mode.*model.eval()"):
        predict_keypoints(model, np.zeros((50, 40, 3), np.uint8), [[5, 5, 20, 30]], input_size=(64, 48))
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(model.backbone.bn1.running_mean, stats)
    model.eval().head.train()  # one submodule left in train mode is enough to refuse
    with pytest.raises(ValueError, match="train mode"):
        predict_keypoints(model, np.zeros((50, 40, 3), np.uint8), [[5, 5, 20, 30]], input_size=(64, 48))


def test_float_images_outside_zero_one_are_refused(small_model):
    image = np.random.default_rng(0).integers(0, 256, (50, 40, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="divide by 255"):
        predict_keypoints(small_model, torch.from_numpy(image).permute(2, 0, 1), [[5, 5, 20, 30]], input_size=(64, 48))
    nan = torch.rand(3, 50, 40)
    nan[0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        predict_keypoints(small_model, nan, [[5, 5, 20, 30]], input_size=(64, 48))


@pytest.mark.parametrize("kwargs, match", [
    (dict(rotation=float("nan")), "rotation"),
    (dict(rotation=float("inf")), "rotation"),
    (dict(rotation=[1.0, 2.0]), "rotation"),
    (dict(boxes=[[0, 0, 1e300, 1e300]]), "image pixels"),
    (dict(input_size=(0, 0)), r"input_size must be \(H, W\)"),
    (dict(input_size=(64.5, 48)), r"input_size must be \(H, W\)"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=-3), "batch_size"),
    (dict(image=np.zeros((0, 40, 3), np.uint8)), "empty"),
])
def test_bad_arguments_get_one_clear_error(small_model, kwargs, match):
    args = {"image": np.zeros((50, 40, 3), np.uint8), "boxes": [[5, 5, 20, 30]], **kwargs}
    with pytest.raises(hrnet_zoo.InvalidArgumentError, match=match):
        predict_keypoints(small_model, args.pop("image"), args.pop("boxes"), **args)


# ---------------------------------------------------------------- the batched core


def test_keypoints_are_the_codec_s_decode_mapped_back_through_the_crop(small_model):
    """One decode path: HeatmapCodec (cfg's σ, the model's decoder) to crop pixels, then the crop's inverse."""
    from hrnet_zoo.codecs import HeatmapCodec
    from hrnet_zoo.pose.geometry import box_crop_transforms

    image = mirror_symmetric_image(seed=3)
    boxes = np.array([[10, 20, 50, 90], [40, 5, 60, 70]], np.float64)
    for decoder in ("quarter", "udp"):
        keypoints, heatmaps = predict_keypoints(small_model, image, boxes, decoder=decoder, input_size=(64, 48),
                                                return_heatmaps=True)
        codec = HeatmapCodec((64, 48), heatmaps.shape[-2:], decoder=decoder)
        coords, scores = codec.decode(heatmaps)
        _, _, crop_to_image = box_crop_transforms(boxes, (64, 48), udp=decoder == "udp")
        np.testing.assert_allclose(keypoints[..., :2].numpy(), affine_points(coords.double().numpy(), crop_to_image),
                                   atol=1e-4)
        torch.testing.assert_close(keypoints[..., 2], scores)


def test_iter_predictions_streams_images_in_order_sharing_batches(small_model):
    from hrnet_zoo.pose.inference import crop_settings, iter_predictions

    images = [mirror_symmetric_image(seed=s) for s in range(4)]
    boxes = [np.array([[5, 5, 40, 60]]), np.zeros((0, 4)), np.array([[0, 0, 60, 80], [30, 30, 50, 60]]),
             np.array([[10, 40, 70, 90]])]
    pulled = []

    def frames():  # a stream: the core must not read ahead more than a batch needs
        for image, image_boxes in zip(images, boxes):
            pulled.append(len(pulled))
            yield image, image_boxes

    settings = crop_settings(small_model, decoder="quarter", input_size=(64, 48))
    stream = iter_predictions(small_model, frames(), settings, batch_size=2, return_heatmaps=True)
    first = next(stream)
    assert len(pulled) == 3  # image 0's crop waits for a full batch of 2, which image 2 completes
    results = [first, *stream]
    assert len(results) == 4 and len(pulled) == 4
    for image, image_boxes, result in zip(images, boxes, results):
        expected, heatmaps = predict_keypoints(small_model, image, image_boxes, decoder="quarter",
                                               input_size=(64, 48), return_heatmaps=True)
        assert result.keypoints.shape == expected.shape and result.heatmaps.shape == heatmaps.shape
        torch.testing.assert_close(result.keypoints, expected, atol=1e-5, rtol=0)
        assert result.center.shape == result.scale.shape == (len(image_boxes), 2)
    # Nobody in any image: K and the heatmap size still come out (from one blank crop).
    (empty,) = iter_predictions(small_model, [(images[0], [])], settings)
    assert empty.keypoints.shape == (0, 17, 3)
