"""Quality gates and the Python x Django test matrix: ``nox -l`` lists them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
# Exact versions of the tools the gates run, so every run checks the same way.
TOOLS = str(ROOT / ".ci" / "tools.txt")

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DJANGOS = ["5.2", "6.0", "6.1"]
# Django 6.0 and later need Python 3.12 or newer.
MATRIX = [
    (python, django)
    for python in PYTHONS
    for django in DJANGOS
    if django == "5.2" or python not in ("3.10", "3.11")
]
# The pair of the README's test command (the default python3 here) runs the
# database-specific suites and measures coverage.
DEFAULT_PYTHON, DEFAULT_DJANGO = "3.11", "5.2"
# mypy runs on the newest pair, the one the django-stubs release describes.
TYPES_PYTHON, TYPES_DJANGO = "3.13", "6.1"

nox.options.sessions = ["lint", "mypy", "coverage", "package", "docs", "tests"]
nox.options.error_on_missing_interpreters = True
# Interpreters come from this machine (pyenv), never from a download.
nox.options.download_python = "never"


def django_requirement(django: str) -> str:
    return f"Django~={django}.0"


def pyenv_root() -> Path | None:
    if root := os.environ.get("PYENV_ROOT"):
        return Path(root)
    if pyenv := shutil.which("pyenv"):
        completed = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        return Path(completed.stdout.strip()) if completed.returncode == 0 else None
    return None


def newest_patch(versions: Path, minor: str) -> str | None:
    """The newest CPython X.Y.Z that pyenv holds for *minor* (X.Y)."""
    pattern = re.compile(rf"{re.escape(minor)}\.(\d+)")
    found = [
        (int(match[1]), path.name)
        for path in versions.iterdir()
        if (match := pattern.fullmatch(path.name)) and (path / "bin" / f"python{minor}").exists()
    ]
    return max(found)[1] if found else None


def activate_pyenv_interpreters() -> None:
    """Make pyenv's shims answer ``python3.10`` ... ``python3.13``.

    A shim runs only the versions pyenv calls active, so every matrix interpreter pyenv has
    is appended to PYENV_VERSION (after whatever was active already); nox's interpreter
    discovery resolves the shims through it. Without pyenv, interpreters on PATH are used.
    """
    root = pyenv_root()
    if root is None or not (root / "versions").is_dir():
        return
    active = os.environ.get("PYENV_VERSION", "")
    if not active and (pyenv := shutil.which("pyenv")):
        completed = subprocess.run(
            [pyenv, "version-name"], capture_output=True, text=True, check=False
        )
        active = completed.stdout.strip() if completed.returncode == 0 else ""
    versions = [version for version in active.split(":") if version]
    for minor in PYTHONS:
        patch = newest_patch(root / "versions", minor)
        if patch and patch not in versions:
            versions.append(patch)
    os.environ["PYENV_ROOT"] = str(root)
    os.environ["PYENV_VERSION"] = ":".join(versions)


activate_pyenv_interpreters()


def pins(text: str) -> list[tuple[str, str]]:
    """Every ``name==version`` in *text*, names lowercased."""
    return [(name.lower(), version) for name, version in re.findall(r"([\w.-]+)==([\w.]+)", text)]


def check_pre_commit_pins(session: nox.Session) -> None:
    """pre-commit must run the tools at the versions CI runs them."""
    tools = dict(pins(Path(TOOLS).read_text()))
    hooks = pins((ROOT / ".pre-commit-config.yaml").read_text())
    drifted = sorted(
        {f"{name}=={version}" for name, version in hooks if tools.get(name) != version}
    )
    if drifted:
        session.error(f".pre-commit-config.yaml pins {', '.join(drifted)}; not .ci/tools.txt's")


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    check_pre_commit_pins(session)
    session.install("ruff", "-c", TOOLS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=TYPES_PYTHON)
def mypy(session: nox.Session) -> None:
    """mypy --strict with django-stubs over django_brockman/."""
    session.install(
        "-e",
        ".",
        django_requirement(TYPES_DJANGO),
        "mypy",
        "django-stubs",
        "types-requests",
        "types-PyMySQL",
        # The pytest plugin's types come from pytest itself.
        "pytest",
        "-c",
        TOOLS,
    )
    session.run("mypy")


@nox.session(python=DEFAULT_PYTHON)
def coverage(session: nox.Session) -> None:
    """The suite on SQLite under coverage; fails below fail_under (pyproject.toml)."""
    session.install("-e", ".[test]", django_requirement(DEFAULT_DJANGO), "coverage", "-c", TOOLS)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")


@nox.session(python=DEFAULT_PYTHON)
def package(session: nox.Session) -> None:
    """Build, twine check, install the wheel in a fresh venv and run the example on it."""
    session.install("build", "twine", "trove-classifiers", "-c", TOOLS)
    session.run("python", ".ci/package_check.py")


@nox.session(python=DEFAULT_PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation with Sphinx, every warning an error (broken references
    included); the HTML site goes to test-artifacts/docs/."""
    session.install(
        "-e",
        ".",
        django_requirement(DEFAULT_DJANGO),
        "-r",
        str(ROOT / "docs" / "requirements.txt"),
    )
    output = ROOT / "test-artifacts" / "docs"
    shutil.rmtree(output, ignore_errors=True)
    session.run(
        "python", "-m", "sphinx", "-W", "--keep-going", "-n", "-E", "-b", "html",
        "-d", str(output.parent / "docs-doctrees"), str(ROOT / "docs"), str(output),
    )  # fmt: skip
    session.log(f"The documentation is in {output / 'index.html'}")


@nox.session
@nox.parametrize(
    ("python", "django"),
    [nox.param(python, django, id=f"{python}-django{django}") for python, django in MATRIX],
)
def tests(session: nox.Session, django: str) -> None:
    """The suite on SQLite for one supported Python and Django pair."""
    session.install("-e", ".[test]", django_requirement(django))
    session.run("python", "-m", "django", "--version")
    # Each Django release must find the models and their migrations in step.
    session.run(
        "python",
        "-m",
        "django",
        "makemigrations",
        "--check",
        "--dry-run",
        "django_brockman",
        "testapp",
        env={"DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    session.run("python", "-m", "pytest", *session.posargs)
