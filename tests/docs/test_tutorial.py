"""The getting-started tutorial's code blocks run, in order, as one script."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

TUTORIAL = REPO / "docs" / "getting-started.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_tutorial_runs(capsys) -> None:
    blocks = python_blocks(TUTORIAL)
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "tutorial"}
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"{TUTORIAL.name}#block{number}", "exec"), namespace)
        except Exception as exc:  # name the failing block
            raise AssertionError(f"tutorial block {number} failed: {exc!r}\n{block}") from exc
    output = capsys.readouterr().out
    assert "test AUC" in output and "quality multiplier" in output
    comparison = namespace["comparison"]
    assert set(comparison.mean) == {"local", "fedavg", "quality_weighted", "centralised"}
    assert (Path(namespace["workdir"]) / "rounds.jsonl").is_file()
