"""The sandbox's error answers: one exception carrying an HTTP status and a WorkOS-shaped JSON body.

Handlers raise ``ApiError``; the app turns it into the response. Messages never quote request values that
may be secret (passwords, hashes, TOTP secrets).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "invalid_params", "not_found"]


class ApiError(Exception):
    """An answer other than success: ``status`` and the JSON ``body`` to send."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def invalid_params(message: str, *, field: str | None = None, code: str | None = None) -> ApiError:
    """422 ``invalid_request_parameters``, the real API's answer to a body or query that fails its schema."""
    body: dict[str, Any] = {"message": "Validation failed.", "code": "invalid_request_parameters"}
    detail: dict[str, str] = {"code": code or "invalid", "message": message}
    if field is not None:
        detail["field"] = field
    body["errors"] = [detail]
    return ApiError(422, body)


def not_found(kind: str, object_id: str) -> ApiError:
    """404 in the real API's style, e.g. ``Organization not found: 'org_01…'.``"""
    return ApiError(404, {"message": f"{kind} not found: '{object_id}'.", "code": "entity_not_found"})
