"""What the page may send: each request body as a pydantic model, with its size limits.

A body that does not fit is answered 400 naming the field (``codes.0: Input should be a valid
string``); one over :data:`MAX_BODY_BYTES`, or a memo over :data:`MAX_MEMO_CHARS`, 413.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_MEMO_CHARS",
    "Answer",
    "Empty",
    "Overlap",
    "TooLarge",
    "Undo",
    "ValidationError",
    "first_error",
]

#: The largest request body read (an answer with a long memo is a few kB).
MAX_BODY_BYTES = 256 * 1024
#: The longest memo kept on one segment (about ten pages of text).
MAX_MEMO_CHARS = 20_000


class TooLarge(Exception):
    """A body or a field over its limit (HTTP 413)."""


class Answer(BaseModel):
    """POST /api/answer."""

    model_config = ConfigDict(extra="forbid")

    segment_id: StrictInt = Field(ge=0, le=2**63 - 1)
    action: Literal["accept", "none", "skip"] = "accept"
    codes: list[StrictStr] = Field(default_factory=list, max_length=500)
    memo: StrictStr | None = None
    # made by the page (crypto.randomUUID()) so that a retried request is not a second answer
    answer_id: StrictStr | None = Field(default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")

    def check_sizes(self) -> Answer:
        if self.memo is not None and len(self.memo) > MAX_MEMO_CHARS:
            raise TooLarge(f"the memo is {len(self.memo):,} characters; the most kept is {MAX_MEMO_CHARS:,}: "
                           "shorten it, or keep long notes in a document of their own")
        return self


class Undo(BaseModel):
    """POST /api/undo: an empty object."""

    model_config = ConfigDict(extra="forbid")


class Empty(BaseModel):
    """An empty object: POST /api/owner/retrain and /logout (team server)."""

    model_config = ConfigDict(extra="forbid")


class Overlap(BaseModel):
    """POST /api/owner/overlap (team server): the share of segments given to two coders, for one
    group (its name) or for every group without a share of its own (no group)."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(ge=0, le=1, strict=True, allow_inf_nan=False)
    group: StrictStr | None = Field(default=None, max_length=500)


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(field, message) of a validation error's first problem, the field as ``codes.0``."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return field, f"{field}: {err['msg']}"
