"""COCO-format files written by others: every quirk real files have loads right or fails with one
DatasetError line naming the file and the id (docs/data-quirks.md). The files are written here in the
style of public keypoint data sets (tool-converted animal and hand files: no ``num_keypoints``, ``v = -1``,
stale counts, EXIF-tagged JPEGs, 16-bit PNGs)."""
import contextlib
import copy
import io
import json
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hrnet_zoo.cli import main
from hrnet_zoo.data import images as images_module
from hrnet_zoo.data import CocoKeypointDataset, DatasetError, ImageFolderDataset, load_coco_keypoints, read_image
from hrnet_zoo.evaluation import STAT_NAMES, evaluate_results

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

INPUT = (64, 48)
NAMES = ["left_eye", "right_eye", "nose", "neck", "root_of_tail"]


def dog_file(num_keypoints=True):
    """An AP-10K-style file: one species category, 2 images of 80×60, 3 dogs and a crowd."""
    def ann(ann_id, image_id, box, points, crowd=0):
        keypoints = [c for x, y, v in points for c in (x, y, v)]
        entry = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": crowd, "bbox": box,
                 "area": box[2] * box[3], "keypoints": keypoints}
        if num_keypoints:
            entry["num_keypoints"] = sum(v > 0 for _, _, v in points)
        return entry
    return {
        "info": {"description": "dogs", "version": "1.0"},
        "images": [{"license": 1, "id": 11, "file_name": "000000000011.jpg", "width": 80, "height": 60},
                   {"license": 1, "id": 12, "file_name": "000000000012.jpg", "width": 80, "height": 60}],
        "annotations": [
            ann(101, 11, [10, 10, 30, 40], [(15, 15, 2), (30, 15, 2), (22, 22, 2), (22, 32, 1), (25, 45, 2)]),
            ann(102, 11, [45, 5, 30, 50], [(50, 10, 2), (65, 10, 2), (57, 18, 2), (58, 30, 2), (60, 50, 2)]),
            ann(103, 12, [5, 8, 60, 45], [(12, 12, 2), (0, 0, 0), (20, 20, 2), (35, 30, 2), (60, 48, 1)]),
            ann(104, 12, [0, 0, 80, 60], [(0, 0, 0)] * 5, crowd=1),
        ],
        "categories": [{"supercategory": "Canidae", "id": 1, "name": "dog", "keypoints": NAMES,
                        "skeleton": [[1, 2], [1, 3], [2, 3], [3, 4], [4, 5]]}],
    }


def write(tmp_path, data, name="dogs.json", images=True):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    if images:
        folder = tmp_path / "images"
        folder.mkdir(exist_ok=True)
        for image in data["images"] if isinstance(data["images"], list) else []:
            name = Path(str(image.get("file_name")))
            if name.suffix in (".jpg", ".png"):
                Image.new("RGB", (80, 60), (90, 120, 40)).save(folder / name.name)
    return path


def perfect_results(data):
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in data["annotations"] if not a["iscrowd"]]


def pycocotools_ap(gt, results):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "keypoints")
        ev.params.kpt_oks_sigmas = np.full(len(NAMES), 0.05)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(STAT_NAMES, ev.stats.tolist()))


# --------------------------------------------------------------------------------------------- num_keypoints
def test_missing_num_keypoints_is_counted_for_pycocotools(tmp_path):
    data = dog_file(num_keypoints=False)
    ann = write(tmp_path, data, images=False)
    (tmp_path / "res.json").write_text(json.dumps(perfect_results(data)))
    assert evaluate_results(tmp_path / "res.json", ann)["AP"] == 1.0   # was KeyError: 'num_keypoints'
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["evaluate", "--results", str(tmp_path / "res.json"), "--ann", str(ann), "--json"]) == 0
    assert json.loads(out.getvalue())["AP"] == 1.0


def test_stale_num_keypoints_is_recomputed_with_one_warning(tmp_path, caplog):
    data = dog_file()
    data["annotations"][1]["num_keypoints"] = 0      # stale: this dog has 5 labelled keypoints
    data["annotations"][2]["num_keypoints"] = 5      # stale the other way: 4 labelled
    results = perfect_results(data)
    results[1]["keypoints"] = [v + (2.5 if i % 3 < 2 else 0) for i, v in enumerate(results[1]["keypoints"])]
    fixed = dog_file()
    expected = pycocotools_ap(fixed, results)
    assert expected["AP"] < 0.9 and pycocotools_ap(data, results)["AP"] != expected["AP"]  # the stale 0 matters
    with caplog.at_level(logging.WARNING, logger="hrnet_zoo.data"):
        metrics = evaluate_results(results, write(tmp_path, data, images=False))
    assert {n: metrics[n] for n in STAT_NAMES} == expected
    warnings = [r.getMessage() for r in caplog.records if "num_keypoints" in r.getMessage()]
    assert len(warnings) == 1 and "2 annotation(s)" in warnings[0] and "id 102" in warnings[0]
    (tmp_path / "res.json").write_text(json.dumps(results))
    caplog.clear()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        argv = ["evaluate", "--results", str(tmp_path / "res.json"), "--ann", str(tmp_path / "dogs.json"), "--json"]
        assert main(argv) == 0
    assert json.loads(out.getvalue())["AP"] == expected["AP"]
    assert sum("num_keypoints" in r.getMessage() for r in caplog.records) == 1


# --------------------------------------------------------------------------------------------- visibility -1
def test_visibility_minus_one_is_not_labelled_anywhere(tmp_path):
    data = dog_file(num_keypoints=False)
    kpts = data["annotations"][0]["keypoints"]
    kpts[2], kpts[5] = -1, -1                                   # eyes "not annotated" by the tool
    data["annotations"][2]["keypoints"] = [7, 9, -1] * 5        # every keypoint -1: nothing labelled
    ann = write(tmp_path, data)
    ds = CocoKeypointDataset(ann, tmp_path / "images", INPUT)
    assert [r.ann_id for r in ds.records] == [101, 102]         # 103 skipped like an all-v=0 annotation
    sample = ds[0]
    assert sample["target_weight"].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert sample["keypoints"][:, 2].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]

    ds_train = CocoKeypointDataset(ann, tmp_path / "images", INPUT, train=True, seed=0)
    assert min(float(ds_train[i]["target_weight"].min()) for i in range(len(ds_train))) >= 0.0

    results = perfect_results(data)
    results[0]["keypoints"] = [v + 9 if i in (0, 1) else v for i, v in enumerate(results[0]["keypoints"])]
    as_zero = copy.deepcopy(data)
    for a in as_zero["annotations"]:
        a["keypoints"] = [max(v, 0) if i % 3 == 2 else v for i, v in enumerate(a["keypoints"])]
        a["num_keypoints"] = sum(v > 0 for v in a["keypoints"][2::3])
    metrics = evaluate_results(results, ann)
    assert {n: metrics[n] for n in STAT_NAMES} == pycocotools_ap(as_zero, results)
    assert metrics["AP"] == 1.0    # the moved left eye is not annotated: it does not count


# --------------------------------------------------------------------------------------------- field checks
BAD_FIELDS = [
    (lambda d: d["annotations"][2].update(id=101), "annotation id 101: annotation id 101 appears twice"),
    (lambda d: d["annotations"][0].update(category_id="1"), "annotation id 101: 'category_id' must be an integer"),
    (lambda d: d["annotations"][1].update(category_id=[1]), "annotation id 102: 'category_id' must be an integer"),
    (lambda d: d["annotations"][0].update(iscrowd="0"), "annotation id 101: 'iscrowd' must be 0 or 1"),
    (lambda d: d["annotations"][0].update(id="101"), "annotation id 101: 'id' must be an integer"),
    (lambda d: d["annotations"][1].update(image_id=[11]), "annotation id 102: 'image_id' must be an integer"),
    (lambda d: d["annotations"][1].update(image_id="11"), "annotation id 102: 'image_id' must be an integer"),
    (lambda d: d["annotations"][0].update(area=float("nan")), "annotation id 101: 'area' must be a finite number"),
    (lambda d: d["annotations"][0].update(area="1200"), "annotation id 101: 'area' must be a finite number"),
    (lambda d: d["annotations"][2].update(area=0), "annotation id 103: 'area' is 0"),
    (lambda d: d["annotations"][2].update(area=-30.5), "annotation id 103: 'area' is -30.5"),
    (lambda d: d["images"][0].update(width=float("nan")), "images[0] (id 11): 'width' must be a positive number"),
    (lambda d: d["images"][1].update(height="60"), "images[1] (id 12): 'height' must be a positive number"),
    (lambda d: d["images"][1].update(id="12"), "images[1] (id 12): 'id' must be an integer"),
    (lambda d: d.update(images=None), "'images' must be a list, got null"),
    (lambda d: d.update(annotations=None), "'annotations' must be a list, got null"),
    (lambda d: d.update(categories={"id": 1}), "'categories' must be a list, got an object"),
    (lambda d: d["categories"][0].update(id="1"), "categories[0]: 'id' must be an integer"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(3, float("nan")),
     "annotation id 101: labelled keypoint 1 is at (nan, 15.0)"),
    (lambda d: d["annotations"][1]["keypoints"].__setitem__(13, float("inf")),
     "annotation id 102: labelled keypoint 4 is at (60.0, inf)"),
    (lambda d: d["annotations"][1]["keypoints"].__setitem__(14, float("nan")),
     "annotation id 102: keypoint 4 has visibility nan"),
]


@pytest.mark.parametrize("edit,expected", BAD_FIELDS)
def test_bad_fields_are_one_line_naming_file_and_id(tmp_path, edit, expected, capsys):
    data = dog_file()
    edit(data)
    path = write(tmp_path, data)
    with pytest.raises(DatasetError) as info:
        load_coco_keypoints(path, tmp_path / "images")
    message = str(info.value)
    assert str(path) in message and expected in message and "\n" not in message
    results = tmp_path / "res.json"
    results.write_text(json.dumps(perfect_results(dog_file())))
    assert main(["evaluate", "--results", str(results), "--ann", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


def test_unlabelled_points_may_be_nan_and_unscored_annotations_may_have_zero_area(tmp_path):
    data = dog_file()
    data["annotations"][2]["keypoints"][3:5] = [float("nan"), float("nan")]   # v = 0: not annotated
    data["annotations"][3]["area"] = 0                                          # the crowd: never scored
    coco = load_coco_keypoints(write(tmp_path, data), tmp_path / "images")
    assert np.isfinite(coco.records[2].joints).all()
    sample = CocoKeypointDataset(coco, input_size=INPUT, train=True)[2]
    assert torch.isfinite(sample["target"]).all() and sample["target_weight"][1] == 0
    assert evaluate_results(perfect_results(dog_file()), coco)["AP"] == 1.0


# --------------------------------------------------------------------------------------------- images
def test_image_size_must_match_the_file(tmp_path):
    data = dog_file()
    path = write(tmp_path, data)
    Image.new("RGB", (60, 80)).save(tmp_path / "images" / "000000000012.jpg")    # stored 60 wide, 80 high
    with pytest.raises(DatasetError, match=r"000000000012.jpg \(image id 12\): the annotation file says 80×60 "
                                           r"\(width×height\) but the image is 60×80"):
        load_coco_keypoints(path, tmp_path / "images")
    coco = load_coco_keypoints(path, tmp_path / "images", check_images=False)   # the decode checks it too
    ds = CocoKeypointDataset(coco, input_size=INPUT)
    with pytest.raises(DatasetError, match=r"says 80×60 \(width×height\) but the image is 60×80"):
        ds[2]
    evaluation = ImageFolderDataset({12: coco.image_path(12)}, {12: coco.declared_hw(12)})
    with pytest.raises(DatasetError, match=r"says 80×60 \(width×height\) but the image is 60×80"):
        evaluation[0]


def exif_jpeg(path, size, orientation):
    image = Image.new("RGB", size)
    image.paste((250, 10, 10), (0, 0, 10, 10))                   # a red corner at the stored top left
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes(), quality=95)


def test_exif_orientation_is_not_applied_anywhere(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(images_module, "_exif_noted", False)
    data = dog_file()
    path = write(tmp_path, data)
    exif_jpeg(tmp_path / "images" / "000000000011.jpg", (80, 60), 6)   # viewers turn it to 60×80
    with caplog.at_level(logging.WARNING, logger="hrnet_zoo.data"):
        pixels = read_image(tmp_path / "images" / "000000000011.jpg")
    assert pixels.shape == (60, 80, 3) and pixels[2, 2, 0] > 200            # stored order, not rotated
    noted = [r.getMessage() for r in caplog.records if "EXIF orientation 6" in r.getMessage()]
    assert len(noted) == 1 and "stored pixel order" in noted[0]
    coco = load_coco_keypoints(path, tmp_path / "images")                   # the json's 80×60 is the stored size
    ds = CocoKeypointDataset(coco, input_size=INPUT)
    assert ds[0]["image"].shape == (3, 64, 48)
    _, evaluated = ImageFolderDataset({11: coco.image_path(11)}, {11: coco.declared_hw(11)})[0]
    assert torch.equal(evaluated, torch.from_numpy(pixels).permute(2, 0, 1))
    # A file annotated on the turned image says 60×80: refused, with the EXIF hint.
    data["images"][0].update(width=60, height=80)
    turned = write(tmp_path, data, "turned.json", images=False)
    with pytest.raises(DatasetError, match=r"says 60×80 .* is 80×60; its EXIF orientation 6 .*exif_transpose"):
        load_coco_keypoints(turned, tmp_path / "images")


def test_sixteen_bit_pngs_are_scaled_not_clipped(tmp_path):
    values = np.arange(60 * 80, dtype=np.int64).reshape(60, 80) % 256
    Image.fromarray((values * 257).astype(np.uint16)).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    pixels = read_image(tmp_path / "grey16.png")
    assert pixels.dtype == np.uint8 and pixels.shape == (60, 80, 3)
    np.testing.assert_array_equal(pixels, np.repeat(values[:, :, None], 3, 2))
    Image.fromarray((values * 257).astype(np.int32), mode="I").save(tmp_path / "grey32.tif")  # 32-bit mode I
    assert Image.open(tmp_path / "grey32.tif").mode == "I"
    np.testing.assert_array_equal(read_image(tmp_path / "grey32.tif"), pixels)


def bomb_png(path, width=20000, height=20000):
    """A PNG whose header claims width×height (its data is one empty row): Pillow refuses it on open."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_is_one_line(tmp_path):
    data = dog_file()
    data["images"][0].update(file_name="huge.png", width=20000, height=20000)
    path = write(tmp_path, data)
    bomb_png(tmp_path / "images" / "huge.png")
    with pytest.raises(DatasetError, match=r"huge.png \(image id 11\): the image header claims more pixels than "
                                           r"Pillow's decompression-bomb limit") as info:
        load_coco_keypoints(path, tmp_path / "images")
    assert "\n" not in str(info.value)
    with pytest.raises(DatasetError, match="decompression-bomb limit"):
        read_image(tmp_path / "images" / "huge.png")


@pytest.mark.parametrize("file_name", ["../outside.jpg", "sub/../../outside.jpg", "/etc/hostname", "C:\\x.jpg"])
def test_file_names_may_not_leave_the_image_folder(tmp_path, file_name):
    data = dog_file()
    data["images"][1]["file_name"] = file_name
    path = write(tmp_path, data)
    Image.new("RGB", (80, 60)).save(tmp_path / "outside.jpg")
    with pytest.raises(DatasetError, match=r"images\[1\] \(id 12\): file_name .* leaves the images folder"):
        load_coco_keypoints(path, tmp_path / "images")


def test_file_names_in_subfolders_are_fine(tmp_path):
    data = dog_file()
    data["images"][1]["file_name"] = "dogs/./a/../000000000012.jpg"
    path = write(tmp_path, data)
    (tmp_path / "images" / "dogs").mkdir()
    Image.new("RGB", (80, 60)).save(tmp_path / "images" / "dogs" / "000000000012.jpg")
    assert len(load_coco_keypoints(path, tmp_path / "images").records) == 3


# --------------------------------------------------------------------------------------------- a training run
@pytest.mark.slow
def test_training_validates_and_saves_on_a_tool_converted_file(tmp_path):
    """No ``num_keypoints`` and v = -1 in both files: validation scores, ``best/`` is saved (the
    validation used to die with pycocotools' KeyError after the epoch, and nothing was saved)."""
    import hrnet_zoo

    data = dog_file(num_keypoints=False)
    data["annotations"][0]["keypoints"][2] = -1
    ann = write(tmp_path, data)
    result = hrnet_zoo.train(model="hrnet_w18_small_v1", train_ann=str(ann), train_images=str(tmp_path / "images"),
                             val_ann=str(ann), val_images=str(tmp_path / "images"), out=str(tmp_path / "run"),
                             input_size=INPUT, epochs=1, batch_size=3, pretrained=False, workers=0,
                             progress=False, max_steps=1)
    assert result["best_ap"] is not None and (tmp_path / "run" / "best").is_dir()


def test_predict_reads_tagged_images_in_stored_order_too(tmp_path, capsys):
    """``predict`` goes through the same `read_image`: a tagged copy of an image gives the same keypoints
    and a drawing of the stored size."""
    import hrnet_zoo
    from hrnet_zoo.pose.keypoint_set import KeypointSet

    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", keypoints=KeypointSet.from_names(NAMES),
                                   pretrained_cfg_overlay={"input_size": INPUT})
    model.save_pretrained(tmp_path / "model")
    pixels = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "plain.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "tagged.png", exif=exif.tobytes())
    assert Image.open(tmp_path / "tagged.png").getexif().get(0x0112) == 6
    argv = ["predict", "--model", str(tmp_path / "model"), "--images", str(tmp_path / "plain.png"),
            str(tmp_path / "tagged.png"), "--box", "10,5,50,50", "--output", str(tmp_path / "out")]
    assert main(argv) == 0
    plain, tagged = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert plain["keypoints"] == tagged["keypoints"]
    assert Image.open(tmp_path / "out" / "tagged_keypoints.jpg").size == (80, 60)
