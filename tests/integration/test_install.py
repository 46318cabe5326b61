"""Installs as people make them: a library user's core alone, and the lock the server installs from."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.integration.pipeline.support import unreachable
from tests.integration.readme import python_example

ROOT = Path(__file__).resolve().parents[2]
OWN_PORTS_EXAMPLE = "### With ports of your own (the core alone)"
SERVER_ONLY = ("litestar", "sqlalchemy", "psycopg", "alembic", "taskiq", "redis", "uvicorn", "jinja2", "httpx")
CORE = {"barbershop-core", "attrs", "cattrs", "phonenumbers"}


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    """The pip of the test run, with pip's own configuration (index, cache) as it is."""
    return subprocess.run(  # noqa: S603 -- our own interpreter with fixed arguments
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def core_alone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv holding `pip install <project>` without the extra; its python."""
    probe = _pip("index", "versions", "hatchling", "--retries", "0", "--timeout", "20")
    if probe.returncode != 0:
        unreachable(f"the package index does not answer: {probe.stderr.strip()[-300:]}")
    venv = tmp_path_factory.mktemp("core-alone") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # noqa: S603 -- fixed arguments
    python = venv / "bin" / "python"
    installed = _pip("--python", str(python), "install", "-q", str(ROOT))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 -- the test venv's interpreter with fixed arguments
        [str(python), *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


@pytest.mark.package_index
def test_core_install_brings_the_core_dependencies_and_none_of_the_server(core_alone: Path) -> None:
    listed = _pip("--python", str(core_alone), "list", "--format=freeze")
    names = {canonicalize_name(line.split("==")[0]) for line in listed.stdout.splitlines() if "==" in line}
    assert names >= CORE
    assert not names & set(SERVER_ONLY), f"the core install brought server packages: {sorted(names & set(SERVER_ONLY))}"


@pytest.mark.package_index
def test_wheel_holds_the_packages_under_their_own_names_only(core_alone: Path, tmp_path: Path) -> None:
    found = "import importlib.util as u; print([bool(u.find_spec(n)) for n in {names}])"
    names = ["barbershop_core", "barbershop_adapters", "barbershop_entrypoints", "adapters", "entrypoints"]
    done = _run(core_alone, "-c", found.format(names=names), cwd=tmp_path)
    assert done.stdout.split() == ["[True,", "True,", "True,", "False,", "False]"], done.stderr


@pytest.mark.package_index
def test_readme_own_ports_example_runs_on_the_core_install_alone(core_alone: Path, tmp_path: Path) -> None:
    (tmp_path / "example.py").write_text(python_example(OWN_PORTS_EXAMPLE), encoding="utf-8")
    # Outside the project folder, so only the installed package can be imported.
    done = _run(core_alone, "-c", "import barbershop_core, runpy; runpy.run_path('example.py')", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for module in SERVER_ONLY:
        absent = _run(core_alone, "-c", f"import {module}", cwd=tmp_path)
        assert absent.returncode != 0, f"{module} imports from the core install"


@pytest.mark.package_index
def test_console_script_without_the_server_says_how_to_install_it(core_alone: Path, tmp_path: Path) -> None:
    ran = subprocess.run(  # noqa: S603 -- the console script of the test venv
        [str(core_alone.parent / "barbershop"), "serve"], capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    assert "pip install 'barbershop-core[server]'" in ran.stderr
    assert "litestar" in ran.stderr


def _declared() -> Iterator[Requirement]:
    """Every requirement pyproject.toml declares for the core, the server extra and the dev group."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    groups = project["dependency-groups"]

    def group(name: str) -> Iterator[str]:
        for item in groups[name]:
            yield from group(item["include-group"]) if isinstance(item, dict) else [item]

    declared = [*project["project"]["dependencies"], *project["project"]["optional-dependencies"]["server"]]
    yield from (Requirement(line) for line in [*declared, *group("dev")])


def _pins(lock: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / lock).read_text(encoding="utf-8").splitlines()
    pins = [line.split(" ")[0].split("==") for line in lines if line and line[0].isalnum()]
    return {canonicalize_name(name): version for name, version in pins}


def test_lock_pins_every_declared_dependency_within_its_range() -> None:
    server, dev = _pins("server.txt"), _pins("dev.txt")
    stale = [
        str(requirement)
        for requirement in _declared()
        if (requirement.marker is None or requirement.marker.evaluate({"extra": ""}))
        and not requirement.specifier.contains(dev.get(canonicalize_name(requirement.name), "0.dev0"), prereleases=True)
    ]
    assert not stale, f"requirements/ misses or pins outside its range: {stale}; run `bash scripts/lock`"
    assert {name: dev[name] for name in server} == server, "dev.txt moved a pin of server.txt; run `bash scripts/lock`"
