#!/usr/bin/env python3
"""Packaging gate: build, check and install the distributions, then run the example on them.

Needs ``build``, ``twine`` and ``trove-classifiers`` importable by the Python that runs it
(``nox -s package`` installs them). Exits non-zero, naming what is wrong, on the first failure.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from collections.abc import Iterable
from pathlib import Path

import trove_classifiers

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "django_brockman"
# What MANIFEST.in promises beyond the package itself, and what it keeps out.
SDIST_EXTRAS = {"README.rst", "CHANGELOG.rst", "LICENSE", "setup.cfg", "pyproject.toml"}
SDIST_PRUNED = ("tests/", "example_project/", "benchmarks/", ".ci/")
REQUIRED = {f"{PACKAGE}/py.typed"}


def run(
    *args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None, quiet: bool = False
) -> str:
    """Run a command and return its output; *quiet* shows the output only if it fails."""
    command = [str(arg) for arg in args]
    print("+", " ".join(command), flush=True)
    completed = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if not quiet or completed.returncode:
        sys.stdout.write(completed.stdout)
        sys.stderr.write(completed.stderr)
    if completed.returncode:
        fail(f"{command[0]} ... exited {completed.returncode}")
    return completed.stdout


def fail(message: str) -> None:
    raise SystemExit(f"package check: {message}")


def package_files() -> set[str]:
    """Every file of the package in the source tree: each must ship in both distributions."""
    if (ROOT / ".git").exists():
        listed = run("git", "ls-files", "-z", "--", PACKAGE, quiet=True).split("\0")
        files = {name for name in listed if name and (ROOT / name).is_file()}
    else:
        files = {str(path.relative_to(ROOT)) for path in (ROOT / PACKAGE).rglob("*")}
    return {name for name in files if "__pycache__" not in name and not name.endswith(".pyc")}


def expect(where: str, names: Iterable[str], required: set[str], pruned: tuple[str, ...]) -> None:
    names = set(names)
    missing = sorted(required - names)
    if missing:
        fail(f"{where} lacks {', '.join(missing)}")
    unwanted = sorted(name for name in names if name.startswith(pruned) or "__pycache__" in name)
    if unwanted:
        fail(f"{where} holds {', '.join(unwanted)}")
    print(f"{where}: {len(names)} files, all {len(required)} expected ones present")


def check_sdist(sdist: Path, files: set[str]) -> None:
    with tarfile.open(sdist) as archive:
        # Every member sits under "<name>-<version>/".
        names = [member.name.partition("/")[2] for member in archive.getmembers()]
    expect(sdist.name, names, files | SDIST_EXTRAS | REQUIRED, SDIST_PRUNED)


def check_wheel(wheel: Path, files: set[str]) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
        headers = email.message_from_bytes(archive.read(metadata))
    expect(wheel.name, names, files | REQUIRED, ("tests/", "example_project/", "benchmarks/"))
    # PyPI refuses an upload with a classifier it does not know.
    unknown = sorted(set(headers.get_all("Classifier", [])) - trove_classifiers.classifiers)
    if unknown:
        fail(f"unknown classifiers: {', '.join(unknown)}")


def build(work: Path) -> tuple[Path, Path]:
    dist = work / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT, quiet=True)
    [sdist], [wheel] = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)
    return sdist, wheel


def install(work: Path, wheel: Path) -> Path:
    """A fresh virtual environment holding the wheel and its dependencies, nothing else."""
    venv.create(work / "venv", with_pip=True, clear=True)
    python = work / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel)
    run(python, "-m", "pip", "check")
    return python


def check_example(work: Path, python: Path) -> None:
    """Run the example project, copied out of the tree, against the installed package."""
    site = work / "example_project"
    shutil.copytree(
        ROOT / "example_project",
        site,
        ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"),
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE"} and not key.startswith("BROCKMAN_")
    }
    env["EXAMPLE_DATABASE"] = str(work / "example.sqlite3")
    where = run(
        python,
        "-c",
        "import sysconfig, django_brockman; "
        "print(django_brockman.__file__); print(sysconfig.get_path('purelib'))",
        cwd=site,
        env=env,
    ).split()
    if not Path(where[0]).is_relative_to(where[1]):
        fail(f"django_brockman was imported from {where[0]}, not from {where[1]}")
    manage = site / "manage.py"
    run(python, manage, "check", "--fail-level", "WARNING", cwd=site, env=env)
    run(python, manage, "migrate", "--no-input", cwd=site, env=env, quiet=True)
    # A model change that lacks a migration fails here, before any user meets it. The label
    # makes a package whose migrations were all dropped count as changed, not unmigrated.
    run(python, manage, "makemigrations", "--check", "--dry-run", PACKAGE, cwd=site, env=env)
    # Record over HTTP and flush to the stand-in receiver, all from the installed package.
    run(python, site / "demo.py", cwd=site, env=env)


def main() -> None:
    files = package_files()
    with tempfile.TemporaryDirectory(prefix="brockman-package-") as tmp:
        work = Path(tmp)
        sdist, wheel = build(work)
        check_sdist(sdist, files)
        check_wheel(wheel, files)
        python = install(work, wheel)
        check_example(work, python)
    print("package check: all good")


if __name__ == "__main__":
    main()
