"""Every exception the engine raises, in one tree.

Exceptions stop work; row validation problems are data (``records.Issue``), not exceptions.

    MigrationError                 anything this package raises on purpose
    ├── OptionsError               options are unusable (exit 2)
    ├── SourceError                the CSV is missing, unreadable, not UTF-8, or changed since the job began
    ├── StoreError                 the job store cannot be opened, is from a newer schema, or is corrupt
    ├── JobStateError              the job is running elsewhere, unknown, or not in a state that allows this
    ├── WorkOSUnavailable          WorkOS answered only outages for longer than --max-outage (not one row's error)
    └── WorkOSError                an HTTP call to WorkOS did not succeed
        ├── AuthenticationError    401/403: the key is missing, wrong, or lacks permission
        ├── RateLimited            429: slow down (``retry_after`` seconds when the server said)
        ├── Conflict               the object already exists (email taken, external id used, membership exists)
        ├── NotFound               404
        ├── InvalidRequest         400/422 that no retry can fix (bad hash, bad metadata, invalid role, ...)
        ├── ServerError            5xx or 408: the request may have been applied (``outcome_unknown``)
        └── TransportError         no usable HTTP response (connect error, timeout, dropped connection)

Only ``core.workos.client`` turns HTTP responses and httpx2 exceptions into ``WorkOSError``; every message
is built from WorkOS's own codes and never carries a request body, so no key, password, hash or TOTP
secret can reach a log or an errors file through an exception.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "Conflict",
    "InvalidRequest",
    "JobStateError",
    "MigrationError",
    "NotFound",
    "OptionsError",
    "RateLimited",
    "ServerError",
    "SourceError",
    "StoreError",
    "TransportError",
    "WorkOSError",
    "WorkOSUnavailable",
]


class MigrationError(Exception):
    """Base of every exception raised on purpose by this package."""


class OptionsError(MigrationError):
    """Raised when options are unusable; ``problems`` lists every broken rule, one message each."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class SourceError(MigrationError):
    """Raised when the CSV cannot be used: missing, a directory, not UTF-8, malformed, or changed.

    ``without_content`` is the message without anything read from the file (set when the message quotes
    it, e.g. a header that has no email column): a front door that must never echo a file that may not
    be a CSV of users at all (the MCP server) shows that one.
    """

    def __init__(self, message: str, *, without_content: str | None = None) -> None:
        super().__init__(message)
        self.without_content = without_content or message


class StoreError(MigrationError):
    """Raised when the job store cannot be opened or read."""


class JobStateError(MigrationError):
    """Raised when a job is unknown, owned by a live runner, or in a state that forbids the action."""


class WorkOSError(MigrationError):
    """An HTTP call to WorkOS failed.

    ``retryable`` says whether sending the same request again may succeed; ``outcome_unknown`` says the
    request may already have been applied (a timeout or dropped connection after sending, or a 5xx), so a
    retry must first look the object up by its natural key.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        sub_codes: tuple[str, ...] = (),
        request_id: str | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.sub_codes = sub_codes
        self.request_id = request_id
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown
        if retryable is not None:
            self.retryable = retryable
        self.during_outage = False
        """Set by the client when the attempt failed while the circuit breaker was open: the API's failure,
        never counted against the row."""

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.sub_codes:
            parts.append("sub_codes=" + ",".join(self.sub_codes))
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class AuthenticationError(WorkOSError):
    """Raised on 401/403: the API key is missing, wrong, or lacks permission. Never retryable."""

    @property
    def rejection(self) -> str:
        """What a job or a plan says about it: the key was rejected, with WorkOS's status."""
        why = "lacks permission" if self.status == 403 else "is wrong or revoked"
        status = f" ({self.status})" if self.status else ""
        return f"the API key was rejected by WorkOS{status}: it {why}; set a valid WORKOS_API_KEY and resume"


class RateLimited(WorkOSError):
    """Raised on 429. ``retry_after`` holds the server's Retry-After in seconds when it sent one."""

    retryable = True


class Conflict(WorkOSError):
    """Raised when the object already exists: email not available, external id used, membership exists.

    Resolved by looking the object up by its natural key, never by creating another one.
    """


class NotFound(WorkOSError):
    """Raised on 404."""


class InvalidRequest(WorkOSError):
    """Raised on a 400/422 that a retry cannot fix (bad hash, metadata, role, password strength, ...)."""


class ServerError(WorkOSError):
    """Raised on 5xx and 408 (and on a 2xx whose body is not the expected object). For writes the outcome is
    unknown: reconcile before retrying."""

    retryable = True


class TransportError(WorkOSError):
    """Raised when no usable response arrived: connect error, timeout, or a dropped connection.

    ``outcome_unknown`` is False only when the request provably never left (a connect error).
    """

    retryable = True


class WorkOSUnavailable(MigrationError):
    """Raised when WorkOS answered only with outages (5xx, timeouts, refused connections) for longer than
    ``--max-outage``. Stops the job ``interrupted``: no row failed, every unfinished row stays pending. Not a
    ``WorkOSError``, so no handler of one request's failure can take it for a row's."""
