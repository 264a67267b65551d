"""The model zoo page cannot drift: docs/zoo.md and docs/assets/zoo.json must match the registry,
the weights manifest and fresh counts. Regenerate with ``python scripts/make_docs_tables.py --reuse``."""
import importlib.util
import json
from pathlib import Path

import pytest

from hrnet_zoo.complexity import count_flops, measure_model

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REGENERATE = "run `python scripts/make_docs_tables.py --reuse` and commit docs/"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_docs_tables", ROOT / "scripts" / "make_docs_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_docs_tables = _load_script()


@pytest.fixture(scope="module")
def committed_rows():
    return json.loads((DOCS / "assets" / "zoo.json").read_text())


def _key(row):
    return row["model"], tuple(row["input_size"])


def test_rows_match_registry_and_manifest(committed_rows):
    fresh = make_docs_tables.zoo_rows()
    described = ("model", "architecture", "input_size", "metrics", "weights", "sources")
    assert [{k: r[k] for k in described} for r in committed_rows] == fresh, REGENERATE


def test_markdown_is_rendered_from_the_committed_rows(committed_rows):
    assert (DOCS / "zoo.md").read_text() == make_docs_tables.render_markdown(committed_rows), REGENERATE


def test_committed_fvcore_column_is_complete(committed_rows):
    assert all(r["gflops"] is not None and r["gflops"] > r["paper_gflops"] * 0.5 for r in committed_rows), REGENERATE


@pytest.mark.parametrize("model,size", [("hrnet_w32", (384, 288)), ("simplebaseline_r50", (256, 192)),
                                        ("hrnet_w18_cls", (224, 224)), ("hrnetv2p_w18_small_v1", (800, 1216))])
def test_committed_numbers_match_fresh_paper_counts(committed_rows, model, size):
    row = next(r for r in committed_rows if _key(r) == (model, size))
    fresh = measure_model(model, size, fvcore=False)
    assert row["params"] == fresh["params"]
    assert row["paper_gflops"] == pytest.approx(fresh["paper_gflops"], rel=1e-9)


@pytest.mark.slow
def test_every_committed_row_matches_a_fresh_paper_count(committed_rows):
    for row in committed_rows:
        fresh = measure_model(row["model"], tuple(row["input_size"]), fvcore=False, depth=0)
        assert (row["params"], row["paper_gflops"]) == (fresh["params"], pytest.approx(fresh["paper_gflops"])), (
            row["model"], REGENERATE)


def test_committed_fvcore_number_matches_a_fresh_trace(committed_rows):
    row = next(r for r in committed_rows if _key(r) == ("hrnet_w18_small_v1", (256, 192)))
    import hrnet_zoo

    fresh = count_flops(hrnet_zoo.create_model("hrnet_w18_small_v1"), (256, 192), depth=0)
    assert row["gflops"] == pytest.approx(fresh["gflops"], rel=1e-9)


def test_published_rows_in_the_table():
    text = (DOCS / "zoo.md").read_text()
    assert "| `hrnet_w32` | 256×192 | 28.54M | 7.12 |" in text
    assert "| `hrnet_w48` | 384×288 | 63.60M | 32.88 |" in text
    assert "AP 0.744 (coco-256x192)" in text
    assert "![paper GFLOPs vs COCO val2017 AP](assets/gflops_vs_ap.svg)" in text
    assert (DOCS / "assets" / "gflops_vs_ap.svg").stat().st_size > 10_000
    assert (DOCS / "assets" / "gflops_vs_ap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generator_end_to_end(tmp_path):
    """The script on a pattern: markdown, data, and the figure in both formats."""
    assert make_docs_tables.main(["--out", str(tmp_path), "--pattern", "hrnet_w32", "--no-fvcore"]) == 0
    rows = json.loads((tmp_path / "assets" / "zoo.json").read_text())
    assert [_key(r) for r in rows] == [("hrnet_w32", (256, 192)), ("hrnet_w32", (384, 288))]
    assert rows[0]["paper_gflops"] == pytest.approx(7.1200, rel=2e-4) and rows[0]["gflops"] is None
    assert [m["value"] for m in rows[1]["metrics"]] == [0.758]
    md = (tmp_path / "zoo.md").read_text()
    assert "## HRNetV1 pose" in md and "| `hrnet_w32` | 384×288 | 28.54M | 16.02 | – | AP 0.758" in md
    png = tmp_path / "assets" / "gflops_vs_ap.png"
    svg = (tmp_path / "assets" / "gflops_vs_ap.svg").read_text()
    assert png.read_bytes()[:4] == b"\x89PNG" and "<svg" in svg
    # --reuse keeps numbers already measured instead of counting again
    (tmp_path / "assets" / "zoo.json").write_text(json.dumps([{**rows[0], "paper_gflops": 1.0}, rows[1]]))
    make_docs_tables.main(["--out", str(tmp_path), "--pattern", "hrnet_w32", "--no-fvcore", "--reuse"])
    assert json.loads((tmp_path / "assets" / "zoo.json").read_text())[0]["paper_gflops"] == 1.0


def test_families_page_is_generated_from_the_registry():
    text = (DOCS / "families.md").read_text()
    assert text == make_docs_tables.render_families(), "run `python scripts/make_docs_tables.py --families-only`"
    assert "| `StackedHourglass` | `hourglass` | 256×192 | no | princeton-vl/pytorch_stacked_hourglass PoseNet |" in text


def test_zoo_sections_come_from_the_families():
    assert list(make_docs_tables.sections().values()) == [
        "HRNetV1 pose", "SimpleBaseline", "SimpleBaseline + multi-scale deconvolution head", "Stacked Hourglass",
        "HRNet classification (ImageNet)", "HRNetV2 (all resolutions concatenated)",
        "HRNetV2p (feature pyramid for detection)"]
