"""Importing payment signals (schema 4): card fingerprint, device, client IP, email and auth result.

No dataset in /work/shared/datasets has payment columns (Online Retail II and the Istanbul shopping data carry
no card, device, IP or email), so the files here are hand-written, hostile ones. A card number is refused with
its line and column named, and it reaches neither the warehouse nor the rejects report.
"""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from data.importers import Mapping, import_file, validate_file
from data.importers.signals import looks_like_card_number
from tests.import_support import fingerprint, target  # noqa: F401 (fixture)

COLUMNS = {"order_ref": "Order", "order_ts": "Date", "sku": "SKU", "quantity": "Qty", "unit_price": "Price",
           "customer_ref": "Customer", "payment_method": "Method", "status": "Status",
           "card_fingerprint": "Card token", "device_id": "Device", "ip_prefix": "Client IP",
           "email_domain": "Email", "auth_result": "Auth"}
MAPPING = Mapping(name="signals-shop", columns=COLUMNS)
HEADER = "Order,Date,SKU,Qty,Price,Customer,Method,Status,Card token,Device,Client IP,Email,Auth"
GOOD = [
    "S-1,2024-03-01 10:00,SKU-1,2,4.50,C-1,card,completed,tok_AAA111,dev-1,203.0.113.77,Ann.Lee@Example.COM,"
    "Authorized",
    "S-1,2024-03-01 10:00,SKU-2,1,12.00,C-1,card,completed,tok_AAA111,dev-1,203.0.113.77,ann.lee@example.com,"
    "approved",
    "S-2,2024-03-01 02:00,SKU-1,1,1.00,,card,cancelled,tok_BBB222,dev-9,198.51.100.0/24,mailinator.com,"
    "Insufficient Funds",
    "S-3,2024-03-01 02:01,SKU-1,1,1.00,,card,cancelled,tok_CCC333,dev-9,198.51.100.4,x@mailinator.com,incorrect_cvc",
    "S-4,2024-03-02 09:00,SKU-3,1,7.25,C-2,cash,completed,,,,,",
]
VISA_TEST = "4111 1111 1111 1111"  # Luhn-valid
AMEX_TEST = "378282246310005"  # Luhn-valid, 15 digits


def write(tmp_path, lines: list[str], name: str = "pay.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def luhn(number: str) -> bool:  # the textbook algorithm, independent of the vectorised one
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        total += (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
    return total % 10 == 0


def test_card_number_detector_agrees_with_the_textbook_luhn():
    rng = __import__("random").Random(5)
    values = [VISA_TEST, AMEX_TEST, "4111-1111-1111-1112", "tok_4111111111111111", "123456789012", "1" * 20]
    values += ["".join(rng.choice("0123456789") for _ in range(rng.randint(12, 20))) for _ in range(400)]
    got = pl.DataFrame({"v": values}).select(looks_like_card_number(pl.col("v")))["v"].to_list()
    want = [(13 <= len(v.replace(" ", "").replace("-", "")) <= 19 and v.replace(" ", "").replace("-", "").isdigit()
             and luhn(v)) for v in values]
    assert got == want
    assert got[:2] == [True, True] and sum(want) > 20


def test_signals_are_reduced_and_loaded_as_payments(target, tmp_path):  # noqa: F811
    path, merchant = target
    with duckdb.connect(str(path), read_only=True) as c:
        before = c.execute("SELECT coalesce(max(payment_id), 0), count(*) FROM main.payments").fetchall()[0]
    result = import_file(path, write(tmp_path, GOOD), mapping=MAPPING, merchant=merchant)
    assert result.status == "loaded", result.message
    with duckdb.connect(str(path), read_only=True) as c:
        got = pl.from_arrow(c.sql(
            "SELECT o.external_ref, o.net_amount, o.order_ts, p.* FROM main.payments p JOIN main.orders o "
            "USING (order_id) WHERE p.payment_id > ? ORDER BY o.external_ref", params=[before[0]]).to_arrow_table())
        assert c.execute("SELECT count(*) FROM main.payments").fetchall()[0][0] == before[1] + 3
    assert got["external_ref"].to_list() == ["S-1", "S-2", "S-3"]  # S-4 carries no signal: no payment row
    assert got["ip_prefix"].to_list() == ["203.0.113.0/24", "198.51.100.0/24", "198.51.100.0/24"]
    assert got["email_domain"].to_list() == ["example.com", "mailinator.com", "mailinator.com"]
    assert got["auth_result"].to_list() == ["approved", "declined_insufficient_funds", "declined_cvc"]
    assert got["status"].to_list() == ["captured", "declined", "declined"]
    assert got["card_fingerprint"].to_list() == ["tok_AAA111", "tok_BBB222", "tok_CCC333"]
    assert got["device_id"].to_list() == ["dev-1", "dev-9", "dev-9"]
    assert (got["amount"] == got["net_amount"]).all() and (got["paid_ts"] == got["order_ts"]).all()
    assert got["method"].to_list() == ["card"] * 3 and not got["chargeback"].any()
    assert got["customer_id"][0] is not None and got["customer_id"][1] is None


@pytest.mark.parametrize("line, column, reason", [
    (f"S-9,2024-03-01 10:00,SKU-1,1,4.50,C-1,card,completed,{VISA_TEST},dev-1,203.0.113.7,a@b.com,approved",
     "Card token", "looks like a full card number"),
    (f"S-9,2024-03-01 10:00,SKU-1,1,4.50,C-1,card,completed,tok_1,{AMEX_TEST},203.0.113.7,a@b.com,approved",
     "Device", "looks like a full card number"),
    ("S-9,2024-03-01 10:00,SKU-1,1,4.50,C-1,card,completed,tok_1,d,203.0.113.300,a@b.com,approved",
     "Client IP", "0-255"),
    ("S-9,2024-03-01 10:00,SKU-1,1,4.50,C-1,card,completed,tok_1,d,2001:db8::1,a@b.com,approved",
     "Client IP", "IPv6"),
    ("S-9,2024-03-01 10:00,SKU-1,1,4.50,C-1,card,completed,tok_1,d,10.0.0.1,not an email,approved",
     "Email", "not an email address"),
    ("S-9,2024-03-01 10:00,SKU-1,1,4.50,C-1,card,completed,tok_1,d,10.0.0.1,a@b.com,<script>x</script>",
     "Auth", "unknown auth_result"),
])
def test_hostile_values_are_refused_naming_line_and_column(target, tmp_path, line, column, reason):  # noqa: F811
    path, merchant = target
    before = fingerprint(path)
    bad = write(tmp_path, [GOOD[0], line])
    result = import_file(path, bad, mapping=MAPPING, merchant=merchant)
    result.write_rejects_csv(tmp_path / "rejects.csv")
    assert result.status == "refused"
    assert fingerprint(path) == before  # nothing written
    hit = result.rejects.filter(pl.col("line") == 3)
    assert hit.height == 1 and hit["column"][0] == column and reason in hit["reason"][0]
    assert "line 3" in result.message and column in result.message
    # The card number is in no message, reject or report: only its last four digits.
    for number in (VISA_TEST, AMEX_TEST):
        for text in (result.message, str(result.rejects.to_dicts()), (tmp_path / "rejects.csv").read_text()):
            assert number not in text and number.replace(" ", "") not in text


def test_card_number_rejects_show_the_last_four_digits_only(tmp_path):
    line = f"S-9,2024-03-01 10:00,SKU-1,1,4.50,C-1,card,completed,{VISA_TEST},dev-1,203.0.113.7,a@b.com,approved"
    report = validate_file(write(tmp_path, [line]), mapping=MAPPING)
    assert report.rejects["value"].to_list() == ["(card number ending 1111)"]
    assert report.rows.is_empty()


def test_one_order_has_one_card_device_and_auth_result(target, tmp_path):  # noqa: F811
    path, merchant = target
    clash = GOOD[1].replace("tok_AAA111", "tok_OTHER")
    result = import_file(path, write(tmp_path, [GOOD[0], clash]), mapping=MAPPING, merchant=merchant)
    assert result.status == "refused"
    hit = result.rejects.filter(pl.col("column") == "Card token")
    assert hit["line"].to_list() == [3] and "order S-1 has card_fingerprint tok_AAA111 on line 2" in hit["reason"][0]
