"""Error answers of the fake, in the 3Commas shape ``{"error", "error_description", "error_attributes"}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["ApiError", "error_answer", "not_found", "wrong_params"]

_encode = msgspec.json.encode


class ApiError(Exception):
    """An error answer; raised by validation and by the store, turned into the HTTP answer by the server."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str | None = None,
        attributes: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.attributes = dict(attributes) if attributes else None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error}
        if self.description is not None:
            out["error_description"] = self.description
        if self.attributes:
            out["error_attributes"] = self.attributes
        return out


def not_found(what: str = "Smart Trade") -> ApiError:
    """The docs' spelling: ``{"error": "Not found", "error_description": "Smart Trade not found"}``."""
    return ApiError(404, "Not found", f"{what} not found")


def wrong_params(attr: str, message: str) -> ApiError:
    return ApiError(400, "Wrong param(s)", f"{attr} {message}", {attr: [message]})


def error_answer(status: int, error: str, description: str) -> tuple[int, bytes]:
    """``(status, body)`` of an error the server answers itself (auth, routing, rate limits)."""
    return status, _encode({"error": error, "error_description": description})
