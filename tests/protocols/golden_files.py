"""Reading and checking golden files (shared by the door tests). With `update` the file is rewritten from the
actual value first: review the diff before keeping it."""

import json
from pathlib import Path
from typing import Any


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def check_json(path: Path, actual: Any, *, update: bool) -> None:
    if update:
        path.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert load(path) == actual


def check_bytes(path: Path, actual: bytes, *, update: bool) -> None:
    if update:
        path.write_bytes(actual)
    assert path.read_bytes() == actual  # byte-exact: raw UTF-8, no \u escapes
