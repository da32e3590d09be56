"""What a fraud reviewer reads about one payment: the payment, the histories of its customer, card and device,
the payments linked to it by card, device, IP prefix or email domain, and whether decisions agreed with the
chargebacks that arrived later.

Every read goes through ``data.access`` (the caller's merchant scope) and is narrowed again to the case's own
merchant: a card seen at two merchants links nothing across them. Payment ids travel as an Arrow table joined
in (up to FEW_IDS as an IN list of integers, checked as such); strings are bound as data, never pasted into SQL
text. Pure: polars frames out, no streamlit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import ibis
import polars as pl

from data.access import DataAccess

PAYMENT_COLUMNS = ("payment_id", "merchant_id", "order_id", "customer_id", "paid_ts", "amount", "method", "status",
                   "auth_result", "card_country", "billing_country", "ip_country", "shipping_country", "device",
                   "account_age_days", "card_fingerprint", "device_id", "ip_prefix", "email_domain", "chargeback",
                   "chargeback_date")
# What links two payments, in the order a reviewer weighs them, with the words a page shows.
LINKS = {"card_fingerprint": "card", "device_id": "device", "ip_prefix": "IP network", "email_domain": "email domain"}
HISTORIES = {"customer_id": "Customer", "card_fingerprint": "Card", "device_id": "Device"}
# An email domain shared by more payments than this (gmail.com) links a payment to strangers: it is named as
# too common instead. A card, device or /24 network is specific enough to link on.
COMMON_EMAIL_PAYMENTS = 50
LINKED_LIMIT = 200
HISTORY_LIMIT = 100
CHARGEBACK_WINDOW_DAYS = 90  # a payment without a chargeback counts as good only once this has passed


FEW_IDS = 100  # up to this many ids are a literal IN list (integers only); more travel as an Arrow table


def _ids_table(payment_ids: Iterable[int]) -> ibis.Table:
    ids = sorted({int(i) for i in payment_ids})
    return ibis.memtable(pl.DataFrame({"payment_id": ids}, schema={"payment_id": pl.Int64}))


def _with_ids(access: DataAccess, p: ibis.Table, payment_ids: Iterable[int]) -> ibis.Table:
    ids = sorted({int(i) for i in payment_ids})
    if len(ids) <= FEW_IDS:  # a case view's one payment: no table to register for it
        return p.filter(access.isin(p.payment_id, ids))
    return p.join(_ids_table(ids), "payment_id")


def compute_payments(access: DataAccess, payment_ids: Iterable[int]) -> pl.DataFrame:
    """The payments with these ids that the scope may see (others are simply absent): PAYMENT_COLUMNS."""
    rows = _with_ids(access, access.table("payments"), payment_ids).select(*PAYMENT_COLUMNS)
    return access.to_polars(rows.order_by("payment_id"))


def _same_merchant(access: DataAccess, payment: Mapping) -> ibis.Table:
    p = access.table("payments")
    return p.filter(p.merchant_id == int(payment["merchant_id"]))


def email_domain_is_common(access: DataAccess, payment: Mapping, limit: int = COMMON_EMAIL_PAYMENTS) -> bool:
    """Whether the payment's email domain is shared by more than ``limit`` payments of its merchant."""
    domain = payment.get("email_domain")
    if domain is None:
        return False
    p = _same_merchant(access, payment)
    return int(access.scalar(p.filter(access.equals(p.email_domain, domain)).count())) > limit


def compute_case_links(access: DataAccess, payment: Mapping, *, email_is_common: bool | None = None
                       ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """What a case view shows around a payment, from one read of the merchant's payments sharing any of its
    identities. Returns (summary, history, linked):

    - summary: one row per known identity of the customer, card and device, with ``identity`` ("Customer",
      "Card", "Device"), ``payments``, ``declined``, ``charged_back``, ``captured_amount`` (merchant currency),
      ``first_paid``, ``last_paid`` (the payment itself included);
    - history: their latest HISTORY_LIMIT payments, newest first, with ``shares`` (words: "customer, card")
      and ``this_payment`` (flag);
    - linked: other payments sharing its card, device, IP prefix or (an uncommon) email domain, nearest in time
      first, at most LINKED_LIMIT, with ``linked_by`` (words: "card, device"), ``links`` (how many signals are
      shared) and ``hours_apart`` (signed: negative = before).

    ``email_is_common``: email_domain_is_common's answer when the caller has it already."""
    shared = _linking(access, payment, email_is_common)
    known = _known(payment)
    wanted = {**known, **shared}
    rows = _sharing(access, payment, wanted) if wanted else compute_payments(access, [])
    linked = _linked_from(rows, payment, shared, LINKED_LIMIT) if shared else _no_links(rows)
    return (*_histories_from(rows, payment, known, HISTORY_LIMIT), linked)


def _linking(access: DataAccess, payment: Mapping, email_is_common: bool | None) -> dict:
    """The payment's identities that link it to others: an email domain only when it is not common."""
    shared = {c: payment.get(c) for c in LINKS if payment.get(c) is not None}
    if "email_domain" in shared:
        if email_is_common is None:
            email_is_common = email_domain_is_common(access, payment)
        if email_is_common:
            del shared["email_domain"]
    return shared


def _sharing(access: DataAccess, payment: Mapping, identities: Mapping) -> pl.DataFrame:
    """The merchant's payments sharing any of ``identities`` (column -> value), the payment itself included."""
    p = _same_merchant(access, payment)
    condition = None
    for column, value in identities.items():
        test = p[column] == int(value) if column == "customer_id" else access.equals(p[column], value)
        condition = test if condition is None else condition | test
    return access.to_polars(p.filter(condition).select(*PAYMENT_COLUMNS))


def _matching(identities: Mapping) -> pl.Expr:
    return pl.any_horizontal([pl.col(c) == pl.lit(v) for c, v in identities.items()]).fill_null(False)


def _linked_from(rows: pl.DataFrame, payment: Mapping, shared: Mapping, limit: int) -> pl.DataFrame:
    rows = rows.filter(_matching(shared) & (pl.col("payment_id") != int(payment["payment_id"])))
    if not rows.height:
        return _no_links(rows)
    at = payment["paid_ts"]
    matches = [pl.when(pl.col(c) == pl.lit(v)).then(pl.lit(LINKS[c])) for c, v in shared.items()]
    return (rows.with_columns(pl.concat_list(matches).list.drop_nulls().alias("_by"),
                              ((pl.col("paid_ts") - pl.lit(at)).dt.total_seconds() / 3600).alias("hours_apart"))
            .with_columns(pl.col("_by").list.join(", ").alias("linked_by"), pl.col("_by").list.len().cast(pl.Int64)
                          .alias("links"))
            .drop("_by")
            .sort([pl.col("hours_apart").abs(), "payment_id"])
            .head(limit))


def _no_links(payments: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(schema={**payments.schema, "linked_by": pl.Utf8, "links": pl.Int64, "hours_apart": pl.Float64})


SUMMARY_SCHEMA = {"identity": pl.Utf8, "payments": pl.Int64, "declined": pl.Int64, "charged_back": pl.Int64,
                  "captured_amount": pl.Float64, "first_paid": pl.Datetime("us"), "last_paid": pl.Datetime("us")}


def _known(payment: Mapping) -> dict:
    return {c: payment.get(c) for c in HISTORIES if payment.get(c) is not None}


def _histories_from(rows: pl.DataFrame, payment: Mapping, known: Mapping, limit: int) -> tuple[pl.DataFrame,
                                                                                               pl.DataFrame]:
    if not known:
        return pl.DataFrame(schema=SUMMARY_SCHEMA), pl.DataFrame()
    rows = rows.filter(_matching(known))
    summary = []
    for column, value in known.items():
        mine = rows.filter(pl.col(column) == value)
        summary.append({"identity": HISTORIES[column], "payments": mine.height,
                        "declined": mine.filter(pl.col("status") == "declined").height,
                        "charged_back": mine.filter(pl.col("chargeback")).height,
                        "captured_amount": float(mine.filter(pl.col("status") != "declined")["amount"].sum() or 0.0),
                        "first_paid": mine["paid_ts"].min(), "last_paid": mine["paid_ts"].max()})
    words = {"customer_id": "customer", "card_fingerprint": "card", "device_id": "device"}
    shares = [pl.when(pl.col(c) == pl.lit(v)).then(pl.lit(words[c])) for c, v in known.items()]
    listed = (rows.with_columns(pl.concat_list(shares).list.drop_nulls().list.join(", ").alias("shares"),
                                (pl.col("payment_id") == int(payment["payment_id"])).alias("this_payment"))
              .sort(["paid_ts", "payment_id"], descending=True).head(limit))
    return pl.DataFrame(summary, schema=SUMMARY_SCHEMA), listed


def compute_chargeback_agreement(access: DataAccess, decisions: pl.DataFrame, *, as_of: dt.datetime,
                                 window_days: int = CHARGEBACK_WINDOW_DAYS) -> pl.DataFrame:
    """Per reviewer, how their current approve and decline decisions compare with the chargebacks.

    ``decisions``: payment_id, merchant_id, reviewer, outcome, current (the store's decision log). A payment with
    a chargeback was fraud; one without, once ``window_days`` have passed since it was paid (by ``as_of``), was
    good; otherwise it is still open. Escalations and reversed decisions are left out. Columns: reviewer,
    ``judged`` (approve or decline, outcome known), ``agreed`` (declined fraud or approved good), ``agreement``
    (share, null when none judged), ``approved_charged_back``, ``declined_good``, ``pending``."""
    schema = {"reviewer": pl.Utf8, "judged": pl.Int64, "agreed": pl.Int64, "agreement": pl.Float64,
              "approved_charged_back": pl.Int64, "declined_good": pl.Int64, "pending": pl.Int64}
    kept = decisions.filter(pl.col("current") & pl.col("outcome").is_in(["approve", "decline"])).with_columns(
        pl.col("merchant_id").cast(pl.Int64))
    if not kept.height:
        return pl.DataFrame(schema=schema)
    p = access.table("payments")
    facts = access.to_polars(_with_ids(access, p, kept["payment_id"].to_list())
                             .select("payment_id", "merchant_id", "paid_ts", "chargeback")).with_columns(
        pl.col("merchant_id").cast(pl.Int64))
    cutoff = as_of.replace(tzinfo=None) - dt.timedelta(days=window_days)
    joined = kept.join(facts, on=["payment_id", "merchant_id"], how="inner").with_columns(
        pl.when(pl.col("chargeback")).then(pl.lit("fraud"))
        .when(pl.col("paid_ts") <= cutoff).then(pl.lit("good")).otherwise(pl.lit("pending")).alias("truth"))
    judged = pl.col("truth") != "pending"
    agreed = ((pl.col("outcome") == "decline") & (pl.col("truth") == "fraud")) | (
        (pl.col("outcome") == "approve") & (pl.col("truth") == "good"))
    out = joined.group_by("reviewer").agg(
        judged.sum().cast(pl.Int64).alias("judged"), (agreed & judged).sum().cast(pl.Int64).alias("agreed"),
        ((pl.col("outcome") == "approve") & (pl.col("truth") == "fraud")).sum().cast(pl.Int64)
        .alias("approved_charged_back"),
        ((pl.col("outcome") == "decline") & (pl.col("truth") == "good")).sum().cast(pl.Int64).alias("declined_good"),
        (~judged).sum().cast(pl.Int64).alias("pending"))
    return (out.with_columns(pl.when(pl.col("judged") > 0).then(pl.col("agreed") / pl.col("judged"))
                             .alias("agreement"))
            .select(list(schema)).sort("reviewer"))
