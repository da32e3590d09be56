"""Data (admin): import a file with its validation report, manage users, warehouse information."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from dashboard import admin, cache, tables, user_admin
from dashboard.context import guard
from data.importers import PRESETS

ctx = guard("data")
st.title("Data")
st.caption(f"Data as of {f'{ctx.as_of:%d %b %Y}' if ctx.as_of else 'n/a'} · data version {ctx.data_version}")
imports_tab, users_tab, warehouse_tab = st.tabs(["Import a file", "Users", "Warehouse"])

with imports_tab:
    eng = cache.engine()
    if not hasattr(eng, "apply_pending_imports"):
        st.info("Imports go into the DuckDB warehouse; this app reads Parquet through Spark. Import with "
                "`python -m data import` on the warehouse, then `python -m data export`.")
    else:
        upload = st.file_uploader("File (CSV, gzipped CSV, Parquet or Excel)", type=["csv", "gz", "parquet", "xlsx"],
                                  key="imp_file")
        preset = st.selectbox("Columns", [""] + list(PRESETS), key="imp_preset",
                              format_func=lambda p: f"{p}: {PRESETS[p].doc.split('.')[0]}" if p else "My own mapping (TOML below)")
        mapping_file = None if preset else st.file_uploader("Mapping (TOML)", type=["toml"], key="imp_mapping")
        merchants = cache.all_merchants(ctx.data_version)
        # The import gets the picked merchant's id, never its name (a merchant named "7" is not merchant 7).
        ids = {admin.merchant_label(m, name): m for m, name in merchants.select("merchant_id", "name").iter_rows()}
        target = st.selectbox("Merchant", list(ids) + [admin.NEW_MERCHANT], key="imp_merchant")
        create = None
        if target == admin.NEW_MERCHANT:
            c1, c2, c3 = st.columns(3)
            create = (c1.text_input("Name", key="imp_new_name"), c2.text_input("Country (ISO 2)", key="imp_new_country"),
                      c3.text_input("Currency (ISO 4217)", key="imp_new_currency"))
        mode = st.radio("When some rows are bad", ["refuse", "skip"], horizontal=True, key="imp_mode",
                        format_func=lambda m: {"refuse": "Refuse the whole file", "skip": "Skip bad rows"}[m])
        multi = st.checkbox("Rows name their own merchant (multi-merchant file): load each row into the merchant "
                            "it names", key="imp_multi")
        if st.button("Validate and import", type="primary", key="imp_go", disabled=upload is None):
            with tempfile.TemporaryDirectory() as tmp, st.spinner("Validating and loading..."):
                path = Path(tmp) / Path(upload.name).name
                path.write_bytes(upload.getvalue())
                result = admin.run_import(eng, path, preset or None, mapping_file,
                                          ids.get(target), create, mode, multi)
            st.session_state["imp_result"] = result
            if not isinstance(result, str) and result.status != "refused":
                st.session_state["imp_version"] = cache.current_data_version()
        admin.render_import_result(st.session_state.get("imp_result"))

with users_tab:
    user_admin.render(cache.all_merchants(ctx.data_version))

with warehouse_tab:
    tables.render_dataframe(cache.warehouse_stats(ctx.data_version), width="stretch")
    failed = admin.failed_imports(cache.engine())
    if failed:
        st.warning("Staged imports that could not be applied (nothing of them was written):")
        for item in failed:
            st.text(item)
