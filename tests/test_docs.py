"""The reference documentation and the code name the same settings, checks and options.

Each test compares a set read from the code with a set read from docs/reference/, both
ways, so that a setting, a system check id or a command option added (or removed) in one
place and not the other fails here with its name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import load_command_class
from django.core.management.base import BaseCommand

import django_brockman
from django_brockman import conf as conf_module
from django_brockman import receiver

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = Path(django_brockman.__file__).resolve().parent
COMMANDS = sorted(
    path.stem for path in (PACKAGE / "management" / "commands").glob("brockman_*.py")
)
CHECK_ID = re.compile(r"\bbrockman\.[CEWI]\d{3}\b")


def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def code_settings() -> set[str]:
    """Every BROCKMAN_* setting conf.py reads: its Settings properties, and any name spelled
    out in the module (a setting read some other way)."""
    properties = {
        f"BROCKMAN_{name}"
        for name, value in vars(conf_module.Settings).items()
        if isinstance(value, property)
    }
    spelled = set(re.findall(r"\bBROCKMAN_[A-Z0-9_]+\b", Path(conf_module.__file__).read_text()))
    return properties | spelled


def documented_settings() -> set[str]:
    return set(re.findall(r"^\.\. setting:: (\S+)$", read("reference/settings.rst"), re.M))


def code_check_ids() -> set[str]:
    """Every check id written in the package's source (checks.py and any other module)."""
    return {
        found
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
        for found in CHECK_ID.findall(path.read_text(encoding="utf-8"))
    }


def documented_check_ids() -> set[str]:
    return set(re.findall(r"^\.\. check:: (\S+)$", read("reference/checks.rst"), re.M))


def documented_options(page: str) -> dict[str, set[str]]:
    """``.. program::`` name -> the long option of each ``.. option::`` under it."""
    programs: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in read(page).splitlines():
        if match := re.fullmatch(r"\.\. program:: (.+)", line):
            current = programs.setdefault(match[1].strip(), set())
        elif (match := re.fullmatch(r"\.\. option:: (--[\w-]+).*", line)) and current is not None:
            current.add(match[1])
    return programs


def parser_options(parser: object) -> set[str]:
    return {
        option
        for action in parser._actions  # type: ignore[attr-defined]
        for option in action.option_strings
        if option.startswith("--")
    }


DJANGO_OPTIONS = parser_options(BaseCommand().create_parser("manage.py", "base"))


def test_the_settings_reference_names_every_setting_and_only_those() -> None:
    code, docs = code_settings(), documented_settings()

    assert code, "no BROCKMAN_* setting found in conf.py"
    assert sorted(code - docs) == [], "settings missing from docs/reference/settings.rst"
    assert sorted(docs - code) == [], "documented settings that conf.py does not read"


def test_the_checks_reference_names_every_check_id_and_only_those() -> None:
    code, docs = code_check_ids(), documented_check_ids()

    assert code, "no brockman.E/W ids found in django_brockman/"
    assert sorted(code - docs) == [], "check ids missing from docs/reference/checks.rst"
    assert sorted(docs - code) == [], "documented check ids that no code emits"


def test_troubleshooting_has_an_entry_for_every_check() -> None:
    page = read("troubleshooting.rst")
    missing = sorted(check for check in code_check_ids() if f":check:`{check}`" not in page)

    assert missing == [], "check ids without an entry in docs/troubleshooting.rst"


@pytest.mark.parametrize("name", COMMANDS)
def test_the_commands_reference_lists_every_option_of(name: str) -> None:
    command = load_command_class("django_brockman", name)
    code = parser_options(command.create_parser("manage.py", name)) - DJANGO_OPTIONS
    docs = documented_options("reference/commands.rst").get(name)

    assert docs is not None, f"docs/reference/commands.rst has no '.. program:: {name}'"
    assert sorted(code - docs) == [], f"{name} options missing from the reference"
    assert sorted(docs - code) == [], f"documented {name} options the command does not have"


def test_the_commands_reference_lists_every_option_of_the_receiver() -> None:
    code = parser_options(receiver._parser()) - {"--help"}
    docs = documented_options("reference/commands.rst")["python -m django_brockman.receiver"]

    assert sorted(code ^ docs) == []


def test_every_command_is_in_the_reference() -> None:
    programs = set(documented_options("reference/commands.rst"))

    assert sorted(set(COMMANDS) - programs) == []
