"""One preprocessing, built from ``pretrained_cfg``: the training data, inference and int8 calibration feed a
model the same input for the same box, pixel scale (``"0-1"`` / ``"0-255"``) included."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from hrnet_zoo.data import CocoKeypointDataset
from hrnet_zoo.pose.inference import predict_keypoints
from hrnet_zoo.pose.keypoint_set import COCO_KEYPOINTS
from hrnet_zoo.pose.preprocess import Preprocess
from hrnet_zoo.pretrained_cfg import PretrainedCfg, pose_cfg
from hrnet_zoo.runtime.quantize import calibration_batches

SIZE = (64, 48)
#: mmpose's / OpenMMLab's normalisation of models trained on 0–255 pixels.
MEAN_255, STD_255 = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


@pytest.fixture
def person_file(tmp_path):
    """A COCO person file as real ones come: a box running off the right edge (clipped by the loader),
    fractional coordinates, unlabelled keypoints, ``num_keypoints`` and ``area`` written by the tool."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)).save(tmp_path / "images" / "000001.png")
    keypoints = [0.0] * 51
    for k, (x, y) in enumerate([(40.5, 22.25), (38.0, 20.0), (43.0, 20.5), (30.0, 50.0), (52.0, 51.5)]):
        keypoints[3 * k:3 * k + 3] = [x, y, 2]
    data = {
        "images": [{"id": 1, "file_name": "000001.png", "width": 90, "height": 120}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [21.3, 8.6, 80.2, 100.7],
                         "area": 4210.5, "iscrowd": 0, "num_keypoints": 5, "keypoints": keypoints}],
        "categories": [{"id": 1, "name": "person", "supercategory": "person",
                        "keypoints": list(COCO_KEYPOINTS.keypoint_names),
                        "skeleton": [[16, 14], [14, 12], [17, 15]]}],
    }
    (tmp_path / "person.json").write_text(json.dumps(data))
    return tmp_path


class RecordingPose(nn.Module):
    """A pose model (17 heatmaps at stride 4) that keeps the inputs it was given."""

    def __init__(self, cfg):
        super().__init__()
        self.pretrained_cfg = cfg
        self.head = nn.Conv2d(3, 17, 1)
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return nn.functional.avg_pool2d(self.head(x), 4)


@pytest.mark.parametrize("scale, mean, std", [("0-255", MEAN_255, STD_255), ("0-1", (0.485, 0.456, 0.406),
                                                                            (0.229, 0.224, 0.225))])
def test_dataset_inference_and_calibration_feed_the_same_input(person_file, scale, mean, std):
    cfg = pose_cfg(17, SIZE, scale=scale, mean=mean, std=std)
    dataset = CocoKeypointDataset(person_file / "person.json", person_file / "images", pretrained_cfg=cfg)
    model = RecordingPose(cfg).eval()
    box = dataset.records[0].box  # the loader's clipped box: what the dataset crops
    image = np.asarray(Image.open(person_file / "images" / "000001.png").convert("RGB"))
    predict_keypoints(model, image, box[None], flip_test=False)
    calibration = calibration_batches([(image, box[None])], cfg, SIZE)[0]

    from_data = dataset[0]["image"]
    assert dataset.input_size == SIZE and from_data.shape == (3, *SIZE)
    assert torch.equal(model.inputs[0][0], from_data)
    assert torch.equal(calibration[0], from_data)
    # normalised as the cfg says: ImageNet-like statistics, not 0–1 pixels through 0–255 constants
    assert -3 < from_data.mean().item() < 3 and from_data.std().item() > 0.5


def test_preprocess_reads_scale_from_the_cfg():
    crops = torch.full((1, 3, 4, 4), 0.5)
    plain = Preprocess.from_cfg(PretrainedCfg(mean=(0, 0, 0), std=(1, 1, 1)))
    wide = Preprocess.from_cfg(PretrainedCfg(mean=(0, 0, 0), std=(1, 1, 1), scale="0-255"), input_size=(32, 24))
    assert plain.input_size == PretrainedCfg().input_size and wide.input_size == (32, 24)
    assert torch.equal(plain.normalize(crops), crops)
    assert torch.equal(wide.normalize(crops), crops * 255)
    assert Preprocess.from_cfg(None) == plain.__class__(PretrainedCfg().input_size)  # PretrainedCfg()'s defaults
