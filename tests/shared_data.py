"""Where the shared, read-only data lives: $CANONRY_SHARED_DIR, else the repo's sibling
`../shared` (the layout on developer machines and in CI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def shared_dir() -> Path:
    configured = os.environ.get("CANONRY_SHARED_DIR")
    path = Path(configured) if configured else Path(__file__).resolve().parents[1].parent / "shared"
    if not (path / "seeds").is_dir():
        pytest.exit(f"shared data not found at {path}; set CANONRY_SHARED_DIR", returncode=3)
    return path


def seeds() -> list[tuple[Path, dict]]:
    """The five seed pages with their hand-labelled title and body, in file order."""
    directory = shared_dir() / "seeds"
    labels = [json.loads(line) for line in (directory / "expected.jsonl").read_text().splitlines()
              if line.strip()]
    return [(directory / label["file"], label) for label in labels]
