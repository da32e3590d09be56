"""Who is acting, and which merchants they may touch: every read and write of the store takes one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from data.store.errors import InvalidValue, OutOfScope


@dataclass(frozen=True)
class Principal:
    """A signed-in user (or a job) and its merchant scope.

    ``merchant_ids=None`` means every merchant (staff roles, command-line jobs); a frozenset limits reads and
    writes to those merchants. The user name is what the audit log records as "who".
    """

    user: str
    merchant_ids: frozenset[int] | None

    def __post_init__(self) -> None:
        if not isinstance(self.user, str) or not self.user.strip():
            raise InvalidValue("a principal needs a non-empty user name (the audit log records it)")
        if self.merchant_ids is not None:
            ids = frozenset(self.merchant_ids)
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise InvalidValue(f"merchant ids must be integers, got {sorted(map(repr, ids))}")
            object.__setattr__(self, "merchant_ids", ids)

    @classmethod
    def staff(cls, user: str) -> Principal:
        return cls(user, None)

    @classmethod
    def merchants(cls, user: str, ids: Iterable[int]) -> Principal:
        return cls(user, frozenset(ids))

    @property
    def is_unrestricted(self) -> bool:
        return self.merchant_ids is None

    def allows(self, merchant_id: int) -> bool:
        return self.merchant_ids is None or merchant_id in self.merchant_ids

    def require(self, merchant_id: int, what: str) -> None:
        """Raise OutOfScope unless ``merchant_id`` is in scope; ``what`` names the rows, e.g. "alert actions"."""
        if not isinstance(merchant_id, int) or isinstance(merchant_id, bool):
            raise InvalidValue(f"merchant id must be an integer, got {merchant_id!r}")
        if not self.allows(merchant_id):
            allowed = ", ".join(map(str, sorted(self.merchant_ids or ()))) or "none"
            raise OutOfScope(f"user {self.user!r} may not touch merchant {merchant_id}'s {what} "
                             f"(allowed merchants: {allowed}); nothing was read or written")

    def visible(self, requested: Iterable[int] | None, what: str) -> frozenset[int] | None:
        """The merchant ids a read may return: ``requested`` (each checked) or, when None, the whole scope."""
        if requested is None:
            return self.merchant_ids
        ids = frozenset(requested)
        for merchant_id in sorted(ids):
            self.require(merchant_id, what)
        return ids
