"""``hrnet_zoo.pose`` is the one home of the pose modules: the old module paths re-export the same objects,
and the default input size and decoder come from ``pretrained_cfg`` only."""
import importlib
import sys

import numpy as np
import pytest

from hrnet_zoo.codecs import HeatmapCodec
from hrnet_zoo.pretrained_cfg import DEFAULT_DECODER, DEFAULT_INPUT_SIZE, PretrainedCfg, pose_cfg

#: old module → (new module(s), every public name the old module had)
MOVED = {
    "hrnet_zoo.keypoints": ("COCO_FLIP_PAIRS COCO_KEYPOINTS COCO_SIGMAS DEFAULT_SIGMA KEYPOINT_SETS KeypointChoice "
                            "KeypointSet METRIC_NAMES MPII_FLIP_PAIRS MPII_KEYPOINTS describe_keypoints "
                            "flip_indices_from_pairs flip_pairs_from_names keypoint_set_for list_presets "
                            "names_have_sides oks resolve_coco_keypoints resolve_keypoint_set"),
    "hrnet_zoo.keypoint_names": "flip_indices_from_pairs flip_pairs_from_names names_have_sides",
    "hrnet_zoo.keypoint_categories": "category_group category_skeleton checked_sigmas describe_category",
    "hrnet_zoo.keypoint_presets": "ALIASES COCO_NAMES COCO_SIGMAS HAND21_NAMES preset_data preset_names",
    "hrnet_zoo.oks": "oks",
    "hrnet_zoo.crops": ("IMAGENET_MEAN IMAGENET_STD MAX_BOX_COORDINATE PIXEL_STD affine_points box_crop_transforms "
                        "box_to_center_scale crop_images get_affine_transform image_to_tensor normalize"),
    "hrnet_zoo.inference": ("CropSettings IMAGENET_MEAN IMAGENET_STD MAX_BOX_COORDINATE PIXEL_STD PoseResult "
                            "PretrainedCfg affine_points box_crop_transforms box_to_center_scale crop_images "
                            "crop_settings flip_test_decision get_affine_transform image_to_tensor iter_predictions "
                            "keypoint_summary model_cfg normalize pose_cfg predict_heatmaps predict_keypoints"),
    "hrnet_zoo.pose_estimator": "DEFAULT_NMS_THRESHOLD DEFAULT_SCORE_THRESHOLD PoseEstimator PoseInstance rgb_array",
    "hrnet_zoo.visualize": "draw_keypoints plot_heatmaps",
}
HOMES = ["hrnet_zoo.pose.keypoint_set", "hrnet_zoo.pose.keypoint_names", "hrnet_zoo.pose.keypoint_categories",
         "hrnet_zoo.pose.presets", "hrnet_zoo.pose.oks", "hrnet_zoo.pose.geometry", "hrnet_zoo.pose.preprocess",
         "hrnet_zoo.pose.inference", "hrnet_zoo.pose.estimator", "hrnet_zoo.pose.visualize",
         "hrnet_zoo.pretrained_cfg"]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_paths_warn_and_re_export_the_pose_objects(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated and will be removed in 0.4; import from "
                                                r"hrnet_zoo\.pose\.") as record:
        __import__(old)  # an import statement's machinery, as in user code
    shim = sys.modules[old]
    assert record[0].filename == __file__  # the warning points at the importing line
    names = MOVED[old].split()
    assert sorted(shim.__all__) == sorted(names)
    homes = [importlib.import_module(m) for m in HOMES]
    for name in names:
        found = [m for m in homes if getattr(m, name, None) is getattr(shim, name)]
        assert found, f"{old}.{name} is not the object of its home in hrnet_zoo.pose"


def test_the_pose_package_names_load_on_use():
    import hrnet_zoo
    import hrnet_zoo.pose as pose
    from hrnet_zoo.pose.inference import predict_keypoints

    assert pose.predict_keypoints is predict_keypoints is hrnet_zoo.predict_keypoints
    assert pose.KeypointSet is hrnet_zoo.KeypointSet
    with pytest.raises(AttributeError):
        pose.no_such_name  # noqa: B018


def test_default_input_size_and_decoder_are_pretrained_cfgs():
    assert PretrainedCfg().input_size == DEFAULT_INPUT_SIZE and pose_cfg().decoder == DEFAULT_DECODER
    codec = HeatmapCodec()
    assert codec.input_size == DEFAULT_INPUT_SIZE and codec.decoder == DEFAULT_DECODER  # was "quarter"
    for_cfg = HeatmapCodec.for_cfg(pose_cfg(input_size=(64, 48), decoder=None))
    assert for_cfg.decoder == DEFAULT_DECODER and for_cfg.heatmap_size == (16, 12)
    assert HeatmapCodec(sigma=3.0).blur_kernel_size == pose_cfg().replace(heatmap_sigma=3.0).blur_kernel_size == 17


def test_half_body_and_box_share_the_aspect_rule():
    from hrnet_zoo.data.transforms import half_body_center_scale
    from hrnet_zoo.pose.geometry import box_to_center_scale

    joints = np.array([[10.0, 10.0], [30.0, 12.0], [20.0, 50.0]])
    rng = np.random.default_rng(0)
    center, scale = half_body_center_scale(joints, np.ones(3), upper_ids=range(3), aspect_ratio=0.75, rng=rng)
    box_center, box_scale = box_to_center_scale([[10.0, 10.0, 20.0, 40.0]], 0.75, padding=1.5)
    assert np.allclose(scale, box_scale[0]) and np.allclose(center, [20.0, 24.0])
