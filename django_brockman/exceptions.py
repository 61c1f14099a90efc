"""Errors raised by the FocusLab client: the reference client's names, with more detail."""

from __future__ import annotations

BODY_EXCERPT_CHARS = 200


def excerpt(text: str, limit: int = BODY_EXCERPT_CHARS) -> str:
    """Return *text* cut to *limit* characters, marked when it was cut."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FocusLabError(Exception):
    """Base class of every error the client raises.

    ``status`` is the HTTP status (None when no response arrived), ``body`` a short
    excerpt of the response body, and ``retry_after`` the raw ``Retry-After`` header.
    """

    default_message = "FocusLab request failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        body: str = "",
        retry_after: str | None = None,
    ) -> None:
        self.status = status
        self.body = excerpt(body)
        self.retry_after = retry_after
        self.message = message or self.default_message
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.body:
            parts.append(f"body: {self.body}")
        return " | ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


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
    """No response arrived: the connection failed or broke."""

    default_message = "Could not reach FocusLab"


class Timeout(NetworkError):
    """No response arrived within the timeout."""

    default_message = "FocusLab did not answer within the timeout"
