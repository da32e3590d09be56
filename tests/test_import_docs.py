"""Imports item 3: every mapping option, table and canonical field is documented in the README.

The list comes from the code's own registries (data/importers/options.py, fields.py, presets.py), and
the Mapping dataclass must hold nothing the registry does not declare, so a new option cannot be added
without documenting it.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from data.importers import FIELDS, PRESETS, Mapping
from data.importers.options import OPTIONS, TABLES

ROOT = Path(__file__).resolve().parents[1]


def import_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### Importing real files")
    return text[start:text.index("\n### ", start + 1)]


def row_of(section: str, cell: str) -> str:
    rows = [line for line in section.splitlines() if line.startswith(f"| {cell} |")]
    assert len(rows) == 1, f"README's import section has {len(rows)} table rows for {cell}"
    return rows[0]


def test_the_registry_declares_every_mapping_attribute():
    declared = {o.attr for o in OPTIONS} | set(TABLES) | {"values"}
    assert {f.name for f in fields(Mapping)} == declared
    assert len({o.place for o in OPTIONS}) == len(OPTIONS)


def test_every_option_is_in_the_readme_with_its_allowed_values_and_default():
    section = import_section()
    defaults = {f.name: f.default for f in fields(Mapping)}
    for opt in OPTIONS:
        row = row_of(section, f"`{opt.place}`")
        choices = PRESETS if opt.kind == "preset" else opt.choices
        for choice in choices:
            assert f"`{choice}`" in row, (opt.place, choice)
        default = defaults[opt.attr]
        if isinstance(default, bool):
            assert f"`{str(default).lower()}`" in row.split("|")[3], opt.place
        elif isinstance(default, str) and opt.kind == "choice":
            assert f"`{default}`" in row.split("|")[3], opt.place


def test_every_table_and_canonical_field_is_in_the_readme():
    section = import_section()
    for table in TABLES:
        key = "`[values.FIELD]`" if table == "values" else f"`[{table}]`"
        row_of(section, key)
    for f in FIELDS:
        row = row_of(section, f"`{f.name}`")
        assert f.kind in row, f.name


def test_readme_lists_no_option_the_code_does_not_have():
    section = import_section()
    places = {f"`{o.place}`" for o in OPTIONS} | {f"`{f.name}`" for f in FIELDS}
    places |= {"`[columns]`", "`[constants]`", "`[values.FIELD]`"}
    for line in section.splitlines():
        if line.startswith("| `"):
            cell = line.split("|")[1].strip()
            assert cell in places, f"README documents {cell}, which the code does not have"


def test_every_toml_example_in_the_readme_is_a_valid_mapping(tmp_path):
    from data.importers import load_mapping

    blocks = import_section().split("```toml\n")[1:]
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block.split("```")[0])
        load_mapping(path)  # raises MappingError naming the key if the README's example is wrong
