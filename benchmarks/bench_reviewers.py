"""20 fraud reviewers deciding cases at once on one dashboard server: the decision round trip they feel.

Each reviewer is a websocket client speaking Streamlit's own protocol (the client of bench_ws_sessions.py), signed
in as its own fraud_reviewer user. It opens Fraud review, claims the next case, then presses "Approve and open the
next case" again and again. A round trip is timed from the click until the page has finished its run, and it
counts only when that run shows a different case (the decision was stored and the next case was claimed in the
same transaction). Between decisions each reviewer reads the case for ``--think`` seconds (uniform from half to
one and a half times it, seeded): 10 s by default, still far faster than a person checks a case's histories and
linked payments, so the server carries 20 reviewers at 2 decisions a second between them; ``--think 2`` (10 a
second) is past what one server renders and measures queueing, ``--think 0`` the saturated worst case. Errors: an
exception on the page, a run without a new case, a timeout or a closed socket.

Afterwards the store is read back: every timed decision is there exactly once, and no case was decided twice.
Cases are real payments of the warehouse, put in the queue through the store as ``python -m models score`` does.

    python benchmarks/bench_reviewers.py [--warehouse PATH] [--reviewers 20] [--decisions 25] [--think 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

from benchmarks.bench_ws_sessions import TIMEOUT, Client, RunError  # noqa: E402
from benchmarks.sessions_common import rss_mb  # noqa: E402
from dashboard.auth import login as auth  # noqa: E402
from models.artifacts import models_dir_for  # noqa: E402

CASE = re.compile(r"^Case (\d+): payment (\d+)")


def enqueue(warehouse: Path, per_merchant: int) -> int:
    import duckdb

    from data.store import Principal, open_store

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT p.merchant_id, p.payment_id, p.amount, m.currency FROM payments p JOIN merchants m
               USING (merchant_id) WHERE p.status <> 'declined'
               QUALIFY row_number() OVER (PARTITION BY p.merchant_id ORDER BY p.amount DESC, p.payment_id) <= ?""",
            [per_merchant]).fetchall()
    finally:
        con.close()
    store = open_store(warehouse=warehouse)
    try:
        store.reviews.enqueue_many(Principal.staff("scoring-job"), [
            {"merchant_id": m, "payment_id": p, "amount": float(a), "currency": c, "score": 0.9,
             "flagged_by": "score"} for m, p, a, c in rows])
    finally:
        store.close()
    return len(rows)


def prepare_demo(warehouse: Path) -> None:
    """The demo warehouse, as ./start.sh builds it, and its fraud models (the case view shows their reasons)."""
    for command in (["data", "generate", "--warehouse", str(warehouse), "--size", "demo"],
                    ["models", "train", "--kind", "fraud_score", "--warehouse", str(warehouse)]):
        subprocess.run([sys.executable, "-m", *command], check=True, cwd=ROOT, capture_output=True)


def case_of(seen: dict) -> str | None:
    return next((h for h in seen["headings"] if CASE.match(h)), None)


async def reviewer(url: str, user: str, password: str, decisions: int, times: list, errors: list,
                   decided: Counter, think: float, seed: int) -> None:
    rng = random.Random(seed)
    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    try:
        async with connect(ws_url, subprotocols=["streamlit"], origin=url, max_size=None,
                           open_timeout=TIMEOUT, close_timeout=5) as ws:
            client = Client(ws, timeout=60)
            ids = (await client.run())["widgets"]
            seen = await client.run(widgets=((ids[auth.USERNAME_KEY], "string_value", user),
                                             (ids[auth.PASSWORD_KEY], "string_value", password),
                                             (ids[auth.SUBMIT_KEY], "trigger_value", True)))
            if "Overview" not in seen["headings"]:
                raise RunError(f"sign-in failed: {seen['headings'][:3]} {seen['alerts'][:2]}")
            seen = await client.run(page_hash=client.pages["Fraud review"])
            seen = await client.run(page_hash=client.pages["Fraud review"],
                                    widgets=((seen["widgets"]["rv_claim_next"], "trigger_value", True),))
            case = case_of(seen)
            if case is None:
                raise RunError(f"no case after claiming: {seen['alerts'][:2]} {seen['problems'][:2]}")
            for _ in range(decisions):
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
                button = seen["widgets"].get("rv_decide")
                if button is None:
                    raise RunError(f"no decide button on {case}")
                t0 = time.perf_counter()
                seen = await client.run(page_hash=client.pages["Fraud review"],
                                        widgets=((button, "trigger_value", True),))
                elapsed = time.perf_counter() - t0
                nxt = case_of(seen)
                if seen["problems"] or nxt is None or nxt == case:
                    errors.append(f"{user}: after {case}: next {nxt}; {seen['problems'][:2]} {seen['alerts'][:1]}")
                    if nxt is None:
                        return
                else:
                    times.append(elapsed)
                    decided[int(CASE.match(case).group(1))] += 1
                case = nxt
    except Exception as exc:  # noqa: BLE001 - a timeout or closed socket ends the reviewer; counted once
        errors.append(f"{user}: session: {type(exc).__name__}: {str(exc)[:160]}")


async def run_all(url: str, pid: int, users: list[str], password: str, decisions: int, think: float) -> tuple:
    times: list[float] = []
    errors: list[str] = []
    decided: Counter = Counter()
    before = rss_mb(pid)
    t0 = time.perf_counter()
    await asyncio.gather(*(reviewer(url, u, password, decisions, times, errors, decided, think, n)
                           for n, u in enumerate(users)))
    return times, errors, decided, time.perf_counter() - t0, before, rss_mb(pid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", default=None, help="a warehouse with signals, and its fraud models beside it "
                    "(default: generate the demo warehouse and train its fraud models, about 15 s)")
    ap.add_argument("--reviewers", type=int, default=20)
    ap.add_argument("--decisions", type=int, default=25, help="decisions per reviewer")
    ap.add_argument("--think", type=float, default=10.0, help="seconds a reviewer reads a case (mean)")
    args = ap.parse_args()

    from sqlalchemy import func, select

    from dashboard.auth.accounts import DEMO_PASSWORD, add_user, create_demo_users
    from data.store import open_store
    from data.store.tables import review_decisions
    from tests.servers import dashboard_server

    with tempfile.TemporaryDirectory() as tmp:
        wh = Path(tmp) / "reviewers.duckdb"
        if args.warehouse is None:
            prepare_demo(wh)
            args.warehouse = "a new demo warehouse (seed 42) with its fraud models"
        else:
            shutil.copy(args.warehouse, wh)
            if models_dir_for(Path(args.warehouse)).exists():  # its fraud models: the case view's reasons
                shutil.copytree(models_dir_for(Path(args.warehouse)), models_dir_for(wh))
        queued = enqueue(wh, per_merchant=args.reviewers * args.decisions // 2 + 20)
        creds = Path(tmp) / "credentials.yaml"
        create_demo_users(creds, rounds=4)
        users = [f"reviewer{n:02d}" for n in range(1, args.reviewers + 1)]
        for u in users:
            add_user(u, DEMO_PASSWORD, "fraud_reviewer", path=creds, rounds=4)
        env = {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1", "RETAIL_PULSE_CREDENTIALS": str(creds),
               "RETAIL_PULSE_TRAIN_IN_APP": "off", "RETAIL_PULSE_LOGIN_FREE_ATTEMPTS": "100",
               "RETAIL_PULSE_ALERTS_EVERY_MINUTES": "off"}
        with dashboard_server(env, timeout=180) as server:
            times, errors, decided, wall, before, after = asyncio.run(
                run_all(server.url, server.pid, users, DEMO_PASSWORD, args.decisions, args.think))
        store = open_store(warehouse=wh)
        try:
            with store.engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(review_decisions)).scalar_one()
                twice = conn.execute(select(func.count()).select_from(
                    select(review_decisions.c.case_id).group_by(review_decisions.c.case_id)
                    .having(func.count() > 1).subquery())).scalar_one()
        finally:
            store.close()
    q = statistics.quantiles(times, n=20) if len(times) >= 20 else [float("nan")] * 19
    print(f"{args.reviewers} reviewers x {args.decisions} decisions, {args.think:g} s reading each, on "
          f"{args.warehouse} ({queued} cases queued), wall {wall:.1f} s")
    print(f"decisions timed={len(times)} stored={stored} cases decided twice={twice} "
          f"timed cases seen twice={sum(1 for c in decided.values() if c > 1)}")
    print(f"errors={len(errors)}")
    for e in errors[:10]:
        print("  ", e)
    if times:
        print(f"decision round trip p50={statistics.median(times):.3f} s p95={q[18]:.3f} s max={max(times):.3f} s")
    print(f"server RSS before={before:.0f} MB after={after:.0f} MB")


if __name__ == "__main__":
    main()
