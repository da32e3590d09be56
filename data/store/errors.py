"""Errors the operational store raises; each message says what was refused and why, in one line."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's refusals (the caller shows the message; no traceback is needed)."""


class OutOfScope(StoreError, PermissionError):
    """The principal asked to read or write a merchant outside its scope; nothing was read or written."""


class InvalidValue(StoreError, ValueError):
    """A value cannot be stored as given (unknown action, text with a NUL byte, a time without a timezone...)."""


class RequestIdReused(StoreError):
    """A request id already names a different change: request ids must be fresh for every new change."""


class StaleRevision(StoreError):
    """Someone else saved a newer revision first; reload and apply the change again."""


class LeaseLost(StoreError):
    """The lease expired or another holder took the item; the work under it must not be recorded."""


class StoreUnavailable(StoreError):
    """The store cannot be opened or migrated (bad URL, unreachable server, unwritable file)."""


class AlreadyDecided(StoreError):
    """A review case already has a decision; changing it takes a reversal that names that decision."""


class CaseHeld(StoreError):
    """A review case is held by another reviewer's live lease; a bulk decision including it records nothing."""
