"""Every python block of README.md runs as written, each in a fresh interpreter with no network:
imports included, no names carried over from another block. A block that needs the Hub may stop, but
only with one of the package's own errors (an ``HRNetZooError``), never with anything else."""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hrnet_zoo

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
ERROR_LINE = re.compile(r"^(hrnet_zoo(?:\.\w+)*)\.(\w+): \S")


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 6


def _package_error(stderr: str) -> type | None:
    """The exception class of a traceback's last line, when it is one of hrnet_zoo's."""
    lines = stderr.strip().splitlines()
    match = ERROR_LINE.match(lines[-1]) if lines else None
    if not match:
        return None
    error = getattr(importlib.import_module(match.group(1)), match.group(2), None)
    return error if isinstance(error, type) and issubclass(error, hrnet_zoo.HRNetZooError) else None


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_as_written(index, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "HRNET_ZOO_CACHE": str(tmp_path / "cache"), "PYTHONWARNINGS": "ignore"}
    block = BLOCKS[index]
    proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode == 0:
        return
    needs_hub = "pretrained=" in block or "push_to_hub" in block
    assert needs_hub and _package_error(proc.stderr), f"block {index} failed:\n{block}\n{proc.stderr[-3000:]}"
