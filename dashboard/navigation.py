"""Which pages exist and which roles may open them: the role x page matrix, declared once.

Pure data (no streamlit), so tests and the README table read the same registry.
Page scripts live in dashboard/views/ (not pages/, which would switch on
Streamlit's legacy auto-discovery and run a script before any role check).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dashboard.auth.roles import Role

ROLES: tuple[Role, ...] = tuple(Role)
VIEWS = Path(__file__).resolve().parent / "views"


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    icon: str
    script: str
    roles: frozenset[Role]
    doc: str

    @property
    def path(self) -> Path:
        return VIEWS / self.script


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "Overview", ":material/dashboard:", "overview.py", frozenset(Role),
             "Headline KPIs for the period with changes against the previous period and last year, and the trend."),
    PageSpec("sales", "Sales analytics", ":material/query_stats:", "sales.py",
             frozenset({Role.MERCHANT, Role.OPERATIONS, Role.ANALYST, Role.ADMIN}),
             "Seasonality, trends, stores and regions, categories and margins, payments, cohorts, deliveries."),
    PageSpec("ranking", "Merchant ranking", ":material/leaderboard:", "ranking.py",
             frozenset({Role.OPERATIONS, Role.ANALYST, Role.ADMIN}),
             "Staff: merchants ranked by revenue per currency, with orders and the change against the previous "
             "period; optional conversion at exchange rates an admin enters."),
    PageSpec("forecast", "Forecast", ":material/trending_up:", "forecast.py",
             frozenset({Role.MERCHANT, Role.OPERATIONS, Role.ANALYST, Role.ADMIN}),
             "Daily demand in units and revenue, 28 to 90 days ahead with 80% and 95% intervals, from the total "
             "down to categories and SKUs; how far to trust it (backtests); the model card."),
    PageSpec("stockout", "Stock-out risk", ":material/inventory_2:", "stockout.py",
             frozenset({Role.MERCHANT, Role.OPERATIONS, Role.ANALYST, Role.ADMIN}),
             "Products likely to run out before the next delivery can arrive, sorted by revenue at risk, with "
             "reorder points, suggested quantities and a draft purchase order to download; acknowledge, assign, "
             "snooze."),
    PageSpec("review", "Fraud review", ":material/policy:", "review.py",
             frozenset({Role.FRAUD_REVIEWER, Role.ADMIN}),
             "Scored payments over the threshold or caught by a rule, in order of time left before the review "
             "deadline: claim a case, see its reasons and linked payments, approve, decline or escalate."),
    PageSpec("fraud_rules", "Fraud thresholds", ":material/tune:", "fraud_rules.py",
             frozenset({Role.MERCHANT, Role.FRAUD_REVIEWER, Role.ADMIN}),
             "The review threshold chosen by cost (chargebacks, declined good orders, reviews), allow and block "
             "lists and rules backtested on history, the fraud model's card, drift and retraining."),
    PageSpec("customers", "Customers", ":material/group:", "customers.py",
             frozenset({Role.MERCHANT, Role.ANALYST, Role.ADMIN}),
             "RFM segments and how customers moved between them, clusters, churn risk and lifetime value, a "
             "customer drill-down and target lists to download."),
    PageSpec("baskets", "Baskets", ":material/shopping_basket:", "baskets.py",
             frozenset({Role.MERCHANT, Role.ANALYST, Role.ADMIN}),
             "Products bought together (support, confidence, lift), suggestions for a customer, and bundles "
             "ranked by lift, margin and stock on hand."),
    PageSpec("campaigns", "Campaign simulator", ":material/campaign:", "campaigns.py",
             frozenset({Role.MERCHANT, Role.ANALYST, Role.ADMIN}),
             "Simulate a campaign before spending on it: audience, offer, response learned from past promotions, "
             "the distribution of return on investment, test design, stock check and saved scenarios."),
    PageSpec("alerts", "Alerts", ":material/notifications_active:", "alerts.py",
             frozenset({Role.MERCHANT, Role.OPERATIONS, Role.ADMIN}),
             "Incidents in orders, revenue, conversion, payments and deliveries against their expected band, "
             "with likely causes; acknowledge, assign, snooze, resolve; the alert rules and delivery."),
    PageSpec("data", "Data", ":material/database:", "data_admin.py", frozenset({Role.ADMIN}),
             "Import a file with its validation report, manage users, warehouse information."),
)
PAGES_BY_KEY = {p.key: p for p in PAGES}


def pages_for(role: str) -> tuple[PageSpec, ...]:
    """The pages a role may open, in menu order (empty for an unknown role)."""
    return tuple(p for p in PAGES if role in p.roles)


def may_open(role: str, page_key: str) -> bool:
    spec = PAGES_BY_KEY.get(page_key)
    return spec is not None and role in spec.roles
