from __future__ import annotations

from pathlib import Path

from data import settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_in_readme():
    readme = (ROOT / "README.md").read_text()
    for s in settings.SETTINGS:
        row = next((line for line in readme.splitlines() if f"`{s.env}`" in line and line.startswith("|")), None)
        assert row, f"{s.env} is missing from the README settings table"
        assert f"`{s.default}`" in row or (s.default == "" and "(none)" in row), f"{s.env} default not in README"


def test_environment_overrides_default_and_blank_means_default():
    s = settings._BY_NAME["warehouse"]
    assert s.value({}) == s.default
    assert s.value({s.env: "/x/y.duckdb"}) == "/x/y.duckdb"
    assert s.value({s.env: "  "}) == s.default


def test_flag_overrides_environment(monkeypatch):
    monkeypatch.setenv("RETAIL_PULSE_WAREHOUSE", "/from/env.duckdb")
    assert settings.warehouse_path() == Path("/from/env.duckdb")
    assert settings.warehouse_path("/from/flag.duckdb") == Path("/from/flag.duckdb")
