"""Keypoint sets of real data sets: left/right pairs from any side naming, presets with their official facts,
one category-resolution rule for `KeypointSet.from_coco_category` and the loader, lenient skeletons, and
the summary line and flip-test guard of the commands. Files are small COCO files in the style of real ones."""
import json
import re
import warnings

import numpy as np
import pytest

from hrnet_zoo.cli import main
from hrnet_zoo.data import DatasetError, load_coco_keypoints
from hrnet_zoo.pose.keypoint_set import (COCO_KEYPOINTS, COCO_SIGMAS, DEFAULT_SIGMA, MPII_KEYPOINTS, KeypointSet,
                                 describe_keypoints, flip_pairs_from_names, list_presets, names_have_sides,
                                 resolve_coco_keypoints, resolve_keypoint_set)

# --------------------------------------------------------------------------------------------- naming rules


@pytest.mark.parametrize("left, right", [
    ("left_eye", "right_eye"), ("L_Eye", "R_Eye"), ("Left_Eye", "Right_Eye"), ("LeftEye", "RightEye"),
    ("Left Eye", "Right Eye"), ("LEFT_EYE", "RIGHT_EYE"), ("eyeL", "eyeR"), ("forelegL1", "forelegR1"),
    ("anttipL", "anttipR"), ("hindleg_l", "hindleg_r"), ("left-ear", "right-ear"), ("L_F_Paw", "R_F_Paw"),
])
def test_side_words_pair_wherever_they_stand(left, right):
    assert flip_pairs_from_names(["nose", right, "tail", left]) == ((3, 1),)
    assert names_have_sides([left])


def test_names_that_must_not_pair():
    for names in (
        ["leftover", "rightover"],                      # a word that starts with "left" is not a side
        ["Nearknee", "Offknee", "Nearfrontfoot", "Offfrontfoot"],   # horses' near/off are not left/right
        ["left_eye", "right_ear"],                      # the rest differs
        ["l_eye", "L_EYE", "r_eye"],                    # two left candidates: ambiguous, nothing paired
        ["left_right"],                                 # never a name with itself
    ):
        assert flip_pairs_from_names(names) == (), names


def test_names_have_sides():
    assert not names_have_sides(["leftover", "Nearknee", "Offknee", "tail"])
    assert names_have_sides(KeypointSet.from_names(["head", "finL", "tail"]))


# --------------------------------------------------------------------------------------------- presets
EXPECTED_K = {
    "coco": 17, "coco_wholebody": 133, "crowdpose": 14, "ochuman": 17, "mpii": 16, "aic": 14, "posetrack18": 17,
    "halpe26": 26, "ap10k": 17, "animalpose": 20, "atrw": 15, "horse10": 22, "macaque": 17, "zebra": 9,
    "locust": 35, "fly": 32, "hand21": 21, "onehand10k": 21, "freihand": 21, "rhd": 21, "wflw": 98, "300w": 68,
    "aflw": 19, "cofw": 29,
}
# Faces are numbered, so their pairs are listed by the data sets (count of left/right pairs).
FACE_PAIRS = {"wflw": 44, "300w": 29, "aflw": 8, "cofw": 11}


def _side_swapped(name: str) -> str:
    swap = {"left": "right", "right": "left", "l": "r", "r": "l"}
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^A-Za-z\d]+", name)
    return "".join(swap.get(w.lower(), w) for w in words).lower()


@pytest.mark.parametrize("name", sorted(EXPECTED_K))
def test_every_preset_is_a_valid_set_of_its_data_set(name):
    kset = KeypointSet.preset(name)
    assert name in list_presets() and KeypointSet.from_dict(kset.to_dict()) == kset
    assert kset.num_keypoints == EXPECTED_K[name]
    assert sorted(kset.flip_indices[i] for i in range(kset.num_keypoints)) == list(range(kset.num_keypoints))
    assert all(0 <= i < kset.num_keypoints for link in kset.skeleton for i in link)
    for a, b in kset.flip_pairs:
        names = kset.keypoint_names
        if names_have_sides([names[a]]):
            assert _side_swapped(names[a]) == names[b].lower(), (names[a], names[b])
    if name in FACE_PAIRS:
        assert len(kset.flip_pairs) == FACE_PAIRS[name] and kset.metrics == ("NME",)
    assert resolve_keypoint_set(name) == kset


def test_preset_facts_and_metrics():
    assert KeypointSet.preset("coco") is COCO_KEYPOINTS and KeypointSet.preset("MPII") is MPII_KEYPOINTS
    assert KeypointSet.preset("ochuman").sigmas == COCO_SIGMAS
    assert KeypointSet.preset("crowdpose").keypoint_names[12:] == ("top_head", "neck")
    assert KeypointSet.preset("ap10k").keypoint_names[:3] == ("L_Eye", "R_Eye", "Nose")
    wholebody = KeypointSet.preset("coco_wholebody")
    assert wholebody.flip_indices[23 + 36] == 23 + 45 and len(wholebody.flip_pairs) == 61   # face outer eye corners
    assert KeypointSet.preset("300w").flip_indices[36] == 45 and KeypointSet.preset("300w").nme_pair == (36, 45)
    assert KeypointSet.preset("wflw").nme_pair == (60, 72) and KeypointSet.preset("aflw").nme_pair is None
    assert KeypointSet.preset("ap10k").metrics == ("AP",) and KeypointSet.preset("hand21").metrics == ("PCK", "AUC")
    assert KeypointSet.preset("horse10").flip_pairs == () and KeypointSet.preset("zebra").sigmas == (DEFAULT_SIGMA,) * 9
    with pytest.raises(ValueError, match="unknown keypoint set"):
        KeypointSet.preset("fish")


def test_old_config_dicts_without_metrics_still_load():
    old = {k: v for k, v in COCO_KEYPOINTS.to_dict().items() if k not in ("metrics", "nme_pair")}
    assert KeypointSet.from_dict(old) == COCO_KEYPOINTS
    face = KeypointSet.preset("cofw")
    assert KeypointSet.from_dict(json.loads(json.dumps(face.to_dict()))).nme_pair == (8, 9)


# --------------------------------------------------------------------------------------------- COCO files
def _coco_file(tmp_path, categories, num_keypoints=None, per_category=1, name="ann.json"):
    """A COCO keypoint file with one 100×80 image and ``per_category`` annotations of each category."""
    annotations = []
    for c in categories:
        k = num_keypoints or len(c.get("keypoints", ()))
        for _ in range(per_category):
            points = np.stack([np.linspace(10, 60, k), np.linspace(10, 70, k), np.full(k, 2)], 1)
            annotations.append({"id": len(annotations) + 1, "image_id": 1, "category_id": c["id"], "iscrowd": 0,
                                "bbox": [5, 5, 60, 70], "area": 4200.0,
                                "keypoints": [round(float(v), 2) for v in points.reshape(-1)],
                                "num_keypoints": k})
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}], "annotations": annotations,
            "categories": categories}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_a_file_whose_names_are_a_preset_s_in_upper_case_gets_its_pairs_and_sigmas(tmp_path):
    ap10k = KeypointSet.preset("ap10k")
    path = _coco_file(tmp_path, [{"id": 1, "name": "animal", "keypoints": [n.upper() for n in ap10k.keypoint_names]}])
    coco = load_coco_keypoints(path, check_images=False)
    kset = coco.keypoint_set
    assert kset.sigmas == ap10k.sigmas and kset.flip_pairs == ap10k.flip_pairs and kset.skeleton == ap10k.skeleton
    assert kset.keypoint_names[0] == "L_EYE" and kset.metrics == ("AP",)
    line = describe_keypoints(coco.keypoint_choice)
    assert "preset ap10k" in line and "17 keypoints" in line and "flip pairs: 7" in line


def test_categories_sharing_a_keypoint_list_are_one_set(tmp_path):
    names = KeypointSet.preset("ap10k").keypoint_names
    species = [{"id": i, "name": n, "supercategory": "animal", "keypoints": list(names)}
               for i, n in ((3, "dog"), (7, "cat"), (9, "horse"))]
    coco = load_coco_keypoints(_coco_file(tmp_path, species), check_images=False)
    assert coco.category_ids == (3, 7, 9) and coco.category_id == 3
    assert sorted({a.ann_id for a in coco.records}) == [1, 2, 3]


def test_different_keypoint_lists_need_a_category_id(tmp_path):
    categories = [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS.keypoint_names)},
                  {"id": 2, "name": "hand", "keypoints": list(KeypointSet.preset("hand21").keypoint_names)}]
    path = _coco_file(tmp_path, categories)
    for load in (lambda **kw: load_coco_keypoints(path, check_images=False, **kw),
                 lambda **kw: KeypointSet.from_coco_category(path, **kw)):
        with pytest.raises(DatasetError, match=r"id 1 'person'.*id 2 'hand'.*category_id"):
            load()
    coco = load_coco_keypoints(path, check_images=False, category_id=2)
    assert coco.keypoint_set.num_keypoints == 21 and [r.ann_id for r in coco.records] == [2]
    assert KeypointSet.from_coco_category(path, category_id=2) == coco.keypoint_set
    assert coco.keypoint_set.metrics == ("PCK", "AUC")


def test_from_coco_category_and_the_loader_agree_on_a_person_file(tmp_path):
    person = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_KEYPOINTS.keypoint_names),
              "skeleton": [[a + 1, b + 1] for a, b in COCO_KEYPOINTS.skeleton]}
    path = _coco_file(tmp_path, [person])
    from_file = KeypointSet.from_coco_category(path)
    loaded = load_coco_keypoints(path, check_images=False).keypoint_set
    assert from_file == loaded == KeypointSet.from_coco_category(person)
    assert loaded.sigmas == COCO_SIGMAS and loaded.flip_pairs == COCO_KEYPOINTS.flip_pairs


def test_a_zero_based_skeleton_is_detected(tmp_path):
    category = {"id": 1, "name": "fish", "keypoints": ["snout", "fin_l", "fin_r"], "skeleton": [[0, 1], [0, 2]]}
    kset = load_coco_keypoints(_coco_file(tmp_path, [category]), check_images=False).keypoint_set
    assert kset.skeleton == ((0, 1), (0, 2)) and kset.flip_pairs == ((1, 2),)


def test_bad_skeleton_links_are_dropped_with_one_warning(tmp_path):
    category = {"id": 1, "name": "fish", "keypoints": ["snout", "fin_l", "fin_r"],
                "skeleton": [[1, 2], [2, 9], [1, 3, 2]]}  # 1-based; one out of range, one not a pair
    path = _coco_file(tmp_path, [category])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coco = load_coco_keypoints(path, check_images=False)
    assert coco.keypoint_set.skeleton == ((0, 1),)
    assert len(caught) == 1 and "dropped 2 skeleton link(s)" in str(caught[0].message)
    assert coco.keypoint_choice.warnings == (str(caught[0].message),)


def test_a_category_without_names_works_with_a_keypoint_set(tmp_path):
    path = _coco_file(tmp_path, [{"id": 1, "name": "face"}], num_keypoints=98)
    with pytest.raises(DatasetError, match="keypoint_set"):
        load_coco_keypoints(path, check_images=False)
    coco = load_coco_keypoints(path, check_images=False, keypoint_set="wflw")
    assert coco.keypoint_set == KeypointSet.preset("wflw") and len(coco.records) == 1
    assert "flip pairs: 44 from keypoint set wflw" in describe_keypoints(coco.keypoint_choice)


def test_sigmas_come_given_then_category_then_preset_and_are_checked(tmp_path):
    names = list(COCO_KEYPOINTS.keypoint_names)
    choice = resolve_coco_keypoints([{"id": 1, "name": "p", "keypoints": names, "sigmas": [0.1] * 17}])
    assert choice.keypoint_set.sigmas == (0.1,) * 17 and "category" in choice.sigma_source
    given = resolve_coco_keypoints([{"id": 1, "keypoints": names, "sigmas": [0.1] * 17}], sigmas=[0.2] * 17)
    assert given.keypoint_set.sigmas == (0.2,) * 17 and given.sigma_source == "given"
    with pytest.raises(DatasetError, match="'sigmas' must be 17 positive numbers"):
        resolve_coco_keypoints([{"id": 1, "keypoints": names, "sigmas": ["0.1"] * 17}], where="x.json")
    fish = resolve_coco_keypoints([{"id": 1, "keypoints": ["snout", "tail"]}])
    assert fish.keypoint_set.sigmas == (DEFAULT_SIGMA,) * 2 and "default" in fish.sigma_source


def test_sided_names_without_pairs_warn(tmp_path):
    choice = resolve_coco_keypoints([{"id": 1, "name": "fish", "keypoints": ["head", "finL", "tail"]}])
    assert choice.flip_source == "none" and len(choice.warnings) == 1
    assert "--flip-pairs" in choice.warnings[0] and "--keypoint-set" in choice.warnings[0]
    assert "flip pairs: none" in describe_keypoints(choice)


# --------------------------------------------------------------------------------------------- commands
def _perfect_results(path):
    data = json.loads(path.read_text())
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": a["keypoints"], "score": 1.0}
            for a in data["annotations"]]


def test_evaluate_prints_the_summary_line_and_takes_category_id(tmp_path, capsys):
    pytest.importorskip("pycocotools")
    upper = [n.upper() for n in KeypointSet.preset("ap10k").keypoint_names]
    categories = [{"id": 1, "name": "dog", "keypoints": upper}, {"id": 2, "name": "cat", "keypoints": upper},
                  {"id": 5, "name": "hand", "keypoints": list(KeypointSet.preset("hand21").keypoint_names)}]
    path = _coco_file(tmp_path, categories)
    animals = [r for r in _perfect_results(path) if r["category_id"] in (1, 2)]
    (tmp_path / "r.json").write_text(json.dumps(animals))
    argv = ["evaluate", "--results", str(tmp_path / "r.json"), "--ann", str(path), "--json"]
    assert main(argv) == 1
    assert "--category-id" in capsys.readouterr().err
    assert main(argv + ["--category-id", "2"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["AP"] == 1.0   # dogs and cats scored together, stdout pure JSON
    summary = [line for line in err.splitlines() if line.startswith("keypoints:")]
    assert len(summary) == 1 and "preset ap10k" in summary[0] and "categories [1, 2]" in summary[0]


def test_evaluate_with_keypoint_set_for_a_file_without_names(tmp_path, capsys):
    pytest.importorskip("pycocotools")
    path = _coco_file(tmp_path, [{"id": 1, "name": "face"}], num_keypoints=68)
    (tmp_path / "r.json").write_text(json.dumps(_perfect_results(path)))
    argv = ["evaluate", "--results", str(tmp_path / "r.json"), "--ann", str(path)]
    assert main(argv) == 1
    assert "--keypoint-set" in capsys.readouterr().err
    assert main(argv + ["--keypoint-set", "300w"]) == 0
    err = capsys.readouterr().err
    assert "'300w'" in err and "flip pairs: 29" in err
    assert main(argv + ["--keypoint-set", "nosuchset"]) == 2


@pytest.fixture(scope="module")
def sided_model(tmp_path_factory):
    """A tiny model and a synthetic file whose names have sides but no pairs (``left_hand``, ``other_hand``)."""
    import torch
    from synthetic_keypoints import make_synthetic_coco

    import hrnet_zoo

    root = tmp_path_factory.mktemp("sided")
    paths = make_synthetic_coco(root, num_images=2, seed=3, split="val")
    data = json.loads(open(paths["ann_file"]).read())
    data["categories"][0]["keypoints"] = ["head", "left_hand", "other_hand", "left_foot", "other_foot"]
    ann = root / "sided.json"
    ann.write_text(json.dumps(data))
    kset = load_coco_keypoints(ann, paths["image_dir"], flip_pairs=()).keypoint_set
    torch.manual_seed(0)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1", keypoints=kset,
                                   pretrained_cfg_overlay={"input_size": (64, 48)})
    model.save_pretrained(root / "model")
    images = [f"{paths['image_dir']}/{im['file_name']}" for im in data["images"]]
    return {"ann": str(ann), "images_dir": paths["image_dir"], "images": images, "model": str(root / "model")}


def test_no_flip_pairs_on_sided_names_warns_and_runs_without_flip(sided_model, tmp_path, capsys):
    pytest.importorskip("pycocotools")
    base = ["evaluate", "--model", sided_model["model"], "--ann", sided_model["ann"],
            "--images", sided_model["images_dir"], "--json", "--device", "cpu"]
    assert main(base + ["--output", str(tmp_path / "flip.json")]) == 0
    err = capsys.readouterr().err
    assert "flip test off" in err and "--flip-pairs" in err and "flip pairs: none" in err
    assert main(base + ["--output", str(tmp_path / "noflip.json"), "--no-flip-test"]) == 0
    assert "flip test off" not in capsys.readouterr().err
    assert json.loads((tmp_path / "flip.json").read_text()) == json.loads((tmp_path / "noflip.json").read_text())

    pred = ["predict", "--model", sided_model["model"], "--images", sided_model["images"][0], "--box", "5,5,60,80",
            "--device", "cpu", "--json"]
    assert main(pred + ["--output", str(tmp_path / "p1")]) == 0
    out, err = capsys.readouterr()
    assert "flip test off" in err and json.loads(out)["people"] == 1
    assert main(pred + ["--output", str(tmp_path / "p2"), "--no-flip-test"]) == 0
    capsys.readouterr()
    assert (tmp_path / "p1" / "keypoints.json").read_text() == (tmp_path / "p2" / "keypoints.json").read_text()
    # Pairs given on the command line: the flip test runs, and changes the result.
    assert main(pred + ["--output", str(tmp_path / "p3"), "--flip-pairs", "1:2,3:4"]) == 0
    err = capsys.readouterr().err
    assert "flip test off" not in err and "flip pairs: 2 from --flip-pairs" in err
    assert (tmp_path / "p3" / "keypoints.json").read_text() != (tmp_path / "p2" / "keypoints.json").read_text()


@pytest.mark.slow
def test_train_takes_category_id_and_prints_the_summary_line(sided_model, tmp_path, capsys):
    data = json.loads(open(sided_model["ann"]).read())
    data["categories"].append({"id": 2, "name": "boat", "keypoints": ["bow", "stern"]})
    ann = tmp_path / "two.json"
    ann.write_text(json.dumps(data))
    argv = ["train", "--model", "hrnet_w18_small_v1", "--train-ann", str(ann), "--train-images",
            sided_model["images_dir"], "--input-size", "64x48", "--epochs", "1", "--batch-size", "2", "--max-steps",
            "1", "--no-pretrained", "--workers", "0", "--no-progress", "--device", "cpu",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 1
    assert "--category-id" in capsys.readouterr().err
    assert main(argv + ["--category-id", "1", "--flip-pairs", "1:2"]) == 0
    err = capsys.readouterr().err
    summary = [line for line in err.splitlines() if "keypoints: " in line]
    assert len(summary) == 1 and "5 keypoints, category 1; flip pairs: 1 from given" in summary[0]
    saved = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert saved["pretrained_cfg"]["keypoints"]["flip_pairs"] == [[1, 2]]
