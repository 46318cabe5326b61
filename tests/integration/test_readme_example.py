"""README's library example with the SQL adapters is real code: it runs here, so it cannot rot."""

from __future__ import annotations

from tests.integration.readme import README, python_example

SQL_ADAPTERS_EXAMPLE = "### With the SQL adapters (needs the server extra)"


def test_readme_library_example_runs() -> None:
    example = python_example(SQL_ADAPTERS_EXAMPLE)
    exec(compile(example, str(README), "exec"), {"__name__": "readme_example"})  # noqa: S102 -- running our own README is the point
