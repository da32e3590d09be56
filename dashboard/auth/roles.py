"""Roles and the signed-in person (``Principal``). Pure: no streamlit, no file access.

Import these from ``dashboard.auth.accounts``; they live in this leaf module only so
that ``credentials.py`` can use them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data.access import Scope


class Role(StrEnum):
    """What a user may see and do. ``merchant`` is bound to merchant ids; every other role is staff.

    A StrEnum: ``Role.ADMIN == "admin"``, so it also matches plain role strings (navigation.py).
    """

    MERCHANT = "merchant"
    OPERATIONS = "operations"
    ANALYST = "analyst"
    FRAUD_REVIEWER = "fraud_reviewer"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self is not Role.MERCHANT


ROLE_NAMES: tuple[str, ...] = tuple(r.value for r in Role)
STAFF_ROLES: frozenset[Role] = frozenset(r for r in Role if r.is_staff)


class UnknownRole(ValueError):
    """A role name that is not one of ``ROLE_NAMES``."""


def parse_role(value: str | Role) -> Role:
    """The ``Role`` named ``value`` (case and surrounding blanks ignored, ``-`` read as ``_``)."""
    if isinstance(value, Role):
        return value
    name = str(value).strip().lower().replace("-", "_")
    try:
        return Role(name)
    except ValueError:
        raise UnknownRole(f"unknown role {value!r}; roles are: {', '.join(ROLE_NAMES)}") from None


def parse_merchant_ids(values: Iterable[object]) -> frozenset[int]:
    """Positive integer merchant ids (``"3"`` is accepted, ``True``/``0``/``-1``/``"x"`` are not)."""
    ids: set[int] = set()
    for v in values:
        if isinstance(v, bool):
            raise ValueError(f"merchant id must be a positive integer, got {v!r}")
        try:
            i = int(str(v).strip()) if not isinstance(v, int) else v
        except ValueError:
            raise ValueError(f"merchant id must be a positive integer, got {v!r}") from None
        if i <= 0:
            raise ValueError(f"merchant id must be a positive integer, got {v!r}")
        ids.add(i)
    return frozenset(ids)


@dataclass(frozen=True)
class Principal:
    """The signed-in person, as pages and cached functions receive it (hashable, a cache key).

    ``merchant_ids`` is the set of merchants a ``merchant`` user is bound to (never empty),
    and ``None`` for staff roles, meaning every merchant.
    """

    username: str
    name: str
    role: Role
    merchant_ids: frozenset[int] | None

    def __post_init__(self) -> None:
        role = parse_role(self.role)
        object.__setattr__(self, "role", role)
        if role is Role.MERCHANT:
            ids = parse_merchant_ids(self.merchant_ids or ())
            if not ids:
                raise ValueError(f"merchant user {self.username!r} must be bound to at least one merchant id")
            object.__setattr__(self, "merchant_ids", ids)
        elif self.merchant_ids is not None:
            raise ValueError(f"staff user {self.username!r} ({role}) sees all merchants: merchant_ids must be None")

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    def has_role(self, *roles: Role | str) -> bool:
        """True when this person's role is one of ``roles``."""
        return self.role in {parse_role(r) for r in roles}

    def can_see_merchant(self, merchant_id: int) -> bool:
        return self.merchant_ids is None or merchant_id in self.merchant_ids

    def scope(self) -> Scope:
        """The ``data.access.Scope`` of this person: their merchants, or unrestricted for staff."""
        from data.access import Scope  # lazy: data.access pulls in ibis and polars

        return Scope.unrestricted() if self.merchant_ids is None else Scope.merchants(self.merchant_ids)
