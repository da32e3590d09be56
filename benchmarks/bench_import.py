"""Wall time of importing each real dataset into a fresh warehouse.

    python benchmarks/bench_import.py [--datasets ../shared/datasets] [--repeat 3]

Prints, per dataset, the best of ``--repeat`` runs: the dry-run validation
(read + type + check) and the full import_file (validation + one-transaction
load + commit), with lines per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.importers import PRESETS, import_file, validate_file  # noqa: E402
from data.warehouse import open_for_loading  # noqa: E402

DATASETS = {
    "online_retail_ii": "online_retail_II_2009_2010.csv.gz",
    "customer_shopping": "customer_shopping_data.csv.gz",
}


def bench(folder: Path, preset: str, file: Path) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    report = validate_file(file, preset=preset)
    validate_s = time.perf_counter() - t0
    warehouse = folder / f"{preset}.duckdb"
    open_for_loading(warehouse).close()
    t0 = time.perf_counter()
    result = import_file(warehouse, file, preset=preset, create_merchant=PRESETS[preset].suggested_merchant)
    import_s = time.perf_counter() - t0
    if result.status != "loaded" or result.rows_loaded != report.rows.height:
        raise SystemExit(f"{preset}: {result.message}")
    return validate_s, import_s, result.rows_loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'dataset':<20} {'lines':>9} {'validate s':>11} {'import s':>9} {'lines/s':>10}")
    for preset, name in DATASETS.items():
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(bench(Path(tmp), preset, args.datasets / name))
        validate_s = min(r[0] for r in runs)
        import_s = min(r[1] for r in runs)
        lines = runs[0][2]
        print(f"{preset:<20} {lines:>9,} {validate_s:>11.2f} {import_s:>9.2f} {lines / import_s:>10,.0f}")


if __name__ == "__main__":
    main()
