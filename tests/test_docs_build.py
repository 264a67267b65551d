"""The documentation site builds with ``mkdocs build --strict`` (broken links, nav or API refs fail)."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "zoo" / "index.html").is_file()


def test_docstrings_use_markdown_cross_references_not_sphinx_roles():
    role = re.compile(r":(func|class|mod|data|meth|attr):`")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in (ROOT / "hrnet_zoo").rglob("*.py")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if role.search(line)]
    assert not found, f"Sphinx roles render as raw text in the API reference: {found}"


def test_api_reference_covers_the_public_api():
    import hrnet_zoo

    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: (\S+)", api, re.M))
    missing = []
    for name in hrnet_zoo.__all__:
        obj = getattr(hrnet_zoo, name)
        if name in hrnet_zoo._model_entrypoints:  # the registered factories: docs/zoo.md lists every one
            continue
        path = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', name)}"
        if path not in documented and f"`{name}`" not in api:
            missing.append(name)
    assert not missing, f"docs/api.md does not cover {missing}"
