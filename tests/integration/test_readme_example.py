"""README's library example is real code: it runs here, so it cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _library_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Using the core as a library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README lost its library example"
    return match.group(1)


def test_readme_library_example_runs() -> None:
    exec(compile(_library_example(), str(README), "exec"), {"__name__": "readme_example"})  # noqa: S102 -- running our own README is the point
