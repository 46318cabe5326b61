"""Outside the core, only its public surface is used: no private module, no private name."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import barbershop_core
import barbershop_core.use_cases

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (ROOT / "src" / "adapters", ROOT / "src" / "entrypoints", ROOT / "tests", ROOT / "bench")


def _is_private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def _private_core_references(source: str, filename: str = "<scan>") -> list[str]:
    """Every import of a private ``barbershop_core`` module or name, and every dotted use of one."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found += [
                alias.name
                for alias in node.names
                if alias.name.split(".")[0] == "barbershop_core" and _is_private(alias.name)
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "barbershop_core":
                continue
            if _is_private(node.module):
                found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            dotted = _dotted(node.value)
            if dotted is not None and dotted.split(".")[0] == "barbershop_core":
                found.append(f"{dotted}.{node.attr}")
    return found


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner is not None else None
    return None


def test_nothing_outside_the_core_imports_a_private_module_or_name_of_it() -> None:
    files = [path for folder in SCANNED for path in sorted(folder.rglob("*.py"))]
    assert len(files) > 100

    offenders = {
        str(path.relative_to(ROOT)): refs
        for path in files
        if (refs := _private_core_references(path.read_text(encoding="utf-8"), str(path)))
    }

    assert offenders == {}


def test_the_scan_would_notice_every_way_of_reaching_a_private_part() -> None:
    source = (
        "import barbershop_core.use_cases._shared\n"
        "from barbershop_core.use_cases._shared import Context\n"
        "from barbershop_core.use_cases.notifications import _claim\n"
        "import barbershop_core.use_cases\n"
        "barbershop_core.use_cases._shared.log\n"
        "from barbershop_core import Context, register_client\n"
        "from other_package._private import _thing\n"
        "from . import _relative\n"
    )

    assert _private_core_references(source) == [
        "barbershop_core.use_cases._shared",
        "barbershop_core.use_cases._shared",
        "barbershop_core.use_cases.notifications._claim",
        "barbershop_core.use_cases._shared",
    ]


def test_the_public_surface_names_only_what_it_can_import() -> None:
    exported = barbershop_core.__all__

    assert sorted(exported) == sorted(set(exported))
    assert not [name for name in exported if name.startswith("_") or not hasattr(barbershop_core, name)]


def test_every_use_case_on_the_surface_takes_a_command_and_its_deps() -> None:
    odd = {}
    for name in barbershop_core.__all__:
        found = getattr(barbershop_core, name)
        if not inspect.iscoroutinefunction(found):
            continue
        parameters = list(inspect.signature(found).parameters.values())
        shaped = (
            len(parameters) == 2
            and parameters[1].name == "deps"
            and all(parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for parameter in parameters)
        )
        if not shaped:
            odd[name] = str(inspect.signature(found))

    assert odd == {}


def test_every_deps_bundle_of_a_use_case_module_is_on_the_surface() -> None:
    bundles = {
        name
        for module_info in pkgutil.iter_modules(barbershop_core.use_cases.__path__)
        if not module_info.name.startswith("_")
        for name, value in vars(importlib.import_module(f"barbershop_core.use_cases.{module_info.name}")).items()
        if name.endswith("Deps") and isinstance(value, type)
    }

    assert len(bundles) > 10
    assert bundles - set(barbershop_core.__all__) == set()
