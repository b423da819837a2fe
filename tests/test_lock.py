"""The lock (requirements/*.txt) is what a fresh machine installs: it must agree with pyproject.toml's
ranges, pin every package with hashes, and be what this environment actually runs."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^(?P<requirement>[A-Za-z0-9][^\\#]*?)\s*\\?$")


def locked(name: str) -> list[tuple[Requirement, list[str]]]:
    """Each pin of requirements/<name>.txt with its hashes, in file order."""
    pins: list[tuple[Requirement, list[str]]] = []
    for line in (REPO / "requirements" / f"{name}.txt").read_text().splitlines():
        if found := PIN.match(line):
            pins.append((Requirement(found["requirement"]), []))
        elif line.strip().startswith("--hash=sha256:"):
            pins[-1][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
    return pins


def applicable(name: str) -> dict[str, str]:
    """Package → version the lock installs on this interpreter and platform."""
    out: dict[str, str] = {}
    for requirement, _ in locked(name):
        if requirement.marker is None or requirement.marker.evaluate():
            (spec,) = requirement.specifier
            out[canonicalize_name(requirement.name)] = spec.version
    return out


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = [*project["build-system"]["requires"], *project["project"]["dependencies"]]
    for extra in project["project"]["optional-dependencies"].values():
        listed += extra
    return [Requirement(text) for text in listed]


@pytest.mark.parametrize("name", ["run", "test"])
def test_every_pin_is_exact_and_hashed(name: str) -> None:
    pins = locked(name)
    assert len(pins) > 20
    for requirement, hashes in pins:
        assert [spec.operator for spec in requirement.specifier] == ["=="], requirement
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), requirement


def test_the_lock_satisfies_pyproject_ranges() -> None:
    """A range changed in pyproject.toml without `make lock` fails here, not on a user's machine."""
    pins = applicable("test")
    for requirement in project_requirements():
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not locked: run `make lock`"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement.name}=={version} is outside {requirement}: run `make lock`")


def test_run_and_test_locks_agree() -> None:
    run, test = applicable("run"), applicable("test")
    assert {name: test.get(name) for name in run} == run


def test_this_environment_runs_exactly_the_locked_versions() -> None:
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    expected = applicable("test")
    assert {name: installed.get(name) for name in expected} == expected, "run `make test` to reinstall"


def test_the_image_installs_no_pyyaml() -> None:
    # The Lambda image installs the run lock; ua-parser imports PyYAML whenever it is installed, which
    # the ingest function's first event would pay for (bench/coldstart.py). uvicorn[standard] brings it.
    assert "pyyaml" not in applicable("run")
