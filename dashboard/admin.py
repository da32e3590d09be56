"""Rendering pieces of the admin Data page: import results, user management, warehouse facts."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import sidebar
from dashboard.auth import accounts
from dashboard.plain_text import markdown_text
from data import inbox, safe_csv
from data.importers import ImportResult, import_file, load_mapping
from data.importers.api import loaded_message
from data.importers.load import logged_per_merchant
from data.importers.mapping import MappingError
from data.importers.report import count_phrase
from data.info import compute_table_stats
from data.tables import ALL_TABLES, OBSERVED

NEW_MERCHANT = "+ New merchant..."


def merchant_label(merchant_id: int, name: str) -> str:
    """The import picker's option for a merchant: its name, then its id (two merchants may share a name)."""
    return f"{name} (merchant {merchant_id})"


def run_import(eng, path: Path, preset: str | None, mapping_upload, merchant: int | None,
               create: tuple[str, str, str] | None, mode: str, multi_merchant: bool = False) -> ImportResult | str:
    """Import ``path`` into the engine's warehouse; staged loads are applied by this process right after.

    Returns the ImportResult, or a sentence when the request itself is incomplete or wrong
    (no preset and no mapping, an unusable mapping, an incomplete new merchant).
    """
    mapping = None
    if mapping_upload is not None:
        shown = Path(mapping_upload.name).name or "mapping.toml"
        mapping_path = path.with_name("mapping-" + shown)
        mapping_path.write_bytes(mapping_upload.getvalue())
        try:
            mapping = load_mapping(mapping_path)
        except MappingError as exc:
            return f"The mapping file is not usable: {str(exc).replace(str(mapping_path), shown)}"
    elif preset is None:
        return "Choose a preset, or upload a mapping file (TOML) that names your columns."
    if create is not None:
        if not all(part.strip() for part in create):
            return "A new merchant needs a name, a 2-letter country and a 3-letter currency."
        merchant = None  # created (or reused) by its name; the name is never read as an id
    elif merchant is not None:
        merchant = int(merchant)  # the picker passes the id: a merchant named "7" is not merchant 7
    try:
        result = import_file(eng.path, path, preset=preset, mapping=mapping, merchant=merchant,
                             create_merchant=create, mode=mode, multi_merchant=multi_merchant)
    except (ValueError, KeyError) as exc:  # e.g. a new merchant's country or currency is malformed
        return f"Not imported: {str(exc).strip(chr(34) + chr(39)).replace('create_merchant: ', 'new merchant: ')}"
    if result.status == "staged":
        _apply_now(eng, result)
    return result


def _apply_now(eng, result: ImportResult) -> None:
    """This process holds the warehouse: apply the staged load now and report what really happened
    (checks that need the warehouse, such as the merchant of each row, run only then)."""
    eng.apply_pending_imports()
    failed = inbox.failure(eng.path, result.import_id)
    if failed is not None:
        reason, rejects = failed
        result.status, result.rows_loaded = "refused", 0
        result.message = f"refused, nothing written: {reason}"
        if rejects is not None:
            result.rejects = pl.concat([result.rejects, rejects]).sort("line", maintain_order=True)
    elif not (inbox.inbox_dir(eng.path) / result.import_id).exists():
        cur = eng.cursor()
        try:
            result.per_merchant = logged_per_merchant(cur, result.import_id)
        finally:
            cur.close()
        result.status = "loaded"
        result.merchant_id = result.per_merchant[0][0] if result.per_merchant else None
        result.message = loaded_message(result, " (staged, then applied by this dashboard)")


def render_import_result(result: ImportResult | str | None) -> None:
    # Messages quote the file's name and values from it: shown verbatim (markdown_text), never as markdown.
    if result is None:
        return
    if isinstance(result, str):
        st.warning(markdown_text(result))
        return
    if result.status == "refused":
        st.error(markdown_text(result.message))
    elif result.status == "staged":
        st.success(markdown_text(result.message.replace("the running dashboard will apply it",
                                                        "applied by this dashboard")))
    else:
        st.success(markdown_text(result.message))
    if result.status == "loaded":
        sidebar.render_open_merchant(result.merchant_id)
    for warning in result.warnings:
        st.text(warning)
    if result.rejects is not None and result.rejects.height:
        st.subheader(f"Rejected: {count_phrase(result.rejects, result.line_word)}")
        st.dataframe(result.rejects, hide_index=True, width="stretch")
        st.download_button("Download the rejected rows (CSV)", data=safe_csv.csv_bytes(result.rejects),
                           file_name=f"rejects-{result.import_id}.csv", mime="text/csv", key="imp_rejects_csv")


def render_users(users: list[accounts.UserAccount]) -> None:
    rows = [{"username": u.username, "name": u.name, "role": str(u.role),
             "merchants": "all" if u.merchant_ids is None else ", ".join(map(str, sorted(u.merchant_ids)))}
            for u in users]
    st.dataframe(pl.DataFrame(rows) if rows else pl.DataFrame({"username": []}), hide_index=True,
                 width="stretch")


def _account_action(action, *args, **kwargs) -> bool:
    """Run one credentials change; shows the error and returns False when it is refused."""
    try:
        action(*args, **kwargs)
    except (accounts.AccountError, accounts.UnknownRole, accounts.CredentialsError, ValueError) as exc:
        st.error(str(exc))
        return False
    return True


KEEP = "(keep)"


def change_user(username: str, role: str, merchant_ids: list[int], password: str) -> bool:
    """Apply the "Change a user" form: only what was chosen changes. Stops at the first refusal.

    ``role`` is a role name or ``KEEP``; ``merchant_ids`` empty keeps the user's merchants (a new
    merchant role then needs them); an empty ``password`` keeps the password. Returns whether
    everything asked for was saved.
    """
    if role == KEEP and not merchant_ids and not password:
        st.info("Nothing to change: pick a new role, merchants or a password.")
        return False
    if role != KEEP:
        ids = (merchant_ids or None) if role == "merchant" else None
        if role != "merchant" and merchant_ids:
            st.error("Merchants apply only to the merchant role: staff roles see every merchant.")
            return False
        if not _account_action(accounts.set_role, username, role, ids):
            return False
    elif merchant_ids and not _account_action(accounts.set_merchants, username, merchant_ids):
        return False
    if password and not _account_action(accounts.reset_password, username, password):
        return False
    st.success("Saved.")
    return True


def render_user_forms(merchants: pl.DataFrame) -> None:
    """Add a user, change a role or merchants, reset a password, remove a user."""
    names = dict(zip(merchants["merchant_id"].to_list(), merchants["name"].to_list()))
    pick = {"options": list(names), "format_func": lambda i: f"{i}: {names.get(i, '?')}"}
    with st.form("user_add", clear_on_submit=True):
        st.markdown("**Add a user**")
        c1, c2, c3 = st.columns(3)
        username = c1.text_input("Username", key="usr_add_name")
        role = c2.selectbox("Role", accounts.ROLE_NAMES, key="usr_add_role")
        ids = c3.multiselect("Merchants (merchant role)", key="usr_add_merchants", **pick)
        password = st.text_input("Password", type="password", key="usr_add_password")
        if st.form_submit_button("Add user") and _account_action(
                accounts.add_user, username, password, role, merchant_ids=ids if role == "merchant" else None):
            st.success("Saved.")
    with st.form("user_change"):
        st.markdown("**Change a user**")
        c1, c2, c3 = st.columns(3)
        username = c1.text_input("Username", key="usr_chg_name")
        role = c2.selectbox("New role", [KEEP, *accounts.ROLE_NAMES], key="usr_chg_role")
        ids = c3.multiselect("Merchants (merchant role; empty keeps them)", key="usr_chg_merchants", **pick)
        password = st.text_input("New password (leave empty to keep)", type="password", key="usr_chg_password")
        c4, c5 = st.columns(2)
        if c4.form_submit_button("Save changes"):
            change_user(username, role, ids, password)
        if c5.form_submit_button("Remove user") and _account_action(accounts.remove_user, username):
            st.success("Saved.")


def warehouse_stats(eng) -> pl.DataFrame:
    """Rows and date range of every table the engine serves (truth tables too on DuckDB)."""
    tables = ALL_TABLES if getattr(eng, "engine", "") == "duckdb" else OBSERVED
    return compute_table_stats(eng.backend(), tables)


def failed_imports(eng) -> list[str]:
    """One line per staged import that failed to apply: its id and the reason."""
    path = getattr(eng, "path", None)
    if path is None:
        return []
    failed_dir = inbox.inbox_dir(path) / inbox.FAILED
    if not failed_dir.is_dir():
        return []
    out = []
    for item in sorted(failed_dir.iterdir()):
        error = item / "error.txt"
        out.append(f"{item.name}: {error.read_text(encoding='utf-8').strip() if error.exists() else 'no reason'}")
    return out
