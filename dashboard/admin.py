"""Rendering pieces of the admin Data page: import results, warehouse facts (the Users tab is dashboard/user_admin.py)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import sidebar, tables, user_admin
from dashboard.plain_text import markdown_text
from data import inbox, safe_csv
from data.importers import ImportResult, import_file, load_mapping
from data.importers.api import loaded_message
from data.importers.load import logged_per_merchant
from data.importers.mapping import MappingError
from data.importers.report import count_phrase

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
        tables.render_dataframe(result.rejects, registry=tables.REJECT_COLUMNS, width="stretch")
        st.download_button("Download the rejected rows (CSV)", data=safe_csv.csv_bytes(result.rejects),
                           file_name=f"rejects-{result.import_id}.csv", mime="text/csv", key="imp_rejects_csv")


def change_user(username: str, role: str, merchant_ids: list[int], password: str) -> bool:
    """Apply a "Change a user" request at once (``user_admin.plan_change``): only what was chosen changes,
    stopping at the first refusal. Shows the outcome; returns whether everything asked for was saved."""
    plan = user_admin.plan_change(username, role, merchant_ids, password)
    if isinstance(plan, str):
        (st.info if plan.startswith(("Nothing", "Pick")) else st.error)(plan)
        return False
    for step in plan:
        try:
            step()
        except user_admin.REFUSED as exc:
            st.error(str(exc))
            return False
    st.success("Saved.")
    return True


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
