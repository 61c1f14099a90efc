"""Errors raised by the FocusLab client: the reference client's names, with more detail."""

from __future__ import annotations

BODY_EXCERPT_CHARS = 200

# Control characters a server may put in a body or a status line, shown as U+FFFD: a NUL
# cannot be stored in a PostgreSQL text column (last_error), the others garble a log.
_CONTROLS = dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F], "\ufffd")


def printable(text: str) -> str:
    """*text* with control characters other than tab and line breaks replaced."""
    return text.translate(_CONTROLS)


def excerpt(text: str, limit: int = BODY_EXCERPT_CHARS) -> str:
    """Return *text* cut to *limit* characters, marked when it was cut, and printable."""
    text = printable(text.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FocusLabError(Exception):
    """Base class of every error the client raises.

    ``status`` is the HTTP status (None when no response arrived), ``body`` a short
    excerpt of the response body, ``retry_after`` the raw ``Retry-After`` header and
    ``url`` the URL that was tried. ``cause`` says what went wrong in a few words
    (``HTTP 503``, ``connection refused``, ``timed out after 10 s``): the text to group
    failures by. ``str()`` leads with it and the URL, then the advice and the body.
    Like the reference client's, each class can be raised without arguments.
    """

    default_message = "FocusLab request failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        body: str = "",
        retry_after: str | None = None,
        url: str = "",
        cause: str = "",
    ) -> None:
        self.status = status
        self.body = excerpt(body)
        self.retry_after = retry_after
        self.url = printable(url)
        self._cause = printable(cause)
        self.message = printable(message or self.default_message)
        super().__init__(self.message)

    @property
    def cause(self) -> str:
        """What went wrong, in a few words: ``HTTP 503``, ``connection refused``."""
        if self._cause:
            return self._cause
        if self.status is not None:
            return f"HTTP {self.status}"
        return self.message

    def __str__(self) -> str:
        text = self.cause + (f" ({self.url})" if self.url else "")
        if self.message != self.cause and (self.status is not None or not self._cause):
            # A status's advice (check the key, the endpoint) follows its cause; a
            # network cause says it all.
            text += f": {self.message}"
        if self.body:
            text += f" | body: {self.body}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cause!r}, status={self.status!r})"


class BadAPIKey(FocusLabError):
    """401 or 403: the API key is wrong."""

    default_message = "FocusLab rejected the API key; check BROCKMAN_API_KEY"


class BadRequest(FocusLabError):
    """400: FocusLab found the trigger malformed."""

    default_message = "FocusLab rejected the trigger as malformed"


class ResourceNotFound(FocusLabError):
    """404: the endpoint is wrong."""

    default_message = "FocusLab answered 404; check BROCKMAN_ENDPOINT"


class ServerError(FocusLabError):
    """5xx: FocusLab failed to handle the request."""

    default_message = "FocusLab had a server error"


class UnknownError(FocusLabError):
    """Any other status, 200 included: FocusLab answers 201 and only 201 on success."""

    default_message = "FocusLab answered with an unexpected status"


class NetworkError(FocusLabError):
    """No usable response arrived: the connection failed or broke, or the answer was not
    HTTP that could be read."""

    default_message = "Could not reach FocusLab"


class Timeout(NetworkError):
    """No response arrived within the timeout."""

    default_message = "FocusLab did not answer within the timeout"


def cause_of(error: BaseException) -> str:
    """The cause of any delivery error in a few words, for grouping: a FocusLabError's
    ``cause``, or the class name of anything else (a backend's bug)."""
    if isinstance(error, FocusLabError):
        return error.cause
    return type(error).__name__
