"""``BARBERSHOP_*`` is read in one place: the settings module. No other module of the product
reads the environment for configuration, and none receives the raw environment."""

from __future__ import annotations

import ast
from pathlib import Path

import attrs

import barbershop_adapters
import barbershop_core
import barbershop_entrypoints
from barbershop_entrypoints import settings as settings_module
from barbershop_entrypoints.metrics import MULTIPROC_DIR_VARIABLE
from barbershop_entrypoints.settings import Settings

SETTINGS_MODULE = Path(settings_module.__file__)
PACKAGES = (barbershop_core, barbershop_adapters, barbershop_entrypoints)

ALLOWED_KEYS = frozenset({"PROMETHEUS_MULTIPROC_DIR", "MULTIPROC_DIR_VARIABLE"})
"""prometheus_client's own switch of its multi-process mode, which ``serve --workers N`` sets for
the processes it spawns: not a setting of the product."""
ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb"})


def _key(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST | None:
    """The key read from ``os.environ`` / ``os.getenv`` at ``node``; None: the whole environment."""
    parent = parents.get(node)
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return parent.slice
    if isinstance(parent, ast.Call) and parent.func is node and parent.args:
        return parent.args[0]  # os.getenv(key)
    if isinstance(parent, ast.Attribute) and parent.attr in {"get", "pop", "setdefault"}:
        call = parents.get(parent)
        if isinstance(call, ast.Call) and call.args:
            return call.args[0]
    return None


def _key_text(key: ast.AST | None) -> str | None:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    if isinstance(key, ast.Name):
        return key.id
    return None


def _names_a_variable(node: ast.AST, constants: frozenset[str]) -> bool:
    """A ``BARBERSHOP_…`` string, an f-string starting so, or a constant holding one."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value.startswith("BARBERSHOP_")
    if isinstance(node, ast.JoinedStr) and node.values:
        return _names_a_variable(node.values[0], constants)
    return isinstance(node, ast.Name) and node.id in constants


def variable_constants(source: str) -> frozenset[str]:
    """Module-level names bound to a ``BARBERSHOP_…`` string (``TOKEN_VARIABLE = "BARBERSHOP_…"``)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if _names_a_variable(value, frozenset()):
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return frozenset(names)


def environment_reads(source: str, filename: str = "<module>", constants: frozenset[str] = frozenset()) -> list[str]:
    """Each place that reads the environment for configuration, as ``file:line: what``."""
    tree = ast.parse(source, filename=filename)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [
                f"{filename}:{node.lineno}: from os import {alias.name}"
                for alias in node.names
                if alias.name in ENVIRONMENT_NAMES
            ]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            key = _key_text(_key(node, parents))
            if key not in ALLOWED_KEYS:
                found.append(f"{filename}:{node.lineno}: os.{node.attr} [{key or 'the whole environment'}]")
        elif isinstance(node, ast.Call) and node.args and _names_a_variable(node.args[0], constants):
            # ``something.get("BARBERSHOP_…")``: a mapping of variables read outside the settings
            if isinstance(node.func, ast.Attribute) and node.func.attr in {"get", "getenv", "pop"}:
                found.append(f"{filename}:{node.lineno}: .{node.func.attr}(BARBERSHOP_…)")
        elif isinstance(node, ast.Subscript) and _names_a_variable(node.slice, constants):
            found.append(f"{filename}:{node.lineno}: [BARBERSHOP_…]")
    return found


def _product_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in Path(next(iter(package.__path__))).rglob("*.py")
        if path != SETTINGS_MODULE
    )


def test_no_module_but_the_settings_reads_the_environment_for_configuration() -> None:
    modules = {path: path.read_text(encoding="utf-8") for path in _product_modules()}
    constants = frozenset().union(*(variable_constants(source) for source in modules.values()))
    reads = [read for path, source in modules.items() for read in environment_reads(source, str(path), constants)]

    assert len(modules) > 50  # the whole product was searched
    assert reads == []


def test_the_only_other_variable_read_is_prometheus_clients_own() -> None:
    assert MULTIPROC_DIR_VARIABLE == "PROMETHEUS_MULTIPROC_DIR"


def test_the_search_finds_each_way_of_reading_a_variable() -> None:
    source = (
        "import os\n"
        "from os import getenv\n"
        "a = os.environ.get('BARBERSHOP_DB_ECHO')\n"
        "b = os.environ['BARBERSHOP_DB_ECHO']\n"
        "c = os.getenv('BARBERSHOP_DB_ECHO')\n"
        "d = Settings(environ=os.environ)\n"
        "e = settings.environ.get(f'BARBERSHOP_{name}')\n"
        "f = os.environ.get(MULTIPROC_DIR_VARIABLE)\n"
        "TOKEN_VARIABLE = 'BARBERSHOP_METRICS_TOKEN'\n"
        "g = environ.get(TOKEN_VARIABLE, '')\n"
    )
    constants = variable_constants(source)

    assert constants == {"TOKEN_VARIABLE"}
    lines = {int(read.split(":")[1]) for read in environment_reads(source, constants=constants)}
    assert sorted(lines) == [2, 3, 4, 5, 6, 7, 10]


def test_the_settings_hold_no_raw_environment() -> None:
    assert "environ" not in attrs.fields_dict(Settings)
