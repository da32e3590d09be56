"""Purchase-order drafts built from the stock-out alert list, kept as document revisions.

Body: ``{"supplier": text or null, "lines": [{"product_id", "store_id", "quantity", "sku"?, "unit_cost"?}]}``.
Statuses: ``draft`` (editable), ``submitted`` (sent to the supplier outside Retail Pulse), ``cancelled``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from data.store.documents import DocumentKind, Documents, Revision
from data.store.errors import InvalidValue
from data.store.principal import Principal
from data.store.tables import NAME
from data.store.text import checked_text

KIND = "purchase_order"
MAX_LINES = 20_000


def check_purchase_order(body: Any) -> dict:
    """The body to store, or InvalidValue naming the line and field that is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("lines"), list):
        raise InvalidValue("a purchase order needs a dict with a list of lines")
    unknown = set(body) - {"supplier", "lines"}
    if unknown:
        raise InvalidValue(f"purchase order: unknown fields {', '.join(sorted(unknown))}")
    lines = body["lines"]
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidValue(f"a purchase order has 1 to {MAX_LINES:,} lines, not {len(lines):,}")
    return {"supplier": checked_text(body.get("supplier"), "supplier", max_chars=NAME),
            "lines": [_line(i, line) for i, line in enumerate(lines, start=1)]}


def _line(number: int, line: Any) -> dict:
    where = f"purchase order line {number}"
    if not isinstance(line, dict):
        raise InvalidValue(f"{where}: expected a dict, got {type(line).__name__}")
    unknown = set(line) - {"product_id", "store_id", "quantity", "sku", "unit_cost"}
    if unknown:
        raise InvalidValue(f"{where}: unknown fields {', '.join(sorted(unknown))}")
    out: dict = {}
    for field in ("product_id", "store_id", "quantity"):
        value = line.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if field == "quantity" else 0):
            raise InvalidValue(f"{where}: {field} must be a {'positive' if field == 'quantity' else 'non-negative'}"
                               f" whole number, got {value!r}")
        out[field] = value
    if line.get("sku") is not None:
        out["sku"] = checked_text(line["sku"], f"{where} sku", max_chars=NAME)
    cost = line.get("unit_cost")
    if cost is not None:
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
            raise InvalidValue(f"{where}: unit_cost must be a non-negative number, got {cost!r}")
        out["unit_cost"] = float(cost)
    return out


PURCHASE_ORDER = DocumentKind(KIND, ("draft", "submitted", "cancelled"), check_purchase_order,
                              "A purchase order drafted from the stock-out alert list.")


class PurchaseOrders:
    """Purchase-order drafts: a thin, typed face on the documents repository."""

    def __init__(self, documents: Documents):
        self._documents = documents

    def draft(self, principal: Principal, *, merchant_id: int, lines: list[dict], request_id: str,
              supplier: str | None = None, title: str | None = None, note: str | None = None) -> Revision:
        return self._documents.create(principal, kind=KIND, merchant_id=merchant_id, request_id=request_id,
                                      body={"supplier": supplier, "lines": lines}, title=title, note=note)

    def revise(self, principal: Principal, *, document_id: str, base_revision: int, request_id: str,
               lines: list[dict] | None = None, supplier: str | None = None, note: str | None = None) -> Revision:
        body = None
        if lines is not None or supplier is not None:
            base = self._documents.current(principal, kind=KIND, document_id=document_id).body
            body = {"supplier": base["supplier"] if supplier is None else supplier,
                    "lines": base["lines"] if lines is None else lines}
        return self._documents.revise(principal, kind=KIND, document_id=document_id, request_id=request_id,
                                      base_revision=base_revision, body=body, note=note)

    def set_status(self, principal: Principal, *, document_id: str, base_revision: int, status: str,
                   request_id: str, note: str | None = None) -> Revision:
        return self._documents.revise(principal, kind=KIND, document_id=document_id, request_id=request_id,
                                      base_revision=base_revision, status=status, note=note)

    def current(self, principal: Principal, document_id: str) -> Revision:
        return self._documents.current(principal, kind=KIND, document_id=document_id)

    def latest(self, principal: Principal, *, merchant_ids: Iterable[int] | None = None,
               statuses: Iterable[str] | None = ("draft",)) -> list[Revision]:
        return self._documents.latest(principal, kind=KIND, merchant_ids=merchant_ids, statuses=statuses)
