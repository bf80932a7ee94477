"""The emulator's API error: the vendor's `{"errors": [...]}` body with its status and codes."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

# 15020 is the vendor's documented "not found" code; the others are our own stand-ins.
CODE_AUTH = 10010
CODE_BAD_REQUEST = 15000
CODE_REQUIRED = 15001
CODE_INVALID = 15002
CODE_DUPLICATE = 15003
CODE_NOT_UPDATABLE = 15004
CODE_HAS_TIME_ENTRIES = 15005
CODE_BAD_PAGING = 15010
CODE_NOT_FOUND = 15020
CODE_RATE_LIMITED = 42900
CODE_SERVER = 50000

# TimeTrack's help page on leavers, word for word.
TIME_ENTRIES_REFUSAL = "User accounts cannot be deleted if they have recorded time entries."


class ApiError(Exception):
    """An API answer with the vendor's error body; `errors` holds one entry per problem."""

    def __init__(self, status: int, code: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.errors: list[dict[str, Any]] = [
            {"title": title, "status": status, "code": code, "detail": detail}
        ]

    def body(self) -> dict[str, Any]:
        """The JSON body `{"errors": [...]}`."""
        return {"errors": self.errors}


def not_found(user_id: object) -> ApiError:
    """The 404 error for an unknown user id."""
    return ApiError(404, CODE_NOT_FOUND, "Not Found", f"User with id {user_id} not found")


def has_time_entries(status: int) -> ApiError:
    """The refusal of a DELETE of a user with time entries, in the words of TimeTrack's help."""
    return ApiError(status, CODE_HAS_TIME_ENTRIES, HTTPStatus(status).phrase, TIME_ENTRIES_REFUSAL)


def invalid(name: str, what: str) -> ApiError:
    """The 422 error for a field whose value the API refuses."""
    return ApiError(422, CODE_INVALID, "Validation failed", f"Field '{name}' {what}")


def required(missing: list[str]) -> ApiError:
    """The 400 error naming every required field a create left out, one entry each."""
    error = ApiError(400, CODE_REQUIRED, "Validation failed", "")
    error.errors = [
        {
            "title": "Validation failed",
            "status": 400,
            "code": CODE_REQUIRED,
            "detail": f"Field '{name}' is required",
        }
        for name in missing
    ]
    return error
