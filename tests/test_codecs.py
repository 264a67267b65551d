"""Heatmap codecs against straightforward numpy transcriptions of the official / mmpose rules."""
import math

import numpy as np
import pytest
import torch

from hrnet_zoo.codecs import (HeatmapCodec, decode_heatmaps, msra_targets, opencv_gaussian_kernel, udp_targets,
                              unbiased_targets)

# ---------------------------------------------------------------- numpy references (one keypoint at a time)


def official_generate_target(joints, joints_vis, image_size, heatmap_size, sigma):
    """``JointsDataset.generate_target`` of deep-high-resolution-net.pytorch, for one person."""
    num_keypoints = len(joints)
    target_weight = np.ones((num_keypoints, 1), dtype=np.float32)
    target_weight[:, 0] = joints_vis[:, 0]
    target = np.zeros((num_keypoints, heatmap_size[1], heatmap_size[0]), dtype=np.float32)
    tmp_size = sigma * 3
    feat_stride = np.array(image_size) / np.array(heatmap_size)
    for j in range(num_keypoints):
        mu_x = int(joints[j][0] / feat_stride[0] + 0.5)
        mu_y = int(joints[j][1] / feat_stride[1] + 0.5)
        ul = [int(mu_x - tmp_size), int(mu_y - tmp_size)]
        br = [int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1)]
        if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
            target_weight[j] = 0
            continue
        size = 2 * tmp_size + 1
        x = np.arange(0, size, 1, np.float32)
        y = x[:, np.newaxis]
        x0 = y0 = size // 2
        g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))
        g_x = max(0, -ul[0]), min(br[0], heatmap_size[0]) - ul[0]
        g_y = max(0, -ul[1]), min(br[1], heatmap_size[1]) - ul[1]
        img_x = max(0, ul[0]), min(br[0], heatmap_size[0])
        img_y = max(0, ul[1]), min(br[1], heatmap_size[1])
        if target_weight[j] > 0.5:
            target[j][img_y[0]:img_y[1], img_x[0]:img_x[1]] = g[g_y[0]:g_y[1], g_x[0]:g_x[1]]
    return target, target_weight


def official_quarter(batch_heatmaps):
    """``get_max_preds`` + the ``get_final_preds`` post-processing loop (heatmap coordinates)."""
    n, k, h, w = batch_heatmaps.shape
    flat = batch_heatmaps.reshape((n, k, -1))
    idx = np.argmax(flat, 2).reshape((n, k, 1))
    maxvals = np.amax(flat, 2).reshape((n, k, 1))
    preds = np.tile(idx, (1, 1, 2)).astype(np.float32)
    preds[:, :, 0] = preds[:, :, 0] % w
    preds[:, :, 1] = np.floor(preds[:, :, 1] / w)
    preds *= np.tile(np.greater(maxvals, 0.0), (1, 1, 2)).astype(np.float32)
    for i in range(n):
        for j in range(k):
            hm = batch_heatmaps[i][j]
            px, py = int(math.floor(preds[i][j][0] + 0.5)), int(math.floor(preds[i][j][1] + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                diff = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
                preds[i][j] += np.sign(diff) * 0.25
    return preds, maxvals[..., 0]


def numpy_opencv_blur(heatmap, kernel_size):
    """cv2.GaussianBlur(zero-padded map, (k, k), 0) cropped back: a zero-padded separable convolution."""
    sigma = 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8
    x = np.arange(kernel_size) - (kernel_size - 1) / 2
    kernel = np.exp(-x**2 / (2 * sigma**2))
    kernel /= kernel.sum()
    half = kernel_size // 2
    padded = np.pad(heatmap.astype(np.float64), half)
    rows = np.stack([np.convolve(r, kernel, mode="valid") for r in padded])
    return np.stack([np.convolve(c, kernel, mode="valid") for c in rows.T]).T


def mmpose_dark(heatmaps, kernel_size=11):
    """mmpose ``get_heatmap_maximum`` + ``gaussian_blur`` + ``refine_keypoints_dark`` for K×H×W."""
    k_, h, w = heatmaps.shape
    flat = heatmaps.reshape(k_, -1)
    ys, xs = np.unravel_index(np.argmax(flat, axis=1), (h, w))
    locs = np.stack((xs, ys), -1).astype(np.float64)
    vals = flat.max(1)
    locs[vals <= 0] = -1
    out = locs.copy()
    for k in range(k_):
        blurred = numpy_opencv_blur(heatmaps[k], kernel_size)
        blurred *= heatmaps[k].max() / blurred.max()
        hm = np.log(np.maximum(blurred, 1e-10))
        x, y = locs[k].astype(int)
        if 1 < x < w - 2 and 1 < y < h - 2:
            dx = 0.5 * (hm[y, x + 1] - hm[y, x - 1])
            dy = 0.5 * (hm[y + 1, x] - hm[y - 1, x])
            dxx = 0.25 * (hm[y, x + 2] - 2 * hm[y, x] + hm[y, x - 2])
            dxy = 0.25 * (hm[y + 1, x + 1] - hm[y - 1, x + 1] - hm[y + 1, x - 1] + hm[y - 1, x - 1])
            dyy = 0.25 * (hm[y + 2, x] - 2 * hm[y, x] + hm[y - 2, x])
            if dxx * dyy - dxy**2 != 0:
                out[k] += (-np.linalg.inv([[dxx, dxy], [dxy, dyy]]) @ np.array([dx, dy]))
    return out


def mmpose_udp(heatmaps, kernel_size=11):
    """mmpose ``get_heatmap_maximum`` + ``gaussian_blur`` + ``refine_keypoints_dark_udp`` for K×H×W."""
    k_, h, w = heatmaps.shape
    flat = heatmaps.reshape(k_, -1)
    ys, xs = np.unravel_index(np.argmax(flat, axis=1), (h, w))
    locs = np.stack((xs, ys), -1).astype(np.float64)
    locs[flat.max(1) <= 0] = -1
    blurred = np.stack([numpy_opencv_blur(hm, kernel_size) for hm in heatmaps])
    blurred *= (flat.max(1) / blurred.reshape(k_, -1).max(1))[:, None, None]
    padded = np.pad(np.log(np.clip(blurred, 1e-3, 50.0)), ((0, 0), (1, 1), (1, 1)), mode="edge")
    out = locs.copy()
    for k in range(k_):
        x, y = locs[k].astype(int) + 1
        hm = padded[k]
        dx, dy = 0.5 * (hm[y, x + 1] - hm[y, x - 1]), 0.5 * (hm[y + 1, x] - hm[y - 1, x])
        dxx, dyy = hm[y, x + 1] - 2 * hm[y, x] + hm[y, x - 1], hm[y + 1, x] - 2 * hm[y, x] + hm[y - 1, x]
        dxy = 0.5 * (hm[y + 1, x + 1] - hm[y, x + 1] - hm[y + 1, x] + 2 * hm[y, x] - hm[y, x - 1]
                     - hm[y - 1, x] + hm[y - 1, x - 1])
        hessian = np.array([[dxx, dxy], [dxy, dyy]]) + np.finfo(np.float32).eps * np.eye(2)
        out[k] -= np.linalg.inv(hessian) @ np.array([dx, dy])
    return out


def planted_peaks(n, k, h, w, seed, margin=0.0, sigma=2.0):
    """Full-map Gaussians (peak 1) at random sub-pixel positions; returns (heatmaps, true x/y)."""
    gen = torch.Generator().manual_seed(seed)
    centres = margin + torch.rand(n, k, 2, generator=gen, dtype=torch.float64) * torch.tensor(
        [w - 1 - 2 * margin, h - 1 - 2 * margin], dtype=torch.float64)
    xs, ys = torch.arange(w, dtype=torch.float64), torch.arange(h, dtype=torch.float64)
    gx = torch.exp(-((xs - centres[..., :1]) ** 2) / (2 * sigma**2))
    gy = torch.exp(-((ys - centres[..., 1:]) ** 2) / (2 * sigma**2))
    return (gy[..., :, None] * gx[..., None, :]).float(), centres


# ---------------------------------------------------------------- encoding


@pytest.mark.parametrize("sigma, image_size, heatmap_size", [(2, (192, 256), (48, 64)), (3, (288, 384), (72, 96)),
                                                             (2.5, (192, 256), (48, 64))])
def test_msra_targets_equal_official_generate_target(sigma, image_size, heatmap_size):
    rng = np.random.default_rng(0)
    n, k = 6, 17
    # Keypoints inside, on the border, beyond it (partly and fully off-map) and negative.
    joints = rng.uniform(-60, np.array(image_size) + 60, size=(n, k, 2))
    joints[0, :4] = [[0, 0], [image_size[0] - 1, image_size[1] - 1], [-2, 5], [-30, -30]]
    vis = (rng.uniform(size=(n, k)) > 0.2).astype(np.float64)
    targets, weights = msra_targets(joints, vis, image_size[::-1], heatmap_size[::-1], sigma)  # ours (H, W)
    for i in range(n):
        joints3 = np.concatenate([joints[i], np.zeros((k, 1))], 1)
        ref_t, ref_w = official_generate_target(joints3, np.repeat(vis[i][:, None], 3, 1), image_size,
                                                heatmap_size, sigma)
        np.testing.assert_allclose(targets[i].numpy(), ref_t, atol=1e-6)
        np.testing.assert_array_equal(weights[i].numpy(), ref_w[:, 0])


def test_invisible_and_off_map_joints_get_zero_weight_and_no_target():
    kpts = torch.tensor([[[50.0, 60.0], [50.0, 60.0], [-100.0, 60.0], [50.0, 400.0]]])
    vis = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    for encoder in (msra_targets, unbiased_targets, udp_targets):
        targets, weights = encoder(kpts, vis, (256, 192), (64, 48), 2.0)
        assert weights.tolist() == [[1.0, 0.0, 0.0, 0.0]], encoder.__name__
        assert targets[0, 0].max() == pytest.approx(1.0, abs=0.05)
        assert targets[0, 1:].abs().max() == 0 or encoder is unbiased_targets
    # COCO visibility 2 (labelled and visible) counts as 1, as the official loader clips it.
    assert msra_targets(kpts[:, :1], torch.tensor([[2.0]]), (192, 256), (48, 64))[1].item() == 1.0


def test_unbiased_and_udp_targets_peak_at_the_float_location():
    kpts = torch.tensor([[[101.3, 77.9]]], dtype=torch.float64)
    t, _ = unbiased_targets(kpts, None, (256, 192), (64, 48), 2.0)
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(48.0), indexing="ij")
    expected = torch.exp(-((xs - 101.3 / 4) ** 2 + (ys - 77.9 / 4) ** 2) / 8)
    torch.testing.assert_close(t[0, 0], expected.float(), atol=1e-6, rtol=0)
    t, _ = udp_targets(kpts, None, (256, 192), (64, 48), 2.0)
    mu = (101.3 * 47 / 191, 77.9 * 63 / 255)
    window = ((xs - round(mu[0])).abs() <= 6) & ((ys - round(mu[1])).abs() <= 6)
    expected = torch.exp(-((xs - mu[0]) ** 2 + (ys - mu[1]) ** 2) / 8) * window
    torch.testing.assert_close(t[0, 0], expected.float(), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- decoding accuracy on planted peaks


@pytest.mark.parametrize("method, bound", [("argmax", 0.71), ("quarter", 0.36), ("dark", 0.02), ("udp", 0.02)])
def test_planted_subpixel_peaks_are_recovered(method, bound):
    # ≥ 4 px (2σ) from the border: nearer, the zero-padded blur of DARK/UDP (the reference's own)
    # skews the log-heatmap — 0.05 px at 3 px, 0.2 px at 2 px, in the reference code as well.
    heatmaps, truth = planted_peaks(16, 17, 64, 48, seed=1, margin=4.0)
    coords, scores = decode_heatmaps(heatmaps, method)
    error = (coords.double() - truth).norm(dim=-1)
    assert error.max() <= bound, f"{method}: worst {error.max():.4f} px"
    assert scores.min() > 0.8


@pytest.mark.parametrize("method, bound", [("argmax", 0.71), ("quarter", 0.36), ("dark", 0.02), ("udp", 0.02)])
def test_codec_round_trip_in_input_pixels(method, bound):
    codec = HeatmapCodec(input_size=(256, 192), heatmap_size=(64, 48), sigma=2, decoder=method,
                         target="udp" if method == "udp" else "unbiased")
    gen = torch.Generator().manual_seed(2)
    keypoints = torch.rand(20, 17, 2, generator=gen, dtype=torch.float64) * torch.tensor([156.0, 220.0]) + 18  # ≥ 4 heatmap px in
    targets, weights = codec.encode(keypoints)
    assert targets.shape == (20, 17, 64, 48) and weights.shape == (20, 17) and bool((weights == 1).all())
    decoded, _ = codec.decode(targets)
    error_heatmap_px = ((decoded.double() - keypoints) / codec.scale).norm(dim=-1)
    assert error_heatmap_px.max() <= bound


@pytest.mark.parametrize("target, method", [("unbiased", "udp"), ("udp", "dark")])
def test_codec_geometry_follows_the_target_not_the_decoder(target, method):
    codec = HeatmapCodec(input_size=(256, 192), heatmap_size=(64, 48), sigma=2, decoder=method, target=target)
    keypoints = torch.tensor([[[168.4, 226.0], [20.0, 30.0], [97.3, 131.6]]], dtype=torch.float64)  # ≥ 4 px from the border
    decoded, _ = codec.decode(codec.encode(keypoints)[0])
    assert ((decoded.double() - keypoints) / codec.scale).norm(dim=-1).max() <= 0.05


def test_official_gaussian_target_decodes_to_its_integer_centre():
    codec = HeatmapCodec(decoder="quarter")                     # official targets by default
    keypoints = torch.tensor([[[61.0, 99.0], [10.3, 250.0], [130.7, 3.2]]], dtype=torch.float64)
    targets, _ = codec.encode(keypoints)
    coords, _ = decode_heatmaps(targets, "quarter")           # a symmetric peak: no quarter shift
    expected = torch.trunc(keypoints / 4 + 0.5)
    torch.testing.assert_close(coords.double(), expected)


def test_blur_kernel_17_for_sigma_3():
    heatmaps, truth = planted_peaks(4, 17, 96, 72, seed=3, margin=6.0, sigma=3.0)
    coords, _ = decode_heatmaps(heatmaps, "dark", blur_kernel_size=17)
    assert (coords.double() - truth).norm(dim=-1).max() <= 0.02
    assert HeatmapCodec(sigma=3, decoder="dark").blur_kernel_size == 17


# ---------------------------------------------------------------- parity with the reference rules


def test_quarter_matches_official_rule_with_border_peaks():
    rng = np.random.default_rng(4)
    heatmaps = rng.normal(size=(12, 17, 64, 48)).astype(np.float32)
    # Force maxima onto every border row/column, one pixel in, corners, and maps with max ≤ 0.
    spots = [(0, 0), (0, 20), (63, 47), (30, 0), (30, 47), (1, 1), (62, 46), (1, 30), (40, 1), (2, 2), (61, 45)]
    for j, (y, x) in enumerate(spots):
        heatmaps[0, j, y, x] = 10.0
    heatmaps[1, :3] = -np.abs(heatmaps[1, :3]) - 0.1
    heatmaps[1, 3] = 0.0
    heatmaps[2, 0, 10, 10] = heatmaps[2, 0, 10, 12] = 10.0   # tie: the first in raster order wins
    ref_coords, ref_scores = official_quarter(heatmaps)
    coords, scores = decode_heatmaps(torch.from_numpy(heatmaps), "quarter")
    np.testing.assert_array_equal(coords.numpy(), ref_coords)
    np.testing.assert_array_equal(scores.numpy(), ref_scores)
    # numpy in → numpy out, same numbers
    np_coords, _ = decode_heatmaps(heatmaps, "quarter")
    np.testing.assert_array_equal(np_coords, ref_coords)


def test_dark_matches_whole_map_reference_including_borders():
    heatmaps, _ = planted_peaks(3, 17, 64, 48, seed=5)
    heatmaps = heatmaps + 0.02 * torch.rand(heatmaps.shape, generator=torch.Generator().manual_seed(6))
    for j, (y, x) in enumerate([(0, 0), (63, 47), (2, 2), (61, 45), (3, 30), (30, 44), (0, 24)]):
        heatmaps[0, j, y, x] = 3.0
    heatmaps[-1, -1, -1, -1] = 3.0            # the last map's last pixel: the buffer's very end
    heatmaps[1, 0] -= 2.0                     # maximum ≤ 0: coordinates zeroed
    coords, _ = decode_heatmaps(heatmaps, "dark")
    for i in range(len(heatmaps)):
        ref = mmpose_dark(heatmaps[i].double().numpy())
        ref[ref[:, 0] < 0] = 0                # the official get_max_preds zeroes them; mmpose writes −1
        np.testing.assert_allclose(coords[i].numpy(), ref, atol=2e-4)


@pytest.mark.parametrize("method, reference", [("dark", mmpose_dark), ("udp", mmpose_udp)])
@pytest.mark.parametrize("bias", [0.0, -0.01])
def test_dark_and_udp_match_reference_on_noise_maps(method, reference, bias):
    # What a model emits for a joint it does not see: low noise, no peak. Blurred values near the
    # maximum fall under the clamp, so the reference's whole-map rescaling factor decides the step.
    gen = torch.Generator().manual_seed(9)
    heatmaps = 0.01 * torch.randn(4, 17, 64, 48, generator=gen, dtype=torch.float64) + bias
    heatmaps[0, :4] += planted_peaks(1, 4, 64, 48, seed=10)[0][0].double()   # and a few ordinary peaks
    coords, _ = decode_heatmaps(heatmaps, method)
    for i in range(len(heatmaps)):
        positive = heatmaps[i].flatten(1).amax(1) > 0        # ≤ 0: we zero them, mmpose writes −1 + step
        ref = reference(heatmaps[i].numpy())
        np.testing.assert_allclose(coords[i][positive].numpy(), ref[positive.numpy()], atol=1e-6)


def test_decoders_run_on_float64_and_keep_dtype():
    heatmaps, truth = planted_peaks(2, 5, 32, 24, seed=7, margin=4.0)
    coords, scores = decode_heatmaps(heatmaps.double(), "dark")
    assert coords.dtype == torch.float64 and scores.dtype == torch.float64
    assert (coords - truth).norm(dim=-1).max() <= 0.02


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", ["argmax", "quarter", "dark", "udp"])
def test_cuda_matches_cpu(method):
    heatmaps, _ = planted_peaks(8, 17, 64, 48, seed=8)
    cpu = decode_heatmaps(heatmaps, method)[0]
    gpu = decode_heatmaps(heatmaps.cuda(), method)[0]
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)


def test_opencv_kernel_sigma_rule():
    kernel = opencv_gaussian_kernel(11)
    x = torch.arange(11.0, dtype=torch.float64) - 5
    expected = torch.exp(-x**2 / 8)                    # σ = 0.3·(5 − 1) + 0.8 = 2
    torch.testing.assert_close(kernel, expected / expected.sum())
    assert opencv_gaussian_kernel(5).tolist() == [0.0625, 0.25, 0.375, 0.25, 0.0625]
    with pytest.raises(ValueError, match="odd"):
        opencv_gaussian_kernel(4)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_heatmaps_raise(bad):
    heatmaps = torch.rand(2, 3, 16, 12)
    heatmaps[1, 2, 5, 5] = bad
    with pytest.raises(ValueError, match="non-finite"):
        decode_heatmaps(heatmaps, "dark")


def test_bad_shapes_and_methods_raise():
    with pytest.raises(ValueError, match="N×K×H×W"):
        decode_heatmaps(torch.rand(3, 16, 12))
    with pytest.raises(ValueError, match="unknown decode method"):
        decode_heatmaps(torch.rand(1, 1, 8, 8), "softargmax")
    with pytest.raises(TypeError, match="floating"):
        decode_heatmaps(torch.ones(1, 1, 8, 8, dtype=torch.long))
    coords, scores = decode_heatmaps(torch.rand(0, 17, 64, 48), "dark")
    assert coords.shape == (0, 17, 2) and scores.shape == (0, 17)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 1, 1, 2), (1, 1, 2, 1), (1, 1, 3, 3), (1, 2, 2, 2), (3, 1, 1, 2)])
def test_tiny_maps_decode_like_the_reference(shape):
    # N·K·H·W smaller than the blur window used to break the windowed reads of dark/udp.
    heatmaps = torch.rand(shape, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    for method in ("argmax", "quarter"):
        coords, scores = decode_heatmaps(heatmaps, method)
        assert coords.shape == (*shape[:2], 2) and scores.shape == shape[:2]
    for method, reference in (("dark", mmpose_dark), ("udp", mmpose_udp)):
        coords, _ = decode_heatmaps(heatmaps, method)
        for i in range(shape[0]):
            np.testing.assert_allclose(coords[i].numpy(), reference(heatmaps[i].numpy()), atol=1e-6)
