"""Free text (notes, reasons, user names) is stored verbatim, or refused with a reason: never altered.

Both engines keep any Unicode text exactly except two things PostgreSQL cannot hold: a NUL character and a
lone surrogate (not UTF-8). Those are refused on SQLite too, so a note behaves the same on either engine.
"""

from __future__ import annotations

from data.store.errors import InvalidValue

NOTE_MAX_CHARS = 10_000
NAME_MAX_CHARS = 200


def checked_text(value: object, field: str, *, max_chars: int = NOTE_MAX_CHARS, required: bool = False) -> str | None:
    """``value`` unchanged if it can be stored as is; None for an empty optional value; else InvalidValue."""
    if value is None or value == "":
        if required:
            raise InvalidValue(f"{field} is required")
        return None if value is None else ""
    if not isinstance(value, str):
        raise InvalidValue(f"{field} must be text, got {type(value).__name__}")
    if len(value) > max_chars:
        raise InvalidValue(f"{field} is {len(value):,} characters long; at most {max_chars:,} are kept")
    if "\x00" in value:
        raise InvalidValue(f"{field} contains a NUL character (\\x00), which the store cannot keep")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidValue(f"{field} is not valid Unicode text (character {exc.start}: lone surrogate)") from None
    return value
