"""Integrity checks of a warehouse (`python -m data validate`), declared as a registry.

Each check is a query that returns the offending rows (at most a few are shown);
an empty result means the check passed. Fact-table keys are not enforced by
DuckDB (see data/schema.py), so these checks are what guards them.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from data.tables import AUTH_RESULTS, OBSERVED


@dataclass(frozen=True)
class Check:
    name: str
    doc: str
    sql: str


def _key_checks() -> list[Check]:
    checks = []
    for t in OBSERVED:
        if not t.primary_key:
            continue
        key = ", ".join(t.primary_key)
        checks.append(Check(
            f"{t.name}_key_unique",
            f"No two rows of {t.name} share the key ({key}).",
            f"SELECT {key}, count(*) AS copies FROM main.{t.name} GROUP BY ALL HAVING count(*) > 1",
        ))
    return checks


def _reference(child: str, column: str, parent: str, parent_column: str | None = None) -> Check:
    parent_column = parent_column or column
    return Check(
        f"{child}_{column}_known",
        f"Every non-null {child}.{column} exists in {parent}.{parent_column} of the same merchant.",
        f"SELECT c.{column}, c.merchant_id FROM main.{child} c ANTI JOIN main.{parent} p "
        f"ON c.{column} = p.{parent_column} AND c.merchant_id = p.merchant_id WHERE c.{column} IS NOT NULL",
    )


CHECKS: tuple[Check, ...] = tuple(_key_checks()) + (
    *(
        Check(f"{t.name}_merchant_known", f"Every {t.name}.merchant_id is a known merchant.",
              f"SELECT DISTINCT merchant_id FROM main.{t.name} ANTI JOIN main.merchants USING (merchant_id)")
        for t in OBSERVED if t.name not in ("merchants", "imports")
    ),
    _reference("orders", "customer_id", "customers"),
    _reference("orders", "store_id", "stores"),
    _reference("order_lines", "order_id", "orders"),
    _reference("order_lines", "product_id", "products"),
    _reference("payments", "order_id", "orders"),
    _reference("deliveries", "order_id", "orders"),
    _reference("interactions", "order_id", "orders"),
    _reference("inventory_daily", "product_id", "products"),
    Check("order_gross_matches_lines",
          "orders.gross_amount equals the sum of its lines' quantity x unit_price.",
          "SELECT o.order_id, o.gross_amount, l.gross FROM main.orders o JOIN ("
          "SELECT order_id, sum(quantity * unit_price) AS gross FROM main.order_lines GROUP BY order_id) l "
          "USING (order_id) WHERE o.gross_amount IS NOT NULL AND abs(o.gross_amount - l.gross) > 0.01"),
    Check("order_net_arithmetic",
          "orders.net_amount = gross_amount - discount_amount + shipping_amount.",
          "SELECT order_id, gross_amount, discount_amount, shipping_amount, net_amount FROM main.orders "
          "WHERE net_amount IS NOT NULL AND abs(net_amount - (gross_amount - coalesce(discount_amount, 0) "
          "+ coalesce(shipping_amount, 0))) > 0.01"),
    Check("order_values_known",
          "orders.order_type and status hold documented values.",
          "SELECT order_id, order_type, status FROM main.orders WHERE order_type NOT IN "
          "('sale', 'return', 'adjustment') OR status NOT IN ('completed', 'cancelled', 'returned')"),
    Check("interaction_types_known", "interactions.event_type is view, cart, checkout or purchase.",
          "SELECT event_id, event_type FROM main.interactions "
          "WHERE event_type NOT IN ('view', 'cart', 'checkout', 'purchase')"),
    Check("stock_not_negative", "inventory_daily.on_hand is never negative.",
          "SELECT day, store_id, product_id, on_hand FROM main.inventory_daily WHERE on_hand < 0"),
    Check("chargeback_has_date", "A chargeback has a date on or after the payment, and only then.",
          "SELECT payment_id, chargeback, chargeback_date FROM main.payments WHERE "
          "(chargeback AND (chargeback_date IS NULL OR chargeback_date < CAST(paid_ts AS DATE))) "
          "OR (NOT chargeback AND chargeback_date IS NOT NULL)"),
    Check("payment_auth_result_known",
          "payments.auth_result is a documented value, and a declined payment has a decline (schema 4).",
          "SELECT payment_id, status, auth_result FROM main.payments WHERE auth_result IS NOT NULL AND ("
          "auth_result NOT IN (" + ", ".join(f"'{a}'" for a in AUTH_RESULTS) + ") "
          "OR (status = 'declined') <> starts_with(auth_result, 'declined'))"),
    Check("payment_signals_well_formed",
          "payments.ip_prefix is an IPv4 /24, email_domain a lower-case domain, and no card_fingerprint or "
          "device_id holds 13-19 digits alone (a card number must never be stored).",
          "SELECT payment_id, ip_prefix, email_domain FROM main.payments WHERE "
          "NOT regexp_full_match(coalesce(ip_prefix, '0.0.0.0/24'), '\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.0/24') "
          "OR email_domain <> lower(email_domain) OR contains(coalesce(email_domain, ''), '@') "
          "OR regexp_full_match(regexp_replace(coalesce(card_fingerprint, ''), '[ -]', '', 'g'), '\\d{13,19}') "
          "OR regexp_full_match(regexp_replace(coalesce(device_id, ''), '[ -]', '', 'g'), '\\d{13,19}')"),
)


@dataclass(frozen=True)
class CheckResult:
    check: Check
    violations: int
    sample: list[tuple]

    @property
    def ok(self) -> bool:
        return self.violations == 0


def run_checks(con: duckdb.DuckDBPyConnection, sample: int = 5) -> list[CheckResult]:
    """Run every check; each result carries the violation count and a few offending rows."""
    results = []
    for check in CHECKS:
        count = con.execute(f"SELECT count(*) FROM ({check.sql})").fetchone()[0]
        rows = con.execute(f"SELECT * FROM ({check.sql}) LIMIT {int(sample)}").fetchall() if count else []
        results.append(CheckResult(check, count, rows))
    return results
