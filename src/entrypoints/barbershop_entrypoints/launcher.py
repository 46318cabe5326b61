"""The ``barbershop`` console script: the CLI, or a clear word when the server extra is missing.

``pip install barbershop-core`` installs the console script too, but not the server's
dependencies (Litestar, SQLAlchemy, Taskiq …: the ``server`` extra). Run there, the command
names the missing distributions and the install that brings them instead of a traceback.
Nothing beyond the standard library is imported until the CLI loads.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from importlib import metadata

DISTRIBUTION = "barbershop-core"
SERVER_EXTRA = "server"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SERVER_MARKER = re.compile(rf"""extra\s*==\s*["']{SERVER_EXTRA}["']""")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from barbershop_entrypoints import cli  # noqa: PLC0415 -- the server's dependencies load here, not before
    except ModuleNotFoundError:
        missing = missing_server_distributions()
        if not missing:
            raise  # the server is installed: a real fault, shown with its traceback
        print(server_missing_message(missing), file=sys.stderr)
        return 1
    return cli.main(argv)


def missing_server_distributions() -> list[str]:
    """The distributions of the ``server`` extra that are not installed, as the metadata names them."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    missing: list[str] = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        name = _NAME.match(spec.strip())
        if name is None or not _SERVER_MARKER.search(marker):
            continue
        try:
            metadata.distribution(name.group(0))
        except metadata.PackageNotFoundError:
            missing.append(name.group(0))
    return missing


def server_missing_message(missing: Sequence[str]) -> str:
    return (
        "barbershop: команде нужен сервер, а он не установлен "
        f"(нет пакетов: {', '.join(missing)}).\n"
        f"Установите его: pip install '{DISTRIBUTION}[{SERVER_EXTRA}]'"
        " (в папке проекта — по README: pip install -r requirements/server.txt && pip install --no-deps -e .)"
    )
