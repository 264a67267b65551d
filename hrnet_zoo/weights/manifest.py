"""``weights_manifest.json``: every pretrained weight set, its pinned source and checksum."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def load_manifest() -> dict:
    """The parsed manifest shipped inside the package (``{"weights": [...]}``)."""
    path = resources.files("hrnet_zoo").joinpath("weights_manifest.json")
    if not path.is_file():
        return {"weights": []}
    return json.loads(path.read_text())


def models_with_weights() -> list[str]:
    return sorted({entry["model"] for entry in load_manifest().get("weights", [])})
