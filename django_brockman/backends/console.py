"""A backend for development: print each trigger's JSON body instead of sending it."""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, TYPE_CHECKING, Any

from django_brockman.backends.base import BaseBackend

if TYPE_CHECKING:
    from django_brockman.models import Trigger


class ConsoleBackend(BaseBackend):
    """Write each trigger as one line of JSON, exactly the body the API would receive."""

    def __init__(self, stream: IO[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout
        # The flusher's delivery threads each build a backend but share sys.stdout.
        self._lock = threading.Lock()

    def send(self, trigger: Trigger) -> None:
        line = json.dumps(trigger.data().body())
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
