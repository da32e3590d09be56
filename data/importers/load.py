"""The load: canonical rows into the warehouse in one DuckDB transaction, all or nothing.

Inside one transaction: if the import_id is already in main.imports nothing
happens (a retry after a crash between commit and acknowledgement is
harmless); the merchant is resolved (or created when asked); orders already
loaded for the merchant are refused (or skipped in ``skip`` mode); natural keys
become surrogate keys (stores by name, customers by external_id, products by
sku; new rows get max + 1, ...); orders, order lines, payments (when the file carries payment signals) and the main.imports row
are inserted, the merchants' daily rollups rebuilt (data.rollups) and
data.schema.bump_data_version is called. Any exception rolls
everything back.

Rows reach DuckDB only as Arrow tables registered on the connection, never
through file-reading SQL, so this works on the dashboard's hardened connection
(enable_external_access = false).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

import duckdb
import polars as pl

from data import rollups, schema
from data.importers import build
from data.importers.report import COLLATERAL_PREFIX, REJECT_SCHEMA, empty_rejects, first_problems, plural

MODES = ("refuse", "skip")
MULTI_SUFFIX = "#m"  # main.imports.import_id of one merchant's part of a multi-merchant load
_view_ids = itertools.count()


@dataclass(frozen=True)
class MerchantSpec:
    """Which merchant the rows belong to: an id or name, and/or (name, country, currency) to create it."""

    ref: str | int | None = None
    create: tuple[str, str, str] | None = None
    multi: bool = False  # rows may name other merchants (an admin asked for a multi-merchant load)

    def __post_init__(self) -> None:
        if self.create is not None:
            if len(self.create) != 3:
                raise ValueError(f"create_merchant must be (name, country, currency), got {self.create!r}")
            name, country, currency = self.create
            if not str(name).strip():
                raise ValueError("create_merchant: the name is empty")
            if str(name).strip().isdigit():
                # A name like "7" would later read as merchant id 7 (another tenant): never allowed.
                raise ValueError(f"create_merchant: the name {str(name).strip()!r} is only digits, which reads as "
                                 "a merchant id; give a name with a letter in it (e.g. 'Shop 7')")
            if not (isinstance(country, str) and len(country) == 2 and country.isalpha() and country.isupper()):
                raise ValueError(f"create_merchant: country must be ISO 3166 alpha-2 like 'GB', got {country!r}")
            if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()
                    and currency.isupper()):
                raise ValueError(f"create_merchant: currency must be ISO 4217 like 'GBP', got {currency!r}")
            object.__setattr__(self, "create", (str(name).strip(), country, currency))

    @property
    def default_ref(self) -> str | int | None:
        return self.ref if self.ref is not None else (self.create[0] if self.create else None)

    def to_json(self) -> dict:
        return {"ref": self.ref, "create": list(self.create) if self.create else None, "multi": self.multi}

    @classmethod
    def from_json(cls, doc: dict) -> MerchantSpec:
        create = doc.get("create")
        return cls(doc.get("ref"), tuple(create) if create else None, bool(doc.get("multi", False)))


@dataclass
class LoadOutcome:
    status: str  # loaded | already | refused
    message: str
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    merchant_id: int | None = None
    data_version: int | None = None
    per_merchant: list[tuple[int, str, int]] = field(default_factory=list)  # (merchant id, name, lines)


class _Refused(Exception):
    def __init__(self, message: str, rejects: pl.DataFrame | None = None):
        super().__init__(message)
        self.rejects = rejects if rejects is not None else empty_rejects()


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    """Execute and drain the result: DuckDB 2 refuses register() while a result is unfinished."""
    return con.execute(sql, params or []).fetchall()


def _register(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> str:
    name = f"_rp_import_{next(_view_ids)}"
    con.register(name, frame.to_arrow())
    return name


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.is_empty():
        return
    view = _register(con, frame)
    try:
        _run(con, f"INSERT INTO {table} BY NAME SELECT * FROM {view}")  # names are our own constants
    finally:
        con.unregister(view)


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None,
           frame: pl.DataFrame | None = None) -> pl.DataFrame:
    """Run ``sql``; ``{v}`` in it names ``frame`` registered as a view for the duration."""
    view = _register(con, frame) if frame is not None else None
    try:
        return pl.from_arrow(con.sql(sql.format(v=view), params=params).to_arrow_table())
    finally:
        if view:
            con.unregister(view)


def _max_id(con: duckdb.DuckDBPyConnection, table: str, col: str) -> int:
    return int(_run(con, f"SELECT coalesce(max({col}), 0) FROM main.{table}")[0][0])


def parse_ref(ref: str | int) -> tuple[str, int | str]:
    """("id", n) or ("name", text) for a merchant reference; the one rule for the CLI, the API and merchant columns.

    An int or a text of digits is always an id (never a name: a merchant named "7" once received
    merchant 7's rows); ``name:TEXT`` is always a name; any other text is a name (it cannot be an id).
    """
    if isinstance(ref, int):
        return "id", ref
    text = str(ref).strip()
    if text[:5].lower() == "name:":
        return "name", text[5:].strip()
    if text.isdigit():
        return "id", int(text)
    return "name", text


def _find_by_name(merchants: pl.DataFrame, text: str) -> int | None:
    hit = merchants.filter(pl.col("name") == text)
    if hit.height == 0:
        hit = merchants.filter(pl.col("name").str.to_lowercase() == text.lower())
    if hit.height > 1:
        ids = ", ".join(str(i) for i in hit["merchant_id"].sort())
        raise _Refused(f"merchant name {text!r} is shared by merchants {ids}; pass the merchant id instead")
    return int(hit["merchant_id"][0]) if hit.height == 1 else None


def _find_merchant(merchants: pl.DataFrame, ref: str | int) -> int | None:
    """Merchant id for a reference (see parse_ref): an id, or a name (exact, else case-insensitive); None if unknown.

    A name shared by several merchants is refused: the id must be given then.
    """
    kind, value = parse_ref(ref)
    if kind == "id":
        hit = merchants.filter(pl.col("merchant_id") == value)
        return int(value) if hit.height else None
    return _find_by_name(merchants, value)


def _resolve_merchants(con, rows: pl.DataFrame, spec: MerchantSpec, now: dt.datetime, label: str) -> tuple[
        pl.DataFrame, int | None, pl.DataFrame]:
    """(rows with merchant_id, the default merchant id, rejects for rows naming an unknown merchant)."""
    merchants = _query(con, "SELECT merchant_id, name, country, currency FROM main.merchants")
    default_id = None
    ref = spec.ref
    if ref is not None or spec.create is not None:
        default_id = _find_merchant(merchants, ref) if ref is not None else None
        if default_id is None and spec.create is not None:
            default_id = _find_by_name(merchants, spec.create[0])  # created by name, never read as an id
        if default_id is not None and spec.create is not None:
            row = merchants.filter(pl.col("merchant_id") == default_id).row(0, named=True)
            same_name = row["name"].lower() == spec.create[0].lower()
            if same_name and (row["country"], row["currency"]) != spec.create[1:]:
                raise _Refused(f"merchant {row['name']!r} exists with country {row['country']} and currency "
                               f"{row['currency']}, not {spec.create[1]} / {spec.create[2]}")
        if default_id is None and spec.create is not None:
            default_id = _max_id(con, "merchants", "merchant_id") + 1
            name, country, currency = spec.create
            _run(con, "INSERT INTO main.merchants (merchant_id, name, country, currency, created_at) "
                 "VALUES (?, ?, ?, ?, ?)", [default_id, name, country, currency, now])
            merchants = pl.concat([merchants, pl.DataFrame(
                {"merchant_id": [default_id], "name": [name], "country": [country], "currency": [currency]},
                schema=merchants.schema)])
        if default_id is None:
            known = ", ".join(f"{r['merchant_id']} {r['name']!r}" for r in merchants.head(10).iter_rows(named=True))
            raise _Refused(f"unknown merchant {ref!r} (known: {known or 'none'}); --merchant takes an id or "
                           "name:NAME; to create it pass --create-merchant 'Name,COUNTRY,CURRENCY' (on the Data "
                           "page: + New merchant...)")
    refs = rows["merchant"].drop_nulls().unique().to_list()
    resolved = pl.DataFrame({"merchant": refs, "_mid": [_find_merchant(merchants, r) for r in refs]},
                            schema={"merchant": pl.Utf8, "_mid": pl.Int32})
    rows = rows.join(resolved, on="merchant", how="left", maintain_order="left")
    if default_id is None and not spec.multi:
        raise _Refused("no merchant given to the import: pass --merchant ID (or name:NAME) or --create-merchant "
                       "'Name,COUNTRY,CURRENCY' (a file whose rows name several merchants needs --multi-merchant)")
    if default_id is None and rows["merchant"].null_count():
        line = rows.filter(pl.col("merchant").is_null())["line"][0]
        raise _Refused(f"no merchant for line {line} ({label} is empty) and no merchant given to the import: "
                       "pass --merchant ID (or name:NAME) or --create-merchant 'Name,COUNTRY,CURRENCY'")
    rows = rows.with_columns(pl.when(pl.col("merchant").is_null()).then(pl.lit(default_id))
                             .otherwise(pl.col("_mid")).cast(pl.Int32).alias("merchant_id")).drop("_mid")
    unknown = rows.filter(pl.col("merchant_id").is_null()).select(
        "line", pl.lit(label).alias("column"), pl.col("merchant").alias("value"),
        pl.lit("unknown merchant").alias("reason"))
    rejects = [unknown.cast(REJECT_SCHEMA)]
    if not spec.multi:
        # Tenant isolation: an import for one merchant never writes another merchant's rows.
        names = dict(zip(merchants["merchant_id"].to_list(), merchants["name"].to_list(), strict=True))
        other = rows.filter(pl.col("merchant_id").is_not_null() & (pl.col("merchant_id") != default_id))
        rejects.append(other.select(
            "line", pl.lit(label).alias("column"), pl.col("merchant").alias("value"),
            pl.format("names merchant {} '{}', but this import is for merchant {} '{}'; only a multi-merchant "
                      "import (--multi-merchant, or the Data page's multi-merchant option) writes rows of "
                      "several merchants", pl.col("merchant_id"),
                      pl.col("merchant_id").replace_strict(names, default="?", return_dtype=pl.Utf8),
                      pl.lit(default_id), pl.lit(names.get(default_id, "?"))).alias("reason"),
        ).cast(REJECT_SCHEMA))
    return rows, default_id, pl.concat(rejects)


def _already_loaded(con, rows: pl.DataFrame, label: str) -> pl.DataFrame:
    refs = rows.filter(pl.col("merchant_id").is_not_null()).select("merchant_id", "order_ref").unique()
    if refs.is_empty():
        return empty_rejects()
    hits = _query(con, "SELECT DISTINCT f.merchant_id, f.order_ref FROM {v} f JOIN main.orders o "
                       "ON o.merchant_id = f.merchant_id AND o.external_ref = f.order_ref", frame=refs)
    if hits.is_empty():
        return empty_rejects()
    return (rows.join(hits.cast({"merchant_id": pl.Int32}), on=["merchant_id", "order_ref"], how="semi")
            .select("line", pl.lit(label).alias("column"), pl.col("order_ref").alias("value"),
                    pl.format("order {} is already in the warehouse for merchant {}", pl.col("order_ref"),
                              pl.col("merchant_id")).alias("reason"))
            .cast(REJECT_SCHEMA))


def _existing_keys(con, wanted: pl.DataFrame, table: str, id_col: str, natural: str,
                   ref_col: str) -> pl.DataFrame:
    sql = (f"SELECT t.{id_col}, t.merchant_id, t.{natural} AS {ref_col} FROM main.{table} t "
           f"JOIN (SELECT DISTINCT merchant_id, {ref_col} FROM {{v}}) w "
           f"ON t.merchant_id = w.merchant_id AND t.{natural} = w.{ref_col}")
    out = _query(con, sql, frame=wanted.select("merchant_id", ref_col))
    return out.cast({"merchant_id": pl.Int32})


def _write(con, rows: pl.DataFrame) -> None:
    """Insert stores, customers, products, orders, payments and lines for ``rows`` (merchant_id resolved)."""
    stores = build.store_rows(rows)
    if stores.height:
        existing = _query(con, "SELECT store_id, merchant_id, name AS store FROM main.stores").cast(
            {"merchant_id": pl.Int32})
        keys, new = build.new_keys(stores, existing, ["merchant_id", "store"], "store_id",
                                   _max_id(con, "stores", "store_id"), pl.Int32)
        _insert(con, "main.stores", new.select("store_id", "merchant_id", pl.col("store").alias("name"),
                                               pl.col("store_kind").alias("kind"), "region", "city"))
        rows = rows.join(keys, on=["merchant_id", "store"], how="left", maintain_order="left")
    else:
        rows = rows.with_columns(pl.lit(None, dtype=pl.Int32).alias("store_id"))
    customers = build.customer_rows(rows)
    if customers.height:
        existing = _existing_keys(con, customers, "customers", "customer_id", "external_id", "customer_ref")
        keys, new = build.new_keys(customers, existing, ["merchant_id", "customer_ref"], "customer_id",
                                   _max_id(con, "customers", "customer_id"), pl.Int64)
        _insert(con, "main.customers", new.select(
            "customer_id", "merchant_id", pl.col("customer_ref").alias("external_id"),
            pl.col("customer_country").alias("country"), "gender", "birth_year"))
        rows = rows.join(keys, on=["merchant_id", "customer_ref"], how="left", maintain_order="left")
    else:
        rows = rows.with_columns(pl.lit(None, dtype=pl.Int64).alias("customer_id"))
    products = build.product_rows(rows)
    existing = _existing_keys(con, products, "products", "product_id", "sku", "sku")
    keys, new = build.new_keys(products, existing, ["merchant_id", "sku"], "product_id",
                               _max_id(con, "products", "product_id"), pl.Int64)
    _insert(con, "main.products", new.select(
        "product_id", "merchant_id", "sku", pl.col("product_name").alias("name"), "category", "brand",
        "price", "unit_cost", "is_merchandise"))
    rows = rows.join(keys, on=["merchant_id", "sku"], how="left", maintain_order="left")
    orders = build.order_rows(rows)
    start = _max_id(con, "orders", "order_id")
    orders = orders.with_columns((pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + start).alias("order_id"))
    _insert(con, "main.orders", orders.select(
        "order_id", "merchant_id", pl.col("order_ref").alias("external_ref"), "store_id", "customer_id",
        "order_ts", "order_type", "status", "channel", "payment_method", "gross_amount", "discount_amount",
        "shipping_amount", "net_amount", "shipping_region", "shipping_country"))
    _insert(con, "main.payments", build.payment_rows(orders, _max_id(con, "payments", "payment_id")))
    lines = rows.join(orders.select("merchant_id", "order_ref", "order_id"), on=["merchant_id", "order_ref"],
                      how="left", maintain_order="left")
    _insert(con, "main.order_lines", lines.select(
        "order_id", "line_no", "merchant_id", "product_id", "quantity", "unit_price", "discount_amount",
        "line_amount", "unit_cost"))


def _drop_orders(rows: pl.DataFrame, rejects: pl.DataFrame, label: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Skip mode: remove every order touched by a reject; its other lines become collateral rejects."""
    bad = rows.filter(pl.col("line").is_in(rejects["line"].implode()))
    orders = bad.group_by("merchant", "order_ref").agg(pl.col("line").min().alias("_bad_line"))
    marked = rows.join(orders, on=["merchant", "order_ref"], how="left", nulls_equal=True,
                       maintain_order="left")
    collateral = marked.filter(pl.col("_bad_line").is_not_null() & ~pl.col("line").is_in(rejects["line"].implode()))
    extra = collateral.select("line", pl.lit(label).alias("column"), pl.col("order_ref").alias("value"),
                              pl.format(COLLATERAL_PREFIX + " {} was rejected (line {})", pl.col("order_ref"),
                                        pl.col("_bad_line")).alias("reason")).cast(REJECT_SCHEMA)
    kept = marked.filter(pl.col("_bad_line").is_null()).drop("_bad_line")
    return kept, pl.concat([rejects, extra]).sort("line")


def _refusal(rows: pl.DataFrame, rejects: pl.DataFrame, dups: pl.DataFrame, line_word: str) -> str:
    head = plural(rejects["line"].n_unique(), line_word) + " refused"
    if dups.height:
        n_dup, n_all = dups["value"].n_unique(), rows["order_ref"].n_unique()
        if n_dup == n_all:
            head += f" - all {plural(n_all, 'order')} of the file are already in the warehouse " \
                    "(was this file imported before?)"
        else:
            head += f" - {n_dup:,} of {plural(n_all, 'order')} are already in the warehouse"
    return f"{head}: " + first_problems(rejects, line_word)


def load_rows(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, import_id: str, merchant: MerchantSpec,
              mode: str = "refuse", source: str, preset: str | None, rows_rejected: int = 0,
              line_word: str = "line", labels: dict[str, str] | None = None) -> LoadOutcome:
    """Load validated canonical rows (validate.CANONICAL_SCHEMA) in one transaction; see the module doc.

    ``rows_rejected`` is what validation already skipped (recorded in main.imports);
    ``labels`` maps canonical fields to the file's column names for the rejects.
    Returns a LoadOutcome: status ``loaded``, ``already`` (import_id was committed
    before; nothing done) or ``refused`` (rolled back, rejects say why).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _run(con, "BEGIN TRANSACTION")
    try:
        found = _run(con, "SELECT min(merchant_id), sum(rows_loaded), sum(rows_rejected), max(loaded_at) "
                          "FROM main.imports WHERE import_id = ? OR starts_with(import_id, ?) HAVING count(*) > 0",
                     [import_id, import_id + MULTI_SUFFIX])
        if found:
            done = found[0]
            _run(con, "ROLLBACK")
            return LoadOutcome("already", f"import {import_id} was already loaded at {done[3]:%Y-%m-%d %H:%M} "
                               f"UTC ({int(done[1]):,} lines); nothing done", rows_loaded=int(done[1]),
                               rows_rejected=int(done[2]), merchant_id=done[0])
        labels = labels or {}
        ref_label = labels.get("order_ref", "order_ref")
        rows, default_id, rejects = _resolve_merchants(con, rows, merchant, now, labels.get("merchant", "merchant"))
        dups = _already_loaded(con, rows, ref_label)
        rejects = pl.concat([rejects, dups]).sort("line")
        if rejects.height:
            if mode == "refuse":
                raise _Refused(_refusal(rows, rejects, dups, line_word), rejects)
            rows, rejects = _drop_orders(rows, rejects, ref_label)
        if rows.is_empty():
            raise _Refused("nothing left to load" + (": " + first_problems(rejects, line_word)
                                                     if rejects.height else ""), rejects)
        _write(con, rows)
        rejected = rows_rejected + int(rejects["line"].n_unique())
        per_merchant = _log_import(con, rows, import_id, source, preset, rejected, now)
        log_merchant = default_id if default_id is not None else per_merchant[0][0]
        rollups.refresh(con, [m for m, _, _ in per_merchant])  # same transaction: rollups match the rows
        version = schema.bump_data_version(con)
        _run(con, "COMMIT")
    except _Refused as exc:
        _run(con, "ROLLBACK")
        return LoadOutcome("refused", str(exc), rows_rejected=rows_rejected + int(exc.rejects["line"].n_unique()),
                           rejects=exc.rejects)
    except BaseException:
        try:
            _run(con, "ROLLBACK")
        except duckdb.Error:
            pass  # the transaction is already gone (connection closed or failed); nothing was committed
        raise
    return LoadOutcome("loaded", f"{rows.height:,} lines loaded", rows_loaded=rows.height,
                       rows_rejected=rejected, rejects=rejects, merchant_id=log_merchant, data_version=version,
                       per_merchant=per_merchant)


def _log_import(con, rows: pl.DataFrame, import_id: str, source: str, preset: str | None, rejected: int,
                now: dt.datetime) -> list[tuple[int, str, int]]:
    """main.imports rows: one per merchant written, so each says truly what its merchant got.

    A single-merchant load keeps ``import_id``; a multi-merchant load records
    ``<import_id>#m<merchant_id>`` per merchant, and the file's rejected lines on the first row.
    Returns (merchant id, name, lines) per merchant, by id.
    """
    counts = rows.group_by("merchant_id").len().sort("merchant_id")
    names = dict(_run(con, "SELECT merchant_id, name FROM main.merchants"))
    out = [(int(m), str(names.get(m, "?")), int(n)) for m, n in counts.iter_rows()]
    for i, (mid, _, lines) in enumerate(out):
        key = import_id if len(out) == 1 else f"{import_id}{MULTI_SUFFIX}{mid}"
        _run(con, "INSERT INTO main.imports (import_id, merchant_id, source, preset, rows_loaded, rows_rejected, "
                  "loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
             [key, mid, source, preset, lines, rejected if i == 0 else 0, now])
    return out


def logged_per_merchant(con: duckdb.DuckDBPyConnection, import_id: str) -> list[tuple[int, str, int]]:
    """(merchant id, name, lines) that main.imports records for ``import_id``, by merchant id."""
    rows = _run(con, "SELECT i.merchant_id, m.name, i.rows_loaded FROM main.imports i JOIN main.merchants m "
                     "USING (merchant_id) WHERE i.import_id = ? OR starts_with(i.import_id, ?) ORDER BY 1",
                [import_id, import_id + MULTI_SUFFIX])
    return [(int(m), str(n), int(k)) for m, n, k in rows]
