"""Exchange rates an admin enters, for the staff merchant ranking's optional converted view (issue 7).

The warehouse keeps every merchant's amounts in its own currency and never converts them. A staff member
may still want one list across currencies: an admin enters rates into one target currency, and the page
labels the converted figures "converted at rates entered by <admin> on <date>". Each save is a new row
(the latest for a target is current), audited like every other write.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from data.store import audit
from data.store.errors import InvalidValue, OutOfScope
from data.store.idempotency import checked_request_id, insert_once
from data.store.principal import Principal
from data.store.tables import exchange_rates

if TYPE_CHECKING:
    from data.store.store import Store

_CODE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class RateSet:
    target: str
    rates: dict[str, float]  # currency -> value of one unit of it in ``target``
    actor: str
    recorded_at: dt.datetime
    duplicate: bool = False


def checked_rates(target: object, rates: object) -> tuple[str, dict[str, float]]:
    """(target, rates) if they can be stored: ISO 4217 codes, positive finite rates; else InvalidValue."""
    if not isinstance(target, str) or not _CODE.match(target):
        raise InvalidValue(f"target currency must be an ISO 4217 code like EUR, got {target!r}")
    if not isinstance(rates, dict) or not rates:
        raise InvalidValue("enter at least one exchange rate")
    out = {}
    for code, rate in rates.items():
        if not isinstance(code, str) or not _CODE.match(code):
            raise InvalidValue(f"currency must be an ISO 4217 code like GBP, got {code!r}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise InvalidValue(f"the rate of {code} into {target} must be a positive number, got {rate!r}")
        if code != target:
            out[code] = float(rate)
    if not out:
        raise InvalidValue(f"enter a rate for a currency other than {target}")
    return target, dict(sorted(out.items()))


class ExchangeRates:
    def __init__(self, store: Store):
        self._store = store

    def save(self, principal: Principal, *, target: str, rates: dict[str, float], request_id: str) -> RateSet:
        """Record a new set of rates into ``target``. Staff only (rates apply across every merchant)."""
        if not principal.is_unrestricted:
            raise OutOfScope("exchange rates apply across merchants: only staff may enter them")
        target, rates = checked_rates(target, rates)
        values = {"request_id": checked_request_id(request_id), "target": target, "rates": rates,
                  "actor": principal.user, "recorded_at": self._store.now()}
        with self._store.transaction() as conn:
            row, inserted = insert_once(conn, exchange_rates, values, same=("target", "rates", "actor"))
            if inserted:
                audit.append(conn, at=values["recorded_at"], actor=principal.user, merchant_id=None,
                             entity="exchange_rates", entity_id=target, action="save", before=None,
                             after={"target": target, "rates": rates}, request_id=request_id)
        return RateSet(row["target"], dict(row["rates"]), row["actor"], row["recorded_at"], duplicate=not inserted)

    def latest(self, target: str) -> RateSet | None:
        """The current rates into ``target`` (the last saved), or None when nobody entered any."""
        with self._store.read() as conn:
            row = conn.execute(select(exchange_rates).where(exchange_rates.c.target == target)
                               .order_by(exchange_rates.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else RateSet(row["target"], dict(row["rates"]), row["actor"], row["recorded_at"])
