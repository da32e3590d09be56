"""Bad and hostile mappings (security item 7, imports item 1): one clear message, never a traceback,
never a change to any table; column names in a mapping are literal text, never regular expressions.

The same corpus runs through the command line (`python -m data import --mapping`) and through the Data
page's import form under AppTest, with every table fingerprinted before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.importers import Mapping, MappingError, load_mapping, validate_file
from tests.import_support import (BASE_COLUMNS, BASE_CSV, build_tiny_warehouse, data_page,  # noqa: F401 (fixture)
                                  fingerprint, submit)

ROOT = Path(__file__).resolve().parents[1]
GOOD_COLUMNS = "\n".join(f'{k} = "{v}"' for k, v in BASE_COLUMNS.items())

# (case id, mapping TOML, words the one message must contain)
HOSTILE: list[tuple[str, str, tuple[str, ...]]] = [
    ("bad toml", "[columns\norder_ref = 'Order'\n", ("not valid TOML", "line 1")),
    ("not utf-8", "name = '\xff'\n", ("not valid TOML",)),
    ("unknown section", "[colums]\norder_ref = 'Order'\n", ("unknown key 'colums'", "columns")),
    ("unknown field", "[columns]\norder_number = 'Order'\n", ("unknown field 'order_number'", "order_ref")),
    ("unknown rule", f"[columns]\n{GOOD_COLUMNS}\n[rules]\nnegative_qty = 'returns'\n",
     ("unknown key 'negative_qty'", "negative_quantity")),
    ("bad choice", f"[columns]\n{GOOD_COLUMNS}\n[rules]\nnegative_quantity = 'sometimes'\n",
     ("negative_quantity", "returns_and_adjustments")),
    ("delimiter number", f"[columns]\n{GOOD_COLUMNS}\n[file]\ndelimiter = 5\n", ("delimiter", "one character")),
    ("delimiter long", f"[columns]\n{GOOD_COLUMNS}\n[file]\ndelimiter = ';;'\n", ("delimiter", "one character")),
    ("encoding", f"[columns]\n{GOOD_COLUMNS}\n[file]\nencoding = 'klingon'\n", ("encoding", "latin-1")),
    ("encoding number", f"[columns]\n{GOOD_COLUMNS}\n[file]\nencoding = 8\n", ("encoding",)),
    ("date format", f"[columns]\n{GOOD_COLUMNS}\n[dates]\nformat = 'dd/mm/yyyy'\n", ("format", "% directive")),
    ("date format number", f"[columns]\n{GOOD_COLUMNS}\n[dates]\nformat = 5\n", ("format", "strftime")),
    ("min date", f"[columns]\n{GOOD_COLUMNS}\n[dates]\nmin = 'yesterday'\n", ("min", "2015-01-01")),
    ("max before min", f"[columns]\n{GOOD_COLUMNS}\n[dates]\nmin = 2024-01-01\nmax = 2020-01-01\n",
     ("max", "before min")),
    ("bad regex", f"[columns]\n{GOOD_COLUMNS}\n[rules]\nnon_merchandise_pattern = '('\n",
     ("non_merchandise_pattern", "regular expression")),
    ("column number", "[columns]\norder_ref = 3\n", ("[columns] order_ref", "column name")),
    ("values not table", f"[columns]\n{GOOD_COLUMNS}\n[values]\ngender = 'x'\n", ("values.gender", "table")),
    ("constant list", f"[columns]\n{GOOD_COLUMNS}\n[constants]\nchannel = ['web']\n", ("[constants] channel",)),
    ("unknown preset", "preset = 'nope'\n", ("preset", "online_retail_ii")),
    ("sheet negative", f"[columns]\n{GOOD_COLUMNS}\n[file]\nsheet = -1\n", ("sheet", "number from 0")),
    ("day_first text", f"[columns]\n{GOOD_COLUMNS}\n[dates]\nday_first = 'yes'\n", ("day_first", "true or false")),
    ("number format", f"[columns]\n{GOOD_COLUMNS}\n[file]\nnumber_format = '1,234,56'\n",
     ("number_format", "1.234,56")),
    ("return prefix number", f"[columns]\n{GOOD_COLUMNS}\n[rules]\nreturn_prefix = 7\n", ("return_prefix",)),
    ("section not table", f"[columns]\n{GOOD_COLUMNS}\n", ("rules",)),  # replaced below: rules = 'x'
    ("regex everything", "[columns]\n" + GOOD_COLUMNS.replace('"Qty"', '"^.*$"') + "\n",
     ("'^.*$'", "missing")),
    ("regex prefix", "[columns]\n" + GOOD_COLUMNS.replace('"Qty"', '"^Q.*$"') + "\n", ("'^Q.*$'", "missing")),
]
HOSTILE[23] = ("section not table", f"rules = 'x'\n[columns]\n{GOOD_COLUMNS}\n", ("[rules]", "table"))
IDS = [c[0] for c in HOSTILE]


def write_case(tmp_path: Path, toml: str) -> tuple[Path, Path]:
    mapping = tmp_path / "hostile.toml"
    mapping.write_bytes(toml.encode("latin-1") if "\xff" in toml else toml.encode())
    data = tmp_path / "orders.csv"
    data.write_text(BASE_CSV)
    return mapping, data


def test_corpus_is_large_enough():
    assert len(HOSTILE) >= 15 and len(set(IDS)) == len(IDS)


@pytest.mark.parametrize(("case", "toml", "needles"), HOSTILE, ids=IDS)
def test_cli_gives_one_clear_line_and_changes_nothing(case, toml, needles, tmp_path):
    wh = tmp_path / "w.duckdb"
    build_tiny_warehouse(wh)
    mapping, data = write_case(tmp_path, toml)
    before = fingerprint(wh)
    out = subprocess.run([sys.executable, "-m", "data", "import", str(data), "--mapping", str(mapping),
                          "--merchant", "1", "--warehouse", str(wh)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    if "missing" not in needles:  # a file-level refusal also prints its one-row reject table
        assert len(lines) == 1, out.stderr
    message = " ".join(lines)
    for needle in needles:
        assert needle in message, (needle, message)
    assert fingerprint(wh) == before


@pytest.mark.parametrize("args, needle", [
    (["--mapping", "MISSING"], "does not exist"),
    (["--mapping", "GOOD", "--preset", "online_retail_ii"], "not both"),
    (["--preset", "no_such_preset"], "choose one of online_retail_ii, customer_shopping"),
])
@pytest.mark.parametrize("command", ["import", "validate"])
def test_cli_mapping_choice_errors_exit_2(command, args, needle, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(f"[columns]\n{GOOD_COLUMNS}\n")
    data = tmp_path / "orders.csv"
    data.write_text(BASE_CSV)
    args = [str(tmp_path / "missing.toml") if a == "MISSING" else str(good) if a == "GOOD" else a for a in args]
    head = ["import", str(data)] if command == "import" else ["validate", "--file", str(data)]
    out = subprocess.run([sys.executable, "-m", "data", *head, *args, "--warehouse", str(tmp_path / "w.duckdb")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr, out.stderr


def test_mapping_column_names_are_literal(tmp_path):
    """quantity = "^q.*$" reads the column of that name, never another one the pattern would match."""
    f = tmp_path / "f.csv"
    f.write_text("Order,Date,SKU,Price,qty,^q.*$,^.*$\n"
                 "O-1,2024-03-01,S-1,4.50,99,2,7\n")
    base = {"order_ref": "Order", "order_ts": "Date", "sku": "SKU", "unit_price": "Price"}
    report = validate_file(f, mapping=Mapping(columns=base | {"quantity": "^q.*$"}, extra_columns="ignore"))
    assert report.ok, report.message
    assert report.rows["quantity"].to_list() == [2]
    report = validate_file(f, mapping=Mapping(columns=base | {"quantity": "^.*$"}, extra_columns="ignore"))
    assert report.ok and report.rows["quantity"].to_list() == [7]
    missing = validate_file(f, mapping=Mapping(columns=base | {"quantity": "^Q.*"}))
    assert missing.fatal and "'^Q.*' (mapped to quantity) is missing" in missing.fatal


def test_parquet_column_named_like_a_regex_is_literal(tmp_path):
    import polars as pl

    f = tmp_path / "f.parquet"
    pl.DataFrame({"order_ref": ["O-1"], "order_ts": ["2024-03-01"], "sku": ["S"], "unit_price": [1.5],
                  "quantity": [3], "^.*$": [1.25]}).write_parquet(f)
    report = validate_file(f)
    assert report.ok, report.message
    assert report.rows["quantity"].to_list() == [3]


def test_every_hostile_mapping_raises_mapping_error_in_python(tmp_path):
    for case, toml, _ in HOSTILE:
        if case.startswith("regex"):
            continue  # valid mappings that name a column the file does not have
        mapping, _ = write_case(tmp_path, toml)
        with pytest.raises(MappingError):
            load_mapping(mapping)


# ---------------------------------------------------------------------------------------------- Data page

def test_data_page_asks_for_a_mapping_instead_of_crashing(data_page):
    at, state = data_page
    before = state()
    shown = submit(at, BASE_CSV.encode(), None)
    assert any("upload a mapping file" in m for m in shown), shown
    assert state() == before


def test_data_page_every_error_path_of_the_form(data_page):
    at, state = data_page
    before = state()
    at.file_uploader(key="imp_file").set_value(None)
    at.run(timeout=60)
    assert at.button(key="imp_go").disabled  # no file: nothing to press
    good = f"[columns]\n{GOOD_COLUMNS}\n".encode()
    new = "+ New merchant..."
    cases = [
        (dict(imp_merchant=new), "A new merchant needs a name"),
        (dict(imp_merchant=new, imp_new_name="Shop", imp_new_country="gbr", imp_new_currency="GBP"),
         "country must be ISO 3166 alpha-2"),
        (dict(imp_merchant=new, imp_new_name="Shop", imp_new_country="GB", imp_new_currency="pounds"),
         "currency must be ISO 4217"),
    ]
    for choices, needle in cases:
        shown = submit(at, BASE_CSV.encode(), good, **choices)
        assert any(needle in m for m in shown), (needle, shown)
        assert state() == before
    shown = submit(at, b"Order,Date\n", good, imp_merchant="Gift Shop (merchant 1)")
    assert any("refused, nothing written" in m for m in shown), shown
    assert state() == before


def test_data_page_hostile_mapping_corpus(data_page):
    at, state = data_page
    before = state()
    for case, toml, needles in HOSTILE:
        mapping = toml.encode("latin-1") if "\xff" in toml else toml.encode()
        shown = submit(at, BASE_CSV.encode(), mapping)
        problems = [m for m in shown if any(n in m for n in needles)]
        assert len(problems) == 1, (case, shown)
        assert "/tmp" not in problems[0] and "Traceback" not in problems[0], problems[0]
        assert state() == before, case
