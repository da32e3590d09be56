"""Credentials store, roles and merchant binding, atomic writes under concurrency, the users CLI."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dashboard.auth import accounts, sessions
from dashboard.auth.accounts import Principal, Role
from dashboard.auth.passwords import hash_password
from dashboard.auth.users import app as users_app

ROOT = Path(__file__).resolve().parents[1]
FAST = 4  # bcrypt cost for tests that do not measure time


@pytest.fixture
def creds(tmp_path) -> Path:
    path = tmp_path / "credentials.yaml"
    accounts.add_user("root", "root-password-1", "admin", path=path, rounds=FAST)
    accounts.add_user("shop", "shop-password-1", "merchant", [1, 2], name="Shop One", path=path, rounds=FAST)
    accounts.add_user("ana", "ana-password-1", Role.ANALYST, path=path, rounds=FAST)
    return path


# -- roles and binding -------------------------------------------------------------------------------


def test_roles_are_the_five_and_match_plain_strings():
    assert accounts.ROLE_NAMES == ("merchant", "operations", "analyst", "fraud_reviewer", "admin")
    assert Role.ADMIN == "admin" and "fraud_reviewer" in {Role.FRAUD_REVIEWER}
    assert accounts.STAFF_ROLES == {Role.OPERATIONS, Role.ANALYST, Role.FRAUD_REVIEWER, Role.ADMIN}
    assert accounts.parse_role("Fraud-Reviewer") is Role.FRAUD_REVIEWER
    with pytest.raises(accounts.UnknownRole, match="roles are"):
        accounts.parse_role("superuser")


def test_principal_binds_merchants_and_staff_see_all():
    m = Principal("shop", "Shop", "merchant", frozenset({3}))
    assert m.role is Role.MERCHANT and m.merchant_ids == {3} and not m.is_staff
    assert m.can_see_merchant(3) and not m.can_see_merchant(4)
    assert m.scope().merchant_ids == {3}
    staff = Principal("ana", "Ana", Role.ANALYST, None)
    assert staff.is_staff and staff.can_see_merchant(99) and staff.scope().is_unrestricted
    with pytest.raises(ValueError, match="at least one merchant"):
        Principal("shop", "Shop", Role.MERCHANT, frozenset())
    with pytest.raises(ValueError, match="merchant_ids must be None"):
        Principal("ana", "Ana", Role.ANALYST, frozenset({1}))
    hash(m)  # usable as a cache key


def test_verify_password_returns_the_bound_principal(creds):
    p = accounts.verify_password("Shop ", "shop-password-1", path=creds)
    assert p == Principal("shop", "Shop One", Role.MERCHANT, frozenset({1, 2}))
    assert accounts.verify_password("ana", "ana-password-1", path=creds).merchant_ids is None
    assert accounts.verify_password("shop", "wrong-password", path=creds) is None
    assert accounts.verify_password("nobody", "shop-password-1", path=creds) is None
    assert accounts.verify_password("shop", "", path=creds) is None
    assert accounts.verify_password("shop", "shop-password-1" + "x" * 80, path=creds) is None  # > 72 bytes


def test_user_management_and_its_errors(creds):
    with pytest.raises(accounts.DuplicateUser):
        accounts.add_user("ROOT", "another-password", "admin", path=creds, rounds=FAST)
    with pytest.raises(accounts.UnknownRole):
        accounts.add_user("x", "another-password", "owner", path=creds, rounds=FAST)
    with pytest.raises(accounts.AccountError, match="at least one merchant"):
        accounts.add_user("x", "another-password", "merchant", path=creds, rounds=FAST)
    with pytest.raises(accounts.AccountError, match="staff role"):
        accounts.add_user("x", "another-password", "analyst", [1], path=creds, rounds=FAST)
    with pytest.raises(accounts.InvalidPassword):
        accounts.add_user("x", "short", "analyst", path=creds, rounds=FAST)
    with pytest.raises(accounts.InvalidPassword, match="demo password"):
        accounts.add_user("x", accounts.DEMO_PASSWORD, "analyst", path=creds, rounds=FAST)
    with pytest.raises(accounts.UnknownUser):
        accounts.set_role("ghost", "admin", path=creds)

    assert accounts.set_role("shop", "operations", path=creds).merchant_ids is None
    with pytest.raises(accounts.AccountError, match="at least one merchant"):
        accounts.set_role("shop", "merchant", path=creds)
    assert accounts.set_role("shop", "merchant", [5], path=creds).merchant_ids == {5}
    assert accounts.set_merchants("shop", [6, 7], path=creds).merchant_ids == {6, 7}
    with pytest.raises(accounts.AccountError, match="not a merchant"):
        accounts.set_merchants("ana", [1], path=creds)
    with pytest.raises(ValueError, match="positive integer"):
        accounts.set_merchants("shop", [0], path=creds)

    with pytest.raises(accounts.LastAdmin):
        accounts.remove_user("root", path=creds)
    with pytest.raises(accounts.LastAdmin):
        accounts.set_role("root", "analyst", path=creds)
    accounts.remove_user("ana", path=creds)
    assert [u.username for u in accounts.list_users(creds)] == ["root", "shop"]
    assert accounts.verify_password("ana", "ana-password-1", path=creds) is None


def test_reset_password_and_remove_bump_the_session_epoch(creds):
    assert sessions.current_epoch(creds, "shop") == 0
    accounts.reset_password("shop", "new-shop-password", path=creds, rounds=FAST)
    assert sessions.current_epoch(creds, "shop") == 1
    assert accounts.verify_password("shop", "shop-password-1", path=creds) is None
    assert accounts.verify_password("shop", "new-shop-password", path=creds) is not None
    accounts.remove_user("shop", path=creds)
    accounts.add_user("shop", "shop-password-1", "merchant", [1], path=creds, rounds=FAST)
    assert sessions.current_epoch(creds, "shop") == 2  # never reset: re-adding revives no old cookie


def test_file_is_the_library_format_private_and_keeps_unknown_keys(creds):
    from streamlit_authenticator.utilities.hasher import Hasher

    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    doc = yaml.safe_load(creds.read_text())
    shop = doc["credentials"]["usernames"]["shop"]
    assert shop["roles"] == ["merchant"] and shop["merchant_ids"] == [1, 2] and shop["name"] == "Shop One"
    assert Hasher.is_hash(shop["password"]) and Hasher.check_pw("shop-password-1", shop["password"])
    assert "merchant_ids" not in doc["credentials"]["usernames"]["ana"]

    # hand edits: a key the library writes survives our rewrite; a broken entry is listed, not lost
    doc["credentials"]["usernames"]["shop"]["failed_login_attempts"] = 0
    doc["credentials"]["usernames"]["bad"] = {"password": "plain", "roles": ["admin"]}
    creds.write_text(yaml.safe_dump(doc))
    loaded = accounts.load_credentials(creds)
    assert "bad" in loaded.invalid and "bcrypt" in loaded.invalid["bad"] and "bad" not in loaded.users
    assert accounts.verify_password("bad", "plain", path=creds) is None
    accounts.set_merchants("shop", [9], path=creds)
    doc = yaml.safe_load(creds.read_text())
    assert doc["credentials"]["usernames"]["shop"]["failed_login_attempts"] == 0
    assert doc["credentials"]["usernames"]["bad"] == {"password": "plain", "roles": ["admin"]}


def test_demo_users_one_per_role(tmp_path):
    path = tmp_path / "credentials.yaml"
    assert accounts.create_demo_users(path, rounds=FAST) is True
    assert accounts.create_demo_users(path, rounds=FAST) is False  # never overwrites
    loaded = accounts.load_credentials(path)
    assert loaded.demo
    assert sorted(u.role for u in loaded.users.values()) == sorted(Role)
    p = accounts.verify_password("demo-merchant", accounts.DEMO_PASSWORD, path=path)
    assert p.role is Role.MERCHANT and p.merchant_ids == {1}
    assert accounts.verify_password("demo-admin", accounts.DEMO_PASSWORD, path=path).role is Role.ADMIN


def test_pure_modules_do_not_import_streamlit():
    code = (
        "import sys; import dashboard.auth.accounts, dashboard.auth.users, dashboard.auth.tokens, dashboard.auth.throttle;"
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_my_modules_stay_under_400_lines():
    modules = sorted((ROOT / "dashboard" / "auth").glob("*.py"))
    assert len(modules) >= 10
    for module in modules:
        lines = module.read_text().count("\n")
        assert lines < 400, f"{module.relative_to(ROOT)} has {lines} lines"


# -- concurrency -------------------------------------------------------------------------------------

N_USERS = 60
TARGET_WRITES, TARGET_READS, MAX_SECONDS = 30, 300, 60.0


def _seed_doc() -> dict:
    pw = hash_password("seed-password-1", FAST)
    users = {
        f"user{i:03d}": {"name": f"User {i}", "email": None, "password": pw, "roles": ["merchant"], "merchant_ids": [1]}
        for i in range(N_USERS)
    }
    users["root"] = {"name": "root", "email": None, "password": pw, "roles": ["admin"]}
    return {"credentials": {"usernames": users}}


def _our_write(path: str, rng: random.Random, state: dict) -> None:
    user = f"user{rng.randrange(N_USERS):03d}"
    accounts.set_merchants(user, rng.sample(range(1, 500), rng.randint(1, 30)), path=path)


def _library_write(path: str, rng: random.Random, state: dict) -> None:
    from streamlit_authenticator.utilities.helpers import Helpers

    doc = state.setdefault("doc", _seed_doc())
    user = doc["credentials"]["usernames"][f"user{rng.randrange(N_USERS):03d}"]
    user["merchant_ids"] = rng.sample(range(1, 500), rng.randint(1, 30))
    Helpers.write_config_file(path, doc)  # how the library saves: open(path, "w") + yaml.dump


def _read_is_bad(path: str) -> bool:
    data = Path(path).read_bytes()
    try:
        return len(yaml.load(data, Loader=yaml.CSafeLoader)["credentials"]["usernames"]) != N_USERS + 1
    except Exception:  # noqa: BLE001 - empty or cut-off YAML
        return True


def _worker(kind: str, writer: str, path: str, seed: int, ready, go, writes, reads, bad, out) -> None:
    try:
        rng, state, write = random.Random(seed), {}, globals()[writer]
        ready.put(kind)
        go.wait()
        deadline = time.time() + MAX_SECONDS
        while time.time() < deadline and (writes.value < TARGET_WRITES or reads.value < TARGET_READS):
            if kind == "w":
                write(path, rng, state)
                counter = writes
            else:
                if _read_is_bad(path):
                    with bad.get_lock():
                        bad.value += 1
                counter = reads
                time.sleep(0.002)  # leave the writers some CPU on 2 cores
            with counter.get_lock():
                counter.value += 1
        out.put(("ok", kind))
    except BaseException as exc:  # noqa: BLE001 - report, so the parent fails fast instead of waiting
        out.put(("error", repr(exc)))


def _hammer(path: Path, writer: str) -> tuple[int, int, int]:
    """4 writer and 4 reader processes, started together, until TARGET_WRITES and TARGET_READS are reached.

    Returns (writes, reads, empty or partial reads). Runs in a fresh interpreter that forks its
    workers while single-threaded (the pytest process may hold AppTest threads and an AppTest
    ``__main__``, which break fork and spawn respectively).
    """
    code = "import json, sys; from tests.test_accounts import _hammer_here; print(json.dumps(_hammer_here(*sys.argv[1:])))"
    r = subprocess.run(
        [sys.executable, "-c", code, str(path), writer], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    print(r.stdout)
    return tuple(json.loads(r.stdout.strip().splitlines()[-1]))


def _hammer_here(path: str, writer: str) -> tuple[int, int, int]:
    if writer == "_library_write":
        import streamlit_authenticator.utilities.helpers  # noqa: F401 - slow import, once before forking
    ctx = multiprocessing.get_context("fork")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    writes, reads, bad = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Value("i", 0)
    kinds = ["w"] * 4 + ["r"] * 4
    procs = [
        ctx.Process(target=_worker, args=(k, writer, path, i, ready, go, writes, reads, bad, out))
        for i, k in enumerate(kinds)
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        started = time.time()
        go.set()
        results = [out.get(timeout=MAX_SECONDS + 60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [r[1] for r in results if r[0] == "error"]
    if errors:
        raise RuntimeError(errors)
    print(f"{writer}: {writes.value} writes, {reads.value} reads, {bad.value} bad in {time.time() - started:.1f} s")
    return writes.value, reads.value, bad.value


@pytest.mark.slow
def test_concurrent_readers_never_see_a_partial_file(tmp_path):
    """4 writer x 4 reader processes. PITFALLS.md: the library's in-place rewrite gave 1,118 bad reads."""
    ours = tmp_path / "ours.yaml"
    ours.write_text(yaml.safe_dump(_seed_doc()))
    writes, reads, bad = _hammer(ours, "_our_write")
    assert writes >= TARGET_WRITES and reads >= TARGET_READS, (writes, reads)
    assert bad == 0, f"{bad} of {reads} reads saw an empty or partial file ({writes} writes)"

    # the control: the same harness does catch the library's in-place writes
    lib = tmp_path / "library.yaml"
    lib.write_text(yaml.safe_dump(_seed_doc()))
    lib_writes, lib_reads, lib_bad = _hammer(lib, "_library_write")
    assert lib_bad > 0, f"harness too weak: 0 bad reads of {lib_reads} with {lib_writes} in-place writes"


def _add_many(path: str, worker: int) -> None:
    for i in range(5):
        accounts.add_user(f"w{worker}-{i}", "worker-password", "analyst", path=path, rounds=FAST)


def test_concurrent_writers_lose_no_update(creds):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_add_many, args=(str(creds), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    names = {u.username for u in accounts.list_users(creds)}
    assert {f"w{w}-{i}" for w in range(4) for i in range(5)} <= names
    assert not list(creds.parent.glob(".*.tmp")), "temporary files left behind"


# -- command line ------------------------------------------------------------------------------------


def _cli(*args: str, input: str | None = None):
    return CliRunner().invoke(users_app, list(args), input=input)


def test_cli_manages_users(tmp_path):
    c = str(tmp_path / "credentials.yaml")
    r = _cli("add", "Alice", "--role", "admin", "--password-stdin", "-c", c, input="alice-password-1\n")
    assert r.exit_code == 0, r.output
    assert "added alice (admin, all merchants)" in r.output
    r = _cli("add", "bob", "--role", "merchant", "-m", "3", "-m", "4", "-c", c, input="bob-password-1\nbob-password-1\n")
    assert r.exit_code == 0, r.output  # hidden prompt, typed twice
    assert accounts.verify_password("bob", "bob-password-1", path=c).merchant_ids == {3, 4}
    assert accounts.verify_password("alice", "alice-password-1", path=c).role is Role.ADMIN

    assert _cli("set-merchants", "bob", "5", "-c", c).exit_code == 0
    assert _cli("set-role", "bob", "fraud_reviewer", "-c", c).exit_code == 0
    assert accounts.verify_password("bob", "bob-password-1", path=c).role is Role.FRAUD_REVIEWER

    r = _cli("reset-password", "bob", "--password-stdin", "-c", c, input="bob-password-2\n")
    assert r.exit_code == 0 and sessions.current_epoch(c, "bob") == 1
    assert accounts.verify_password("bob", "bob-password-2", path=c) is not None

    listed = json.loads(_cli("list", "--json", "-c", c).output)
    assert [(u["username"], u["role"], u["merchant_ids"]) for u in listed["users"]] == [
        ("alice", "admin", None),
        ("bob", "fraud_reviewer", None),
    ]
    assert "$2b$" not in _cli("list", "-c", c).output  # never shows hashes
    assert _cli("remove", "bob", "--yes", "-c", c).exit_code == 0
    assert [u.username for u in accounts.list_users(c)] == ["alice"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "carl", "--role", "boss", "--password-stdin"], "carl-password-1\n", "unknown role 'boss'"),
        (["add", "alice", "--role", "admin", "--password-stdin"], "alice-password-9\n", "already exists"),
        (["add", "dan", "--role", "merchant", "--password-stdin"], "dan-password-1\n", "at least one merchant"),
        (["add", "dan", "--role", "analyst", "--password-stdin"], "short\n", "at least 10 characters"),
        (["set-role", "ghost", "admin"], None, "unknown user 'ghost'"),
        (["set-merchants", "alice", "1"], None, "not a merchant user"),
        (["reset-password", "ghost", "--password-stdin"], "ghost-password-1\n", "unknown user 'ghost'"),
        (["remove", "ghost", "--yes"], None, "unknown user 'ghost'"),
        (["remove", "alice", "--yes"], None, "no admin"),
    ],
)
def test_cli_errors_are_clear(tmp_path, args, stdin, message):
    c = str(tmp_path / "credentials.yaml")
    accounts.add_user("alice", "alice-password-1", "admin", path=c, rounds=FAST)
    r = _cli(*args, "-c", c, input=stdin)
    assert r.exit_code == 1
    assert message in r.output
    assert "Traceback" not in r.output


def test_cli_runs_as_a_module():
    env = {**os.environ, "RETAIL_PULSE_CREDENTIALS": "/nonexistent/credentials.yaml"}
    r = subprocess.run(
        [sys.executable, "-m", "dashboard.auth.users", "--help"], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert r.returncode == 0
    for command in ("add", "set-role", "set-merchants", "reset-password", "remove", "list"):
        assert command in r.stdout
