"""The warehouse tables, declared once: name, type, meaning and unit of every column.

``main`` holds the observed tables the dashboard reads. ``truth`` holds what the
demo generator planted (expected demand, fraud labels, incidents, bundles...),
kept apart so models can be scored against it; the data-access layer never
serves ``truth`` to a signed-in person.

Money columns are DECIMAL(18,3) in the merchant's currency (merchants.currency);
timestamps are merchant local time without zone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    schema: str = "main"
    scoped: bool = True  # carries merchant_id; reads are filtered to the principal's merchants

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def C(name: str, type_: str, doc: str, nullable: bool = True) -> Column:
    return Column(name, type_, doc, nullable)


MONEY = "DECIMAL(18,3)"
MID = C("merchant_id", "INTEGER", "Merchant the row belongs to (merchants.merchant_id).", False)
# payments.auth_result vocabulary (schema 4): what the issuer answered. Every value but `approved` is a decline.
# `declined_processing_error` is the one the issuer never gave: the payment processor failed (Stripe's
# `processing_error`); append only (generated data stores the position).
AUTH_RESULTS = ("approved", "declined_insufficient_funds", "declined_do_not_honor", "declined_cvc",
                "declined_expired_card", "declined_invalid_number", "declined_suspected_fraud", "declined_other",
                "declined_processing_error")
# payments columns added in schema 4: the identities velocity and card testing are seen through.
PAYMENT_SIGNALS = ("card_fingerprint", "device_id", "ip_prefix", "email_domain", "auth_result")

OBSERVED: tuple[Table, ...] = (
    Table("merchants", "One online merchant (a tenant). Every other table carries merchant_id.", (
        C("merchant_id", "INTEGER", "Merchant key.", False),
        C("name", "VARCHAR", "Display name.", False),
        C("country", "VARCHAR", "Home country, ISO 3166-1 alpha-2 (e.g. GB); its public holidays apply.", False),
        C("currency", "VARCHAR", "ISO 4217 currency of every money column of this merchant (e.g. GBP).", False),
        C("category", "VARCHAR", "Main trade (fashion, electronics, gifts...)."),
        C("created_at", "TIMESTAMP", "When the merchant was added to the warehouse."),
    ), ("merchant_id",)),
    Table("stores", "Sales or stock locations: web shops, physical stores and fulfilment centres.", (
        C("store_id", "INTEGER", "Location key.", False), MID,
        C("name", "VARCHAR", "Display name.", False),
        C("kind", "VARCHAR", "`online`, `store` or `warehouse` (fulfilment centre holding stock).", False),
        C("region", "VARCHAR", "Region (state, county or sales region) the location serves."),
        C("city", "VARCHAR", "City of the location; empty for online shops."),
    ), ("store_id",)),
    Table("customers", "Buyers known to a merchant (guest checkouts have no row).", (
        C("customer_id", "BIGINT", "Customer key, unique across merchants.", False), MID,
        C("external_id", "VARCHAR", "The merchant's own customer id, if imported."),
        C("signup_date", "DATE", "Account creation date."),
        C("country", "VARCHAR", "Country of the customer, ISO alpha-2 when known, else as given."),
        C("region", "VARCHAR", "Region of the customer's address."),
        C("gender", "VARCHAR", "`female`, `male`, `other`, or null when unknown."),
        C("birth_year", "INTEGER", "Year of birth (null when unknown); age bands derive from it."),
    ), ("customer_id",)),
    Table("products", "The catalogue: one row per SKU.", (
        C("product_id", "BIGINT", "Product key, unique across merchants.", False), MID,
        C("sku", "VARCHAR", "The merchant's stock-keeping unit code, unique per merchant.", False),
        C("name", "VARCHAR", "Product description (may be empty in imports)."),
        C("category", "VARCHAR", "Category (top level of the merchant's catalogue)."),
        C("brand", "VARCHAR", "Brand or supplier."),
        C("price", MONEY, "Current list price per unit, merchant currency."),
        C("unit_cost", MONEY, "Cost of goods per unit, merchant currency (null when unknown)."),
        C("launch_date", "DATE", "First day the product could be sold."),
        C("is_merchandise", "BOOLEAN", "False for postage, fees, discounts and manual adjustments.", False),
    ), ("product_id",)),
    Table("promotions", "Campaigns that ran: when, for whom, at what discount.", (
        C("promotion_id", "INTEGER", "Promotion key.", False), MID,
        C("name", "VARCHAR", "Campaign name.", False),
        C("start_date", "DATE", "First day (inclusive).", False),
        C("end_date", "DATE", "Last day (inclusive).", False),
        C("discount_pct", "DOUBLE", "Discount off list price, percent (0-100).", False),
        C("category", "VARCHAR", "Category it applies to; null for the whole catalogue."),
        C("audience", "VARCHAR", "`all`, `new` (first order) or `returning` customers.", False),
        C("channel", "VARCHAR", "Channel it ran in (`web`, `app`, `store`, `marketplace`); null for all."),
    ), ("promotion_id",)),
    Table("orders", "One row per order document (sale, return or adjustment).", (
        C("order_id", "BIGINT", "Order key, unique across merchants.", False), MID,
        C("external_ref", "VARCHAR", "The merchant's own order or invoice number."),
        C("store_id", "INTEGER", "Location that sold it (stores.store_id)."),
        C("customer_id", "BIGINT", "Buyer (customers.customer_id); null for guest checkouts."),
        C("order_ts", "TIMESTAMP", "When the order was placed, merchant local time.", False),
        C("order_type", "VARCHAR", "`sale`, `return` (a credit note such as an Online Retail `C` invoice) or "
          "`adjustment` (bad-debt and manual adjustments).", False),
        C("status", "VARCHAR", "`completed`, `cancelled` (never fulfilled) or `returned` (sold, then sent back).",
          False),
        C("channel", "VARCHAR", "`web`, `app`, `store` or `marketplace`."),
        C("payment_method", "VARCHAR", "`card`, `paypal`, `bank_transfer`, `cash`, `debit_card`... as recorded."),
        C("promotion_id", "INTEGER", "Promotion applied (promotions.promotion_id), if any."),
        C("gross_amount", MONEY, "Sum of line quantity x unit price before discounts, merchant currency."),
        C("discount_amount", MONEY, "Discounts granted on the order, merchant currency (>= 0)."),
        C("shipping_amount", MONEY, "Shipping charged, merchant currency."),
        C("net_amount", MONEY, "gross - discount + shipping: what the customer paid, merchant currency."),
        C("shipping_region", "VARCHAR", "Region shipped to (null for in-store sales)."),
        C("shipping_country", "VARCHAR", "Country shipped to, ISO alpha-2 when known, else as given."),
    ), ("order_id",)),
    Table("order_lines", "Items of an order.", (
        C("order_id", "BIGINT", "Order (orders.order_id).", False),
        C("line_no", "INTEGER", "Position of the line in the order, from 1.", False), MID,
        C("product_id", "BIGINT", "Product (products.product_id).", False),
        C("quantity", "INTEGER", "Units; negative on return documents.", False),
        C("unit_price", MONEY, "Price per unit charged before line discount, merchant currency.", False),
        C("discount_amount", MONEY, "Discount on this line, merchant currency (>= 0).", False),
        C("line_amount", MONEY, "quantity x unit_price - discount, merchant currency (negative on returns).",
          False),
        C("unit_cost", MONEY, "Cost of goods per unit at the time of sale, merchant currency (null if unknown)."),
    ), ("order_id", "line_no")),
    Table("payments", "Payment attempts with the signals a fraud reviewer looks at.", (
        C("payment_id", "BIGINT", "Payment key.", False), MID,
        C("order_id", "BIGINT", "Order paid (orders.order_id).", False),
        C("customer_id", "BIGINT", "Payer (null for guests)."),
        C("paid_ts", "TIMESTAMP", "When the payment was authorised.", False),
        C("amount", MONEY, "Amount authorised, merchant currency.", False),
        C("method", "VARCHAR", "Payment method, as orders.payment_method.", False),
        C("status", "VARCHAR", "`captured`, `declined` or `refunded`.", False),
        C("card_country", "VARCHAR", "Issuing country of the card, ISO alpha-2 (null if not a card)."),
        C("billing_country", "VARCHAR", "Billing address country, ISO alpha-2."),
        C("ip_country", "VARCHAR", "Country of the buyer's IP address, ISO alpha-2."),
        C("shipping_country", "VARCHAR", "Shipping address country, ISO alpha-2."),
        C("device", "VARCHAR", "`desktop`, `mobile`, `tablet` or `pos`."),
        C("account_age_days", "INTEGER", "Days since the customer's signup at payment time (0 for guests)."),
        C("chargeback", "BOOLEAN", "True once a chargeback was received; false while none arrived.", False),
        C("chargeback_date", "DATE", "Date the chargeback arrived (weeks after payment); null if none."),
        C("card_fingerprint", "VARCHAR", "The card's fingerprint: a hash that is the same for every use of one "
          "card, never the card number (null if not a card or unknown; schema 4)."),
        C("device_id", "VARCHAR", "Identifier of the buyer's device (a hash from the checkout); null for till "
          "sales and when unknown (schema 4)."),
        C("ip_prefix", "VARCHAR", "The buyer's IPv4 address cut to its /24 network, e.g. `203.0.113.0/24`; the "
          "full address is never kept (null for till sales and when unknown; schema 4)."),
        C("email_domain", "VARCHAR", "Domain of the buyer's email address, lower case (e.g. `gmail.com`); the "
          "address itself is never kept (null when unknown; schema 4)."),
        C("auth_result", "VARCHAR", "Authorisation answer: `approved`, or why it was declined: "
          + ", ".join(f"`{a}`" for a in AUTH_RESULTS[1:]) + " (null when unknown; schema 4). "
          "Declined attempts are rows with status `declined`."),
    ), ("payment_id",)),
    Table("inventory_daily", "End-of-day stock on hand per SKU and location.", (
        C("day", "DATE", "Calendar day.", False), MID,
        C("store_id", "INTEGER", "Location holding the stock.", False),
        C("product_id", "BIGINT", "Product.", False),
        C("on_hand", "INTEGER", "Units on hand at close of day (>= 0).", False),
        C("units_sold", "INTEGER", "Units sold that day from this location.", False),
    ), ("day", "store_id", "product_id")),
    Table("purchase_orders", "Replenishment orders to suppliers, with their receipts.", (
        C("po_id", "BIGINT", "Purchase order key.", False), MID,
        C("store_id", "INTEGER", "Receiving location.", False),
        C("product_id", "BIGINT", "Product ordered.", False),
        C("ordered_date", "DATE", "Day the order was placed.", False),
        C("expected_date", "DATE", "Day the supplier promised.", False),
        C("received_date", "DATE", "Day the goods arrived; null while open."),
        C("quantity", "INTEGER", "Units ordered.", False),
        C("lead_time_days", "INTEGER", "received_date - ordered_date in days; null while open."),
    ), ("po_id",)),
    Table("deliveries", "Shipments of orders with promised and actual delivery dates.", (
        C("order_id", "BIGINT", "Order shipped.", False), MID,
        C("partner", "VARCHAR", "Carrier.", False),
        C("region", "VARCHAR", "Destination region.", False),
        C("shipped_date", "DATE", "Day handed to the carrier.", False),
        C("promised_date", "DATE", "Day promised to the customer.", False),
        C("delivered_date", "DATE", "Day delivered; null while in transit or lost."),
        C("delay_days", "INTEGER", "delivered_date - promised_date in days (negative = early); null if open."),
    ), ("order_id",)),
    Table("interactions", "Session events of the shop funnel.", (
        C("event_id", "BIGINT", "Event key.", False), MID,
        C("session_id", "BIGINT", "Browsing session.", False),
        C("customer_id", "BIGINT", "Signed-in customer, null for anonymous sessions."),
        C("event_ts", "TIMESTAMP", "When it happened, merchant local time.", False),
        C("event_type", "VARCHAR", "`view`, `cart`, `checkout` or `purchase`.", False),
        C("product_id", "BIGINT", "Product viewed or carted (null for checkout and purchase)."),
        C("order_id", "BIGINT", "Order placed, on `purchase` events."),
        C("channel", "VARCHAR", "`web` or `app`."),
    ), ("event_id",)),
    Table("imports", "Log of every load into the warehouse (one row per committed import).", (
        C("import_id", "VARCHAR", "Idempotency key of the load (a UUID made before the load started).", False),
        MID,
        C("source", "VARCHAR", "File name or generator run that was loaded.", False),
        C("preset", "VARCHAR", "Import preset or mapping used."),
        C("rows_loaded", "BIGINT", "Order lines (or rows) written.", False),
        C("rows_rejected", "BIGINT", "Rows skipped as invalid (skip mode), 0 in refuse mode.", False),
        C("loaded_at", "TIMESTAMP", "When the load committed (UTC).", False),
    ), ("import_id",)),
)

# Daily rollups: derived from the tables above by data/rollups.py inside every load's transaction, so they always
# agree with them. The KPI and trend queries answer from these when the filters allow (analytics/rollup_reads.py).
DAY = C("day", "DATE", "Calendar day of the order (or event), merchant local time.", False)
ORDER_CELL = (
    C("store_id", "INTEGER", "orders.store_id of the orders counted."),
    C("shipping_region", "VARCHAR", "orders.shipping_region of the orders counted."),
    C("channel", "VARCHAR", "orders.channel of the orders counted."),
    C("payment_method", "VARCHAR", "orders.payment_method of the orders counted."),
)
ROLLUP_MONEY = "DECIMAL(38,3)"
ROLLUPS: tuple[Table, ...] = (
    Table("rollup_sales_daily", "Rollup: revenue lines and orders per day, order attributes and product category.", (
        MID, DAY, *ORDER_CELL,
        C("category", "VARCHAR", "products.category of the lines (any product, merchandise or not)."),
        C("revenue", ROLLUP_MONEY, "Sum of line_amount of revenue lines (analytics.facts), merchant currency."),
        C("sales", ROLLUP_MONEY, "Sum of line_amount of merchandise lines of non-cancelled sale orders, money."),
        C("units", "BIGINT", "Sum of quantity of revenue lines."),
        C("costed_revenue", ROLLUP_MONEY, "Revenue of the revenue lines whose unit cost is known, money."),
        C("cogs", ROLLUP_MONEY, "Sum of quantity x cost of revenue lines (null when no cost is known), money."),
        C("sale_orders", "BIGINT", "Sale orders holding at least one line of the category, any status.", False),
        C("orders", "BIGINT", "Of those, non-cancelled ones.", False),
        C("cancelled_orders", "BIGINT", "Of those, cancelled ones.", False),
    ), ("merchant_id", "day", "store_id", "shipping_region", "channel", "payment_method", "category")),
    Table("rollup_orders_daily", "Rollup: sale orders per day and order attributes.", (
        MID, DAY, *ORDER_CELL,
        C("sale_orders", "BIGINT", "Sale orders, any status.", False),
        C("orders", "BIGINT", "Non-cancelled sale orders.", False),
        C("cancelled_orders", "BIGINT", "Cancelled sale orders.", False),
    ), ("merchant_id", "day", "store_id", "shipping_region", "channel", "payment_method")),
    Table("rollup_category_bits", "Rollup: each merchant's product categories numbered for "
          "rollup_order_categories (schema 5); renumbered with it at every load of the merchant.", (
        MID, C("category", "VARCHAR", "products.category (non-null) of the merchant's catalogue.", False),
        C("bit", "INTEGER", "0-based number of the category within the merchant, in name order.", False),
        C("flag", "BIGINT", "2^bit, the category's bit in category_mask; null from the 64th category on (bit "
          "63 and up): such categories are not in any mask, and filters naming them read the base tables."),
    ), ("merchant_id", "category")),
    Table("rollup_order_categories", "Rollup: sale orders per day, order attributes and set of categories they "
          "hold lines of (schema 5). Several categories select the orders whose mask shares a bit with theirs, "
          "each order once.", (
        MID, DAY, *ORDER_CELL,
        C("category_mask", "BIGINT", "Bitwise OR of rollup_category_bits.flag of the categories of the order's "
          "lines (any product); orders with none of the numbered categories have no row.", False),
        C("sale_orders", "BIGINT", "Sale orders, any status.", False),
        C("orders", "BIGINT", "Non-cancelled sale orders.", False),
        C("cancelled_orders", "BIGINT", "Cancelled sale orders.", False),
    ), ("merchant_id", "day", "store_id", "shipping_region", "channel", "payment_method", "category_mask")),
    Table("rollup_customer_days", "Rollup: known customers buying on a day, by the day they last bought before. "
          "A period's distinct customers are the rows of its days whose previous_day is before it (or null).", (
        MID, DAY,
        C("previous_day", "DATE", "The customer's previous day with a non-cancelled sale order; null: first ever."),
        C("customers", "BIGINT", "Known customers with a non-cancelled sale order on the day.", False),
    ), ("merchant_id", "day", "previous_day")),
    Table("rollup_customer_dims", "Rollup: known customers buying on a day, per filter dimension and value, with the "
          "day they last bought with that value. One dimension's distinct customers come from these rows.", (
        MID, C("dimension", "VARCHAR", "Filter the row answers: region, store, channel, payment_method or category.",
               False),
        C("value", "VARCHAR", "The order's value of it (store_id as text; region: shipping region, else the "
          "store's; category: of any line of the order).", False),
        DAY, C("customer_id", "BIGINT", "Customer with a non-cancelled sale order of that value on the day.", False),
        C("previous_day", "DATE", "The customer's previous buying day with the same value; null: first with it."),
        C("first_day", "DATE", "Day of the customer's first non-cancelled sale order ever (no filter).", False),
    ), ("merchant_id", "dimension", "value", "day", "customer_id")),
    Table("rollup_customer_firsts", "Rollup: each known customer's first non-cancelled sale order.", (
        MID, C("customer_id", "BIGINT", "Customer.", False),
        C("first_ts", "TIMESTAMP", "When that first order was placed, merchant local time.", False),
    ), ("customer_id",)),
    Table("rollup_sessions_daily", "Rollup: browsing sessions whose events all fall on one day and one channel.", (
        MID, DAY, C("channel", "VARCHAR", "interactions.channel of the session's events."),
        C("sessions", "BIGINT", "Sessions.", False),
        C("converted_sessions", "BIGINT", "Of those, sessions with a purchase event.", False),
    ), ("merchant_id", "day", "channel")),
    Table("rollup_session_days", "Rollup: the other sessions (spanning days or channels), one row per day and "
          "channel they have events on.", (
        MID, C("session_id", "BIGINT", "Browsing session.", False), DAY,
        C("channel", "VARCHAR", "interactions.channel of those events."),
        C("purchased", "BOOLEAN", "A purchase event falls on this day and channel.", False),
    ), ("session_id", "day", "channel")),
)
OBSERVED = OBSERVED + ROLLUPS  # served (scoped) and exported like the tables they summarise

TRUTH: tuple[Table, ...] = (
    Table("demand_daily", "Planted expected demand per product and day, before stock-outs cut it.", (
        C("day", "DATE", "Day.", False), MID,
        C("product_id", "BIGINT", "Product.", False),
        C("expected_units", "DOUBLE", "Expected units demanded (the mean the generator drew orders from).", False),
        C("lost_units", "INTEGER", "Units demanded but not sold because the product was out of stock.", False),
    ), ("day", "product_id"), "truth"),
    Table("stockouts", "Planted stock-out spells.", (
        MID, C("store_id", "INTEGER", "Location.", False),
        C("product_id", "BIGINT", "Product.", False),
        C("start_day", "DATE", "First day with zero stock.", False),
        C("end_day", "DATE", "Last day with zero stock.", False),
    ), (), "truth"),
    Table("fraud", "Payments that are fraudulent, with the pattern planted.", (
        C("payment_id", "BIGINT", "Payment.", False), MID,
        C("pattern", "VARCHAR", "`velocity`, `country_mismatch`, `new_account`, `unusual_amount`, `card_testing`.",
          False),
    ), ("payment_id",), "truth"),
    Table("incidents", "Planted incidents that cut orders.", (
        C("incident_id", "INTEGER", "Incident key.", False),
        C("merchant_id", "INTEGER", "Merchant hit; null when site-wide (all merchants)."),
        C("kind", "VARCHAR", "`payment_outage` (one region) or `bad_day` (site-wide).", False),
        C("region", "VARCHAR", "Region hit; null when all regions."),
        C("start_ts", "TIMESTAMP", "Start.", False),
        C("end_ts", "TIMESTAMP", "End.", False),
        C("order_factor", "DOUBLE", "Share of normal orders that still came in (0.1 = 90% lost).", False),
    ), ("incident_id",), "truth", scoped=False),
    Table("bundles", "Planted co-purchase bundles: products bought together above chance.", (
        C("bundle_id", "INTEGER", "Bundle key.", False), MID,
        C("product_id", "BIGINT", "A product of the bundle (one row per member).", False),
    ), ("bundle_id", "product_id"), "truth"),
    Table("customer_profiles", "Planted customer value and churn.", (
        C("customer_id", "BIGINT", "Customer.", False), MID,
        C("value_tier", "VARCHAR", "`low`, `mid` or `high` planted spending tier.", False),
        C("purchase_rate", "DOUBLE", "Planted mean orders per 30 days while active.", False),
        C("churn_date", "DATE", "Day the customer stops buying; null if never within the data."),
    ), ("customer_id",), "truth"),
    Table("delivery_delays", "Planted mean delay per carrier and region.", (
        MID, C("partner", "VARCHAR", "Carrier.", False),
        C("region", "VARCHAR", "Region.", False),
        C("mean_delay_days", "DOUBLE", "Mean planted delay past promise, days.", False),
    ), (), "truth"),
    Table("calendar_effects", "Planted multipliers of expected orders per merchant and day.", (
        MID, C("day", "DATE", "Day.", False),
        C("weekday_factor", "DOUBLE", "Weekly seasonality multiplier.", False),
        C("yearly_factor", "DOUBLE", "Yearly seasonality multiplier.", False),
        C("holiday_factor", "DOUBLE", "Public-holiday multiplier (1 on ordinary days).", False),
        C("holiday_name", "VARCHAR", "Name of the merchant country's public holiday, if any."),
        C("payday_factor", "DOUBLE", "Payday multiplier (1 on ordinary days).", False),
        C("trend_factor", "DOUBLE", "Long-run growth multiplier.", False),
        C("promo_factor", "DOUBLE", "Multiplier from promotions running that day.", False),
        C("expected_orders", "DOUBLE", "Expected orders that day (product of the factors and the base rate).",
          False),
    ), ("merchant_id", "day"), "truth"),
    Table("promotion_effects", "Planted uplift of each promotion.", (
        C("promotion_id", "INTEGER", "Promotion.", False), MID,
        C("uplift", "DOUBLE", "Multiplier of demand in scope while it runs (1.3 = +30%).", False),
    ), ("promotion_id",), "truth"),
)

ALL_TABLES: tuple[Table, ...] = OBSERVED + TRUTH
OBSERVED_BY_NAME = {t.name: t for t in OBSERVED}
