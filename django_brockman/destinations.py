"""Named FocusLab destinations: BROCKMAN_DESTINATIONS, or the single-key settings as
"default". One project's key and endpoint each, as DATABASES names connections."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django_brockman.conf import conf
from django_brockman.payload import DEFAULT_DESTINATION

DEFAULT = DEFAULT_DESTINATION
# Stored in Trigger.destination (max_length 64); letters, digits, "_" and "-".
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The per-destination options and the setting each falls back to.
OPTIONS = ("API_KEY", "ENDPOINT", "TIMEOUT", "BACKEND")


@dataclass(frozen=True)
class Destination:
    """One FocusLab project to deliver to. The key never shows in a repr."""

    name: str
    api_key: str = field(repr=False)
    endpoint: str
    timeout: float
    backend: str


def configured() -> Mapping[str, Mapping[str, object]]:
    """BROCKMAN_DESTINATIONS as given, or one "default" built from the single settings."""
    destinations = conf.DESTINATIONS
    return {DEFAULT: {}} if destinations is None else destinations


def all_destinations() -> dict[str, Destination]:
    """Every destination by name; options a destination leaves out come from the settings."""
    return {name: _build(name, options) for name, options in configured().items()}


def get_destination(name: str) -> Destination:
    """The destination called *name*; ValueError names the known ones otherwise."""
    destinations = configured()
    if name not in destinations:
        raise ValueError(unknown_message(name, destinations))
    return _build(name, destinations[name])


def validate_destination(name: object) -> str:
    """Return *name* if triggers may be recorded for it; raise where the call was made."""
    if not isinstance(name, str):
        raise TypeError(f"destination must be a str, not {type(name).__name__}.")
    destinations = configured()
    if name not in destinations:
        raise ValueError(unknown_message(name, destinations))
    return name


def longest_timeout() -> tuple[float, str]:
    """The longest request timeout of any destination, and the setting that gives it: a
    flusher's lease must outlast it."""
    longest = max(all_destinations().values(), key=lambda destination: destination.timeout)
    return longest.timeout, setting_name(longest.name, "TIMEOUT")


def setting_name(name: str, option: str) -> str:
    """The setting that gives destination *name* its *option*, for messages: its own
    entry in BROCKMAN_DESTINATIONS, or the single setting it falls back to."""
    options = configured().get(name, {})
    if option in options or (option == "API_KEY" and name != DEFAULT):
        return f"BROCKMAN_DESTINATIONS[{name!r}][{option!r}]"
    return conf.setting_name(option)


def unknown_message(name: str, destinations: Mapping[str, object]) -> str:
    known = ", ".join(repr(known) for known in destinations)
    return f"Unknown FocusLab destination {name!r}: BROCKMAN_DESTINATIONS has {known}."


def _build(name: str, options: Mapping[str, object]) -> Destination:
    def option(key: str, fallback: object) -> object:
        return options.get(key, fallback)

    # Only "default" inherits BROCKMAN_API_KEY: another project's triggers must never go
    # out under the default project's key by omission.
    return Destination(
        name=name,
        api_key=str(option("API_KEY", conf.API_KEY if name == DEFAULT else "") or ""),
        endpoint=str(option("ENDPOINT", conf.ENDPOINT)),
        timeout=float(option("TIMEOUT", conf.TIMEOUT)),  # type: ignore[arg-type]
        backend=str(option("BACKEND", conf.BACKEND)),
    )
