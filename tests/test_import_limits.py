"""Security item 6: decompression bombs. A small file that expands past the import limits is refused
with a sentence naming the file and the limit, nothing is written, and the reading process's peak
memory stays near the cap (measured with resource.getrusage in a child process)."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from data import settings
from tests.import_support import BASE_CSV, build_tiny_warehouse, fingerprint

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20

CHILD = r"""
import json, resource, sys
from pathlib import Path
from data.importers import import_file, validate_file
warm = Path(sys.argv[3]); warm.write_text("order_ref,order_ts,sku,quantity,unit_price\nW,2024-01-01,S,1,1\n")
validate_file(warm)  # load the lazy imports before the baseline
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = import_file(sys.argv[1], sys.argv[2], merchant="1", mode="skip")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"status": r.status, "message": r.message, "growth_mb": (peak - base) / 1024}))
"""


def run_child(wh: Path, file: Path, tmp_path: Path, **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(wh), str(file), str(tmp_path / "warm.csv")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gzip_bomb(path: Path, unit: bytes, total: int) -> Path:
    block = unit * (MB // len(unit))
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b"order_ref,order_ts,sku,quantity,unit_price\n")
        for _ in range(total // len(block)):
            fh.write(block)
    return path


@pytest.fixture
def wh(tmp_path) -> Path:
    path = tmp_path / "w.duckdb"
    build_tiny_warehouse(path)
    return path


def test_limits_are_declared_settings():
    assert settings.get("import_max_mb", {}) == "256"
    assert settings.get("import_max_cells", {}) == "20000000"
    with pytest.raises(settings.SettingError, match="RETAIL_PULSE_IMPORT_MAX_MB"):
        settings.whole_number("import_max_mb", 1, 1 << 20, {"RETAIL_PULSE_IMPORT_MAX_MB": "lots"})


def test_gzip_bomb_is_refused_at_the_byte_cap_with_bounded_memory(wh, tmp_path):
    bomb = gzip_bomb(tmp_path / "bomb.csv.gz", b"\x00", 200 * MB)
    assert bomb.stat().st_size < 300 * 1024
    before = fingerprint(wh)
    out = run_child(wh, bomb, tmp_path, RETAIL_PULSE_IMPORT_MAX_MB="16")
    assert out["status"] == "refused"
    assert "bomb.csv.gz: decompresses to more than 16 MB" in out["message"]
    assert "RETAIL_PULSE_IMPORT_MAX_MB = 16" in out["message"]
    assert out["growth_mb"] < 64, out
    assert fingerprint(wh) == before


def test_gzip_line_bomb_is_refused_by_cells_under_default_settings(wh, tmp_path):
    # 200 MB of short CSV lines in about 200 KiB: under the byte cap, 130M cells over the cell cap.
    bomb = gzip_bomb(tmp_path / "lines.csv.gz", b"A,2024-01-01,S,1,1\n", 200 * MB)
    assert bomb.stat().st_size < 1024 * 1024
    before = fingerprint(wh)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_PULSE_IMPORT_")}
    out = run_child(wh, bomb, tmp_path, **env)
    assert out["status"] == "refused"
    assert "lines.csv.gz:" in out["message"] and "RETAIL_PULSE_IMPORT_MAX_CELLS = 20000000" in out["message"]
    assert out["growth_mb"] < 450, out  # the decompressed text, never the parsed frame (several GB)
    assert fingerprint(wh) == before


def small_xlsx() -> bytes:
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    sheet = book.add_worksheet("Orders")
    for c, v in enumerate(["order_ref", "order_ts", "sku", "quantity", "unit_price"]):
        sheet.write_string(0, c, v)
    for c, v in enumerate(["O-1", "2024-03-01", "S-1"]):
        sheet.write_string(1, c, v)
    sheet.write_number(1, 3, 2)
    sheet.write_number(1, 4, 4.5)
    book.close()
    return buf.getvalue()


def test_xlsx_with_huge_shared_strings_is_refused(wh, tmp_path):
    src = zipfile.ZipFile(io.BytesIO(small_xlsx()))
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/sharedStrings.xml":
                head, _, rest = data.partition(b"<t>O-1</t>")
                with out.open(info.filename, "w", force_zip64=True) as fh:
                    fh.write(head + b"<t>O-1")
                    for _ in range(200):
                        fh.write(b"A" * MB)
                    fh.write(b"</t>" + rest)
            else:
                out.writestr(info, data)
    assert bomb.stat().st_size < 400 * 1024
    before = fingerprint(wh)
    out = run_child(wh, bomb, tmp_path, RETAIL_PULSE_IMPORT_MAX_MB="16")
    assert out["status"] == "refused"
    assert "bomb.xlsx:" in out["message"] and "RETAIL_PULSE_IMPORT_MAX_MB = 16" in out["message"]
    assert out["growth_mb"] < 64, out
    assert fingerprint(wh) == before


def test_xlsx_shared_string_fan_out_is_refused(wh, tmp_path):
    """Red team: 1,500 cells naming one 200 KB shared string (300 MB of text) passed and peaked at 1.39 GB.
    Here 400 cells x 200 KB (80 MB of text, a 60 KB file) under a 16 MB cap."""
    src = zipfile.ZipFile(io.BytesIO(small_xlsx()))
    bomb = tmp_path / "fan.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/sharedStrings.xml":
                data = data.replace(b"<t>S-1</t>", b"<t>" + b"W" * 200_000 + b"</t>")
            elif info.filename == "xl/worksheets/sheet1.xml":
                head, sep, rest = data.partition(b"</sheetData>")
                index = 7  # S-1, the last of the 8 shared strings (0-based)
                assert src.read("xl/sharedStrings.xml").endswith(b"<si><t>S-1</t></si></sst>")
                cells = b"".join(b'<row r="%d"><c r="C%d" t="s"><v>%d</v></c></row>' % (r, r, index)
                                 for r in range(3, 403))
                data = head + cells + sep + rest
            out.writestr(info, data)
    assert bomb.stat().st_size < 100 * 1024
    from data.importers.limits import Limits, _check_xlsx_text

    with zipfile.ZipFile(bomb) as zf:  # the fan-out is real: 401 cells x 200 KB
        _check_xlsx_text(zf, "fan.xlsx", Limits(max_bytes=90 * MB, max_cells=10**6))
        with pytest.raises(Exception, match="fan.xlsx: its cells' text"):
            _check_xlsx_text(zf, "fan.xlsx", Limits(max_bytes=75 * MB, max_cells=10**6))
    before = fingerprint(wh)
    out = run_child(wh, bomb, tmp_path, RETAIL_PULSE_IMPORT_MAX_MB="16")
    assert out["status"] == "refused" and "fan.xlsx: its cells' text" in out["message"], out
    assert "RETAIL_PULSE_IMPORT_MAX_MB = 16" in out["message"]
    assert out["growth_mb"] < 48, out
    assert fingerprint(wh) == before


def test_xlsx_cell_count_is_capped(tmp_path, monkeypatch):
    from data.importers import validate_file

    f = tmp_path / "ok.xlsx"
    f.write_bytes(small_xlsx())
    assert validate_file(f).ok
    monkeypatch.setenv("RETAIL_PULSE_IMPORT_MAX_CELLS", "8")
    report = validate_file(f)
    assert report.fatal and "ok.xlsx: 10 cells" in report.fatal and "RETAIL_PULSE_IMPORT_MAX_CELLS = 8" in report.fatal


def test_parquet_is_read_in_batches_under_the_byte_cap(wh, tmp_path, monkeypatch):
    f = tmp_path / "big.parquet"
    n = 400_000
    pl.DataFrame({"order_ref": ["O-1"] * n, "order_ts": ["2024-03-01"] * n, "sku": ["x" * 100] * n,
                  "quantity": [1] * n, "unit_price": [1.0] * n}).write_parquet(f)
    assert f.stat().st_size < 2 * MB  # dictionary-encoded: small on disk, 50+ MB decoded
    before = fingerprint(wh)
    out = run_child(wh, f, tmp_path, RETAIL_PULSE_IMPORT_MAX_MB="16")
    assert out["status"] == "refused" and "big.parquet: decodes to more than 16 MB" in out["message"]
    assert out["growth_mb"] < 64, out
    assert fingerprint(wh) == before
    monkeypatch.setenv("RETAIL_PULSE_IMPORT_MAX_CELLS", "1000")
    from data.importers import validate_file

    report = validate_file(f)
    assert "big.parquet: 2,000,000 cells" in report.fatal


def test_parquet_dictionary_fan_out_is_refused_before_decoding(wh, tmp_path):
    """Red team: 20,000 rows sharing one dictionary-encoded 100 KB value (2 KB file) peaked at 6.2 GB;
    batch.nbytes counts a dictionary once. Here 2,500 rows x 100 KB (250 MB decoded) under a 16 MB cap."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 2_500
    f = tmp_path / "fan.parquet"
    pq.write_table(pa.table({"order_ref": [f"P{i}" for i in range(n)], "order_ts": ["2024-03-01"] * n,
                             "sku": pa.array(["Z" * 100_000] * n).dictionary_encode(), "quantity": [1] * n,
                             "unit_price": [5.0] * n}), f, compression="zstd", use_dictionary=True)
    assert f.stat().st_size < 64 * 1024
    before = fingerprint(wh)
    out = run_child(wh, f, tmp_path, RETAIL_PULSE_IMPORT_MAX_MB="16")
    assert out["status"] == "refused" and "fan.parquet: decodes to more than 16 MB" in out["message"], out
    assert out["growth_mb"] < 48, out
    assert fingerprint(wh) == before


def test_parquet_one_huge_value_is_refused_from_the_metadata(wh, tmp_path):
    """Red team: a 10 KB file holding one 300 MB string peaked at 1.1 GB (checked after decoding)."""
    import pyarrow.parquet as pq
    import pyarrow as pa

    f = tmp_path / "one.parquet"
    pq.write_table(pa.table({"order_ref": ["Q1"], "order_ts": ["2024-03-01"], "sku": ["Y" * (120 * MB)],
                             "quantity": [1], "unit_price": [5.0]}), f, compression="zstd")
    out = run_child(wh, f, tmp_path, RETAIL_PULSE_IMPORT_MAX_MB="16")
    assert out["status"] == "refused" and "one.parquet: stores 120.0 MB of uncompressed column data, more than " \
        "16 MB" in out["message"], out
    assert out["growth_mb"] < 48, out


def test_plain_csv_over_the_cap_and_a_bad_setting_are_clear(tmp_path, monkeypatch):
    from data.importers import validate_file

    f = tmp_path / "f.csv"
    f.write_text(BASE_CSV + "O-9,2024-03-03 09:15,SKU-3,Bowl,3,7.25,C-2\n" * 30_000)
    monkeypatch.setenv("RETAIL_PULSE_IMPORT_MAX_MB", "1")
    assert "f.csv: is 1.2 MB, more than 1 MB" in validate_file(f).fatal
    monkeypatch.setenv("RETAIL_PULSE_IMPORT_MAX_MB", "-3")
    assert "RETAIL_PULSE_IMPORT_MAX_MB must be a whole number" in validate_file(f).fatal
