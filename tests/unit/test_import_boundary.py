"""The core is a pure library: no framework, ORM, driver, broker, crypto, or outer layer."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import barbershop_core

CORE = Path(barbershop_core.__file__).parent
FORBIDDEN = frozenset(
    {
        "sqlalchemy",
        "alembic",
        "litestar",
        "uvicorn",
        "taskiq",
        "taskiq_redis",
        "redis",
        "psycopg",
        "psycopg2",
        "httpx",
        "aiohttp",
        "aiosqlite",
        "argon2",
        "cryptography",
        "jinja2",
        "barbershop_adapters",
        "barbershop_entrypoints",
    }
)
ALLOWED_THIRD_PARTY = frozenset({"attrs", "phonenumbers", "barbershop_core"})

_LOAD_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import barbershop_core
names = [m.name for m in pkgutil.walk_packages(barbershop_core.__path__, "barbershop_core.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def _core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_importing_every_core_module_in_a_clean_interpreter_loads_no_outer_dependency() -> None:
    completed = subprocess.run(  # noqa: S603 -- our own interpreter, a fixed script
        [sys.executable, "-I", "-c", _LOAD_EVERY_MODULE], capture_output=True, text=True, check=True, timeout=60
    )
    report = json.loads(completed.stdout)

    expected = {
        "barbershop_core." + ".".join(path.relative_to(CORE).with_suffix("").parts)
        for path in _core_modules()
        if path.name != "__init__.py"
    }
    assert expected <= set(report["imported"])
    loaded_top_level = {name.split(".")[0] for name in report["loaded"]}
    assert loaded_top_level & FORBIDDEN == set()


def test_the_core_source_imports_only_the_standard_library_attrs_and_phonenumbers() -> None:
    modules = _core_modules()
    assert len(modules) >= 15

    offenders = {
        str(path.relative_to(CORE)): sorted(third_party)
        for path in modules
        if (third_party := _imported_top_level_names(path) - set(sys.stdlib_module_names) - ALLOWED_THIRD_PARTY)
    }

    assert offenders == {}


def test_the_static_scan_would_notice_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "leaky.py"
    module.write_text(
        "import os\nfrom sqlalchemy.orm import Session\nimport barbershop_adapters.argon2_hasher\nfrom . import x\n"
    )

    assert _imported_top_level_names(module) == {"os", "sqlalchemy", "barbershop_adapters"}
