"""DestinationRouter: one delivery thread's backend, which sends each trigger through the
backend of its own destination (BROCKMAN_DESTINATIONS), built when first needed."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from django_brockman.backends.base import BaseBackend
from django_brockman.backends.http import HttpBackend, client_settings
from django_brockman.destinations import Destination, all_destinations, setting_name

if TYPE_CHECKING:
    from django_brockman.models import Trigger


class DestinationRouter(BaseBackend):
    """Send each trigger with its destination's key, endpoint, timeout and backend.

    *names* limits it to those destinations (all configured ones by default); *backend*,
    a dotted path, replaces every destination's backend (as flush(backend=) asks). A
    destination's configuration error (no key, a bad endpoint) is raised here, when the
    router is built, before a flush claims anything.
    """

    def __init__(
        self,
        names: Collection[str] | None = None,
        backend: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        configured = all_destinations()
        self.destinations = {
            name: destination
            for name, destination in configured.items()
            if names is None or name in names
        }
        self.backend = backend
        self.backends: dict[str, BaseBackend] = {}
        for destination in self.destinations.values():
            self.validate(destination)

    def __repr__(self) -> str:
        return f"<DestinationRouter destinations={sorted(self.destinations)!r}>"

    def backend_class(self, destination: Destination) -> type[BaseBackend]:
        klass: type[BaseBackend] = import_string(self.backend or destination.backend)
        return klass

    def validate(self, destination: Destination) -> None:
        if issubclass(self.backend_class(destination), HttpBackend):
            self.settings(destination)

    def settings(self, destination: Destination) -> dict[str, Any]:
        def settings_of(option: str) -> str:
            return setting_name(destination.name, option)

        key, endpoint, timeout = client_settings(
            destination.api_key,
            destination.endpoint,
            destination.timeout,
            settings_of=settings_of,
        )
        return {"api_key": key, "endpoint": endpoint, "timeout": timeout}

    def backend_for(self, name: str) -> BaseBackend:
        backend = self.backends.get(name)
        if backend is None:
            destination = self.destinations.get(name)
            if destination is None:
                # Claims are limited to the router's destinations; a row of an unknown
                # one (removed from the settings) is never claimed.
                raise LookupError(f"No destination {name!r} to deliver to.")
            klass = self.backend_class(destination)
            kwargs = self.settings(destination) if issubclass(klass, HttpBackend) else {}
            backend = klass(**kwargs)
            backend.open()
            self.backends[name] = backend
        return backend

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()
        self.backends.clear()

    def send(self, trigger: Trigger) -> None:
        self.backend_for(trigger.destination).send(trigger)
