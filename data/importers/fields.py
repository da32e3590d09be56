"""The canonical order-line fields every import is mapped onto, declared once.

A file's columns are mapped onto these fields (see mapping.py); validation
types them, and the loader turns the typed rows into orders, order lines,
products, customers and stores. ``kind`` says how a value is parsed:
``text`` (trimmed, empty = missing), ``int``, ``money`` (decimal with at most
3 decimals, merchant currency) or ``datetime`` (date or date and time).
"""

from __future__ import annotations

from dataclasses import dataclass

from data.tables import AUTH_RESULTS


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text | int | money | datetime
    doc: str
    required: bool = False


FIELDS: tuple[Field, ...] = (
    Field("order_ref", "text", "Order or invoice number; lines with the same value form one order "
          "(orders.external_ref). An order_ref already loaded for the merchant is refused.", True),
    Field("order_ts", "datetime", "When the order was placed: a date or a date and time, merchant local "
          "time. An order takes the earliest time of its lines.", True),
    Field("sku", "text", "Product code (products.sku); a code the merchant does not have yet becomes a "
          "new product.", True),
    Field("quantity", "int", "Units on the line, never 0; negative only on return (or adjustment) "
          "documents and only when the mapping's negative_quantity rule allows it.", True),
    Field("unit_price", "money", "Price per unit before line discount. Required unless line_amount is "
          "given; then unit_price = line_amount / quantity rounded to 0.001."),
    Field("line_amount", "money", "quantity x unit_price - discount_amount. Stored as given; when the file "
          "also has unit_price the two must agree to half a cent per unit."),
    Field("line_no", "int", "Position of the line in its order. When mapped, (order_ref, line_no) must be "
          "unique; otherwise lines are numbered in file order."),
    Field("product_name", "text", "Product description (products.name); may be empty."),
    Field("category", "text", "Product category (products.category)."),
    Field("brand", "text", "Brand or supplier (products.brand)."),
    Field("unit_cost", "money", "Cost of goods per unit (order_lines.unit_cost); >= 0."),
    Field("discount_amount", "money", "Discount on the line, >= 0 (default 0)."),
    Field("order_type", "text", "`sale`, `return` or `adjustment`. When not mapped it is derived from the "
          "mapping's return_prefix / adjustment_prefix on order_ref, else `sale`."),
    Field("status", "text", "`completed` (default), `cancelled` or `returned`."),
    Field("customer_ref", "text", "The merchant's customer id (customers.external_id); empty means a guest "
          "checkout (orders.customer_id null)."),
    Field("customer_country", "text", "Country of the customer (customers.country) for new customers."),
    Field("gender", "text", "`female`, `male` or `other` (F, M, Female, Male accepted) for new customers."),
    Field("birth_year", "int", "Year of birth of the customer (1900 .. order year)."),
    Field("age", "int", "Age in years at order time (0-120); gives birth_year = year(order_ts) - age."),
    Field("store", "text", "Store or location name (stores.name); a new name becomes a new store of the "
          "mapping's store_kind."),
    Field("region", "text", "Region of the store, for new stores."),
    Field("city", "text", "City of the store, for new stores."),
    Field("channel", "text", "`web`, `app`, `store` or `marketplace`."),
    Field("payment_method", "text", "Payment method as recorded, lower-cased with underscores "
          "(`card`, `debit_card`, `cash`, `paypal`...)."),
    Field("shipping_country", "text", "Country shipped to (orders.shipping_country)."),
    Field("shipping_region", "text", "Region shipped to (orders.shipping_region)."),
    Field("merchant", "text", "Merchant id or name on each row; empty rows use the import command's merchant."),
    # Payment signals (schema 4): when any is mapped, each sale order gets one main.payments row.
    Field("card_fingerprint", "text", "A stable token of the card (the processor's fingerprint, a hash), one per "
          "order (payments.card_fingerprint). A card number (13-19 digits passing the Luhn check) is refused, "
          "never stored; the reject shows its last four digits only."),
    Field("device_id", "text", "The buyer's device identifier, one per order (payments.device_id); a card "
          "number is refused as above."),
    Field("ip_prefix", "text", "The buyer's IPv4 address or /24 prefix, one per order; only the /24 is kept "
          "(203.0.113.7 -> 203.0.113.0/24, payments.ip_prefix). IPv6 is refused for now."),
    Field("email_domain", "text", "The buyer's email address or its domain, one per order; only the lower-case "
          "domain is kept (Ann@Example.com -> example.com, payments.email_domain)."),
    Field("auth_result", "text", "The card authorisation answer, one per order: `approved` or "
          + ", ".join(f"`{a}`" for a in AUTH_RESULTS[1:]) + " (Stripe-style spellings such as `authorized`, "
          "`insufficient_funds`, `incorrect_cvc`, `card_declined` accepted). A declined order's payment is "
          "stored with status `declined` (card-testing attempts)."),
)

FIELDS_BY_NAME = {f.name: f for f in FIELDS}

ORDER_TYPES = ("sale", "return", "adjustment")
STATUSES = ("completed", "cancelled", "returned")
CHANNELS = ("web", "app", "store", "marketplace")
GENDERS = ("female", "male", "other")
STORE_KINDS = ("online", "store", "warehouse")

# Canonical text values accepted case-insensitively; keys are lower-case spellings seen in exports.
ENUMS: dict[str, dict[str, str]] = {
    "order_type": {v: v for v in ORDER_TYPES},
    "status": {v: v for v in STATUSES} | {"complete": "completed", "canceled": "cancelled"},
    "channel": {v: v for v in CHANNELS} | {"online": "web", "pos": "store"},
    "gender": {v: v for v in GENDERS} | {"f": "female", "m": "male", "woman": "female", "man": "male"},
    # auth_result is matched after lower-casing and turning spaces and punctuation into `_` (parse.slug).
    "auth_result": {v: v for v in AUTH_RESULTS} | {v.removeprefix("declined_"): v for v in AUTH_RESULTS[1:]} | {
        "authorized": "approved", "authorised": "approved", "success": "approved", "succeeded": "approved",
        "do_not_honour": "declined_do_not_honor", "incorrect_cvc": "declined_cvc", "invalid_cvc": "declined_cvc",
        "cvv": "declined_cvc", "incorrect_number": "declined_invalid_number", "invalid_card": "declined_invalid_number",
        "fraudulent": "declined_suspected_fraud", "declined": "declined_other", "card_declined": "declined_other",
        "generic_decline": "declined_other", "processor_error": "declined_processing_error",
        "gateway_error": "declined_processing_error"},
}
