"""README's Python examples, found by the heading they stand under."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_example(heading: str) -> str:
    """The first ```python block after ``heading`` (a whole line of README.md)."""
    text = README.read_text(encoding="utf-8")
    assert f"\n{heading}\n" in text, f"README lost its section {heading!r}"
    match = re.search(r"```python\n(.*?)```", text.split(f"\n{heading}\n", 1)[1], re.DOTALL)
    assert match, f"README lost the example under {heading!r}"
    return match.group(1)
