"""The examples of ``docs/migration.md`` run as written (each is a whole script using ``edge_agent.dro``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).parents[2] / "docs" / "migration.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_page_has_its_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_an_example_runs_unchanged(code: str) -> None:
    assert "from edge_agent.dro import" in code
    assert "distributed_resource_optimization" not in code
    exec(compile(code, str(PAGE), "exec"), {"__name__": "__main__"})  # our own documentation
