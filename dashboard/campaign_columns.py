"""Column headings of the Campaign simulator's tables (the ``dashboard.tables`` registry plus its own)."""

from __future__ import annotations

from dashboard.tables import COLUMNS, Column

CAMPAIGN_COLUMNS: dict[str, Column] = {
    **COLUMNS,
    "line": Column("Line of the file", "id"),
    "reference": Column("Reference as written", "text"),
    "reason": Column("Why it is not used", "text"),
    "name": Column("Campaign", "text"),
    "start_date": Column("First day", "date"),
    "end_date": Column("Last day", "date"),
    "discount_pct": Column("Discount (%)", "number"),
    "audience": Column("Audience", "text"),
    "observed_lines": Column("Order lines in scope", "number"),
    "baseline_lines": Column("Expected without it", "number",
                             "Order lines in scope the same days would have had without the promotion."),
    "uplift": Column("Uplift (x)", "number", "Demand in scope during the promotion / expected without it."),
    "uplift_low": Column("Uplift, low (x)", "number", "Lower end of the 95% interval."),
    "uplift_high": Column("Uplift, high (x)", "number", "Upper end of the 95% interval."),
    "fit_days": Column("Days the baseline learned from", "count"),
    "pooled": Column("In the estimate", "flag", "Comparable to the new campaign, so pooled into its estimate."),
    "external_id": Column("Customer reference", "text", "The merchant's own customer id."),
    "holdout": Column("Holdout", "flag", "Held out: not contacted, to measure the campaign against."),
    "product": Column("Product", "text"),
    "location": Column("Location", "text"),
    "on_hand": Column("On hand (units)", "count"),
    "daily_demand": Column("Forecast demand per day (units)", "number"),
    "horizon_days": Column("Days until the next delivery", "count"),
    "campaign_demand": Column("Demand until then with the campaign (units)", "number"),
    "shortfall": Column("Short by (units)", "number"),
    "measure": Column("Figure", "text"),
    "saved_by": Column("Saved by", "text"),
    "saved_at": Column("Saved at (UTC)", "datetime"),
}
