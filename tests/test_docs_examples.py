"""The documentation's examples run: the tutorial in a fresh ``startproject`` site, and
every Python block of docs/ in the test project.

A block is marked for this runner by an rst comment on the line before its directive:

``.. example: settings``
    A settings fragment: executed on top of empty ``INSTALLED_APPS`` and ``MIDDLEWARE``
    lists; every ``BROCKMAN_*`` name it sets must be a real setting.
``.. example: no-run (why)``
    Only compiled (a module of an app the docs do not have, a test of your own view).
``.. example: skip (why)``
    Tutorial only: commands the test environment has already done (install).
``.. example: background``
    Tutorial only: servers started in another terminal, left running for what follows.

Unmarked Python blocks are executed with the test database and the locmem backend; each
function they define whose first parameter is ``request`` is called as a view, through
``BrockmanMiddleware``, for an anonymous first-time visitor. The tutorial's console blocks
are run in order with this interpreter's ``python`` and ``django-admin``, its files are
written, and each command's printed output must appear in the real output, in order
(UUIDs, ages and the hours of the clock may differ).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import FunctionType
from typing import Any

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from django_brockman.middleware import BrockmanMiddleware
from tests.test_docs import code_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial.rst"

DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. code-block:: (?P<lang>\S+)\s*$")
MARKER = re.compile(r"^ *\.\. example: (?P<kind>[\w-]+)(?P<why>.*)$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str
    caption: str = ""
    marker: str = ""
    why: str = ""

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The ``.. code-block::`` directives of an rst file, with their content dedented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    for number, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        previous = next((text for text in reversed(lines[:number]) if text.strip()), "")
        marker = MARKER.match(previous)
        caption, body, cursor = "", [], number + 1
        while cursor < len(lines) and lines[cursor].strip().startswith(":"):
            option = lines[cursor].strip()
            if option.startswith(":caption:"):
                caption = option.removeprefix(":caption:").strip()
            cursor += 1
        for text in lines[cursor:]:
            if text.strip() and len(text) - len(text.lstrip()) <= indent:
                break
            body.append(text)
        found.append(
            Block(
                path,
                number + 1,
                match["lang"],
                textwrap.dedent("\n".join(body)).strip("\n") + "\n",
                caption,
                marker["kind"] if marker else "",
                marker["why"].strip() if marker else "",
            )
        )
    return found


PYTHON_BLOCKS = [
    block
    for path in sorted(DOCS.rglob("*.rst"))
    if path != TUTORIAL
    for block in blocks(path)
    if block.lang == "python"
]


def test_the_docs_have_python_examples_and_every_marker_is_known() -> None:
    every = [block for path in sorted(DOCS.rglob("*.rst")) for block in blocks(path)]

    assert len(PYTHON_BLOCKS) > 10
    unknown = [
        b.where for b in every if b.marker not in ("", "settings", "no-run", "skip", "background")
    ]
    assert unknown == []
    assert [b.where for b in every if b.marker == "no-run" and not b.why] == []


def call_with_request(function: FunctionType) -> None:
    """Call *function* (a view, or a callable such as a consent check) with the request of an
    anonymous first-time visitor, inside BrockmanMiddleware as a view would be."""
    request = RequestFactory().get("/")
    request.user = AnonymousUser()

    async def auser() -> AnonymousUser:
        return AnonymousUser()

    request.auser = auser  # type: ignore[attr-defined]
    if iscoroutinefunction(function):

        async def async_view(request: HttpRequest) -> HttpResponse:
            await function(request)
            return HttpResponse()

        async_to_sync(BrockmanMiddleware(async_view))(request)
        return

    def view(request: HttpRequest) -> HttpResponse:
        function(request)
        return HttpResponse()

    BrockmanMiddleware(view)(request)


# Django Tasks: built into Django 6.0+, or the backport, which the test extra installs
# below Python 3.12 only (Python 3.12+ with Django 5.2 has neither).
TASKS_INSTALLED = any(find_spec(name) for name in ("django.tasks", "django_tasks"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.where for b in PYTHON_BLOCKS])
def test_python_example_runs(block: Block, settings: Any) -> None:
    code = compile(block.code, block.where, "exec")
    if block.marker == "no-run":
        return
    if "django_brockman.tasks.django" in block.code and not TASKS_INSTALLED:
        pytest.skip("Django Tasks needs Django 6.0 or newer, or the django-tasks backport")
    if block.marker == "settings":
        namespace: dict[str, Any] = {"os": os, "INSTALLED_APPS": [], "MIDDLEWARE": []}
        exec(code, namespace)
        unknown = {name for name in namespace if name.startswith("BROCKMAN_")} - code_settings()
        assert unknown == set(), f"{block.where} sets settings that do not exist"
        return
    settings.BROCKMAN_BACKEND = "django_brockman.backends.locmem.LocmemBackend"
    settings.BROCKMAN_SET_ACTOR_COOKIE = True
    namespace = {"__name__": "docs_example"}
    exec(code, namespace)
    functions = [
        value
        for value in namespace.values()
        if isinstance(value, FunctionType)
        and value.__module__ == "docs_example"
        and list(inspect.signature(value).parameters)[:1] == ["request"]
    ]
    for function in functions:
        call_with_request(function)


# --- The tutorial ------------------------------------------------------------------

# The tutorial's ports, replaced by free ones so that the run cannot meet another server.
PORTS = ("8765", "8000")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalized(text: str) -> list[str]:
    """The lines of *text*, blank ones left out, with what differs from run to run (UUIDs,
    the age of a trigger, times and the hours of the clock) replaced by placeholders."""
    text = UUID.sub("<uuid>", text)
    text = re.sub(r"\b\d+ seconds old", "N seconds old", text)
    text = re.sub(r"\b\d{4}-\d\d-\d\dT[\d:.]+\+00:00\b", "<time>", text)
    text = re.sub(r"\b\d\dh=", "HHh=", text)
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def commands(block: Block) -> Iterator[tuple[str, str]]:
    """Each ``$ command`` of a console block, with the output printed under it."""
    command, output = None, []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, "\n".join(output)
            command, output = line[2:], []
        else:
            output.append(line)
    if command is not None:
        yield command, "\n".join(output)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the background command exited ({process.returncode})"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


def test_the_readme_quickstart_is_the_tutorial_the_runner_runs() -> None:
    readme, tutorial = blocks(ROOT / "README.rst"), blocks(TUTORIAL)
    printed = {
        command: normalized(output)
        for block in tutorial
        if block.lang == "console"
        for command, output in commands(block)
    }
    quickstart = [
        (command, normalized(output))
        for block in readme
        if block.lang == "console"
        for command, output in commands(block)
    ]

    assert [b.code for b in readme if b.lang == "python"] == [
        b.code for b in tutorial if b.lang == "python"
    ]
    assert len(quickstart) >= 4
    for command, output in quickstart:
        assert command in printed, f"README.rst runs {command!r}, which the tutorial does not"
        assert set(output) <= set(printed[command]), f"README.rst's output of {command!r}"
    assert "django-admin startproject mysite ." in (ROOT / "README.rst").read_text()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tutorial visits its pages with curl")
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    ports = {port: str(free_port()) for port in PORTS}

    def local(text: str, *, back: bool = False) -> str:
        for port, replacement in ports.items():
            text = text.replace(replacement, port) if back else text.replace(port, replacement)
        return text

    bin_dir = str(Path(sys.executable).parent)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BROCKMAN_", "DJANGO_")) and name != "PYTHONPATH"
    }
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    background: list[subprocess.Popen[bytes]] = []
    ran = 0
    try:
        for block in blocks(TUTORIAL):
            if block.marker == "skip" or block.lang not in ("console", "python"):
                continue
            if block.lang == "python":
                target = tmp_path / block.caption.split()[0]
                mode = "a" if "add to the end" in block.caption else "w"
                with target.open(mode, encoding="utf-8") as file:
                    file.write(("\n" if mode == "a" else "") + local(block.code))
                continue
            for command, expected in commands(block):
                command = local(command)
                if block.marker == "background":
                    process = subprocess.Popen(
                        command,
                        shell=True,
                        cwd=tmp_path,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                    background.append(process)
                    port = next(int(p) for p in ports.values() if p in command)
                    wait_for_port(port, process)
                    continue
                done = subprocess.run(
                    command,
                    shell=True,
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                ran += 1
                where = f"{block.where}: $ {command}"
                assert done.returncode == 0, f"{where}\n{done.stdout}{done.stderr}"
                actual = iter(normalized(local(done.stdout + done.stderr, back=True)))
                missing = [line for line in normalized(expected) if line not in actual]
                assert missing == [], f"{where}: printed lines differ\n{done.stdout}{done.stderr}"
    finally:
        for process in background:
            with_group = os.getpgid(process.pid) if process.poll() is None else None
            if with_group is not None:
                os.killpg(with_group, signal.SIGTERM)
            process.wait(timeout=30)
    assert ran >= 6
