"""Forged cookies, login throttling, login timing, startup refusal, and the login form through AppTest."""

from __future__ import annotations

import base64
import json
import secrets
import statistics
import time
from pathlib import Path

import jwt
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import accounts, login, tokens
from dashboard.auth.accounts import LoginThrottle, Role
from dashboard.auth.passwords import hash_password

FAST = 4
KEY = "_VZJ2fNMS1dZetE16NPx1zC18P8rgT1qZazjcK6MeghITVyMLU_Mow9i_gYbdXoW"  # secrets.token_urlsafe(48)
APP = "apps/login_app.py"
# forging with short keys (some_key) is the point of some tests
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture
def config(tmp_path, monkeypatch) -> accounts.AuthConfig:
    """A production-mode configuration (demo off, strong key) with an admin, a merchant and an analyst."""
    path = tmp_path / "credentials.yaml"
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(path))
    monkeypatch.setenv("RETAIL_PULSE_COOKIE_KEY", KEY)
    monkeypatch.setenv("RETAIL_PULSE_DEMO", "0")
    for name in ("RETAIL_PULSE_COOKIE_EXPIRY_DAYS", "RETAIL_PULSE_LOGIN_FREE_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    accounts.add_user("root", "root-password-1", "admin", path=path, rounds=FAST)
    accounts.add_user("shop", "shop-password-1", "merchant", [1], path=path, rounds=FAST)
    accounts.add_user("ana", "ana-password-1", "analyst", path=path, rounds=FAST)
    cfg = accounts.load_auth_config()
    assert not cfg.problems and not cfg.demo
    return cfg


def _token(config, username="shop") -> str:
    return accounts.issue_session_token(accounts.start_session(username, config), config)


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


# -- forged and stale cookies ------------------------------------------------------------------------


def test_a_genuine_cookie_signs_in(config):
    principal, ticket = accounts.principal_from_token(_token(config), config)
    assert principal.username == "shop" and principal.role is Role.MERCHANT and principal.merchant_ids == {1}


def _forgeries(config) -> dict[str, object]:
    now = int(time.time())
    good = _token(config, "shop")
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, KEY, algorithms=["HS256"])
    pwf = claims["pwf"]
    base = {"iss": "retail-pulse", "sub": "root", "iat": now, "exp": now + 3600, "sep": 0, "pwf": pwf, "jti": "x"}
    return {
        # streamlit-authenticator's own cookie, signed with its default key
        "library default key": jwt.encode({"username": "root", "exp_date": now + 3600}, "some_key", algorithm="HS256"),
        "our claims, key some_key": jwt.encode(base, "some_key", algorithm="HS256"),
        "alg none": jwt.encode(base, None, algorithm="none"),
        "alg none, signature kept": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(base)}.{signature}",
        "alg none, upper": f"{_b64({'alg': 'NONE', 'typ': 'JWT'})}.{_b64(base)}.",
        "HS512 with our key": jwt.encode(base, KEY, algorithm="HS512"),
        "extra header (kid)": jwt.encode(base, KEY, algorithm="HS256", headers={"kid": "../../x"}),
        "expired": tokens.issue_token("shop", key=KEY, epoch=0, fingerprint=claims["pwf"], lifetime_seconds=60,
                                      now=now - 3600),
        "no exp": jwt.encode({k: v for k, v in base.items() if k != "exp"}, KEY, algorithm="HS256"),
        "lifetime beyond the setting": jwt.encode({**base, "sub": "shop", "exp": now + 90 * 86400}, KEY,
                                                  algorithm="HS256"),
        "issued in the future": jwt.encode({**base, "sub": "shop", "iat": now + 7200, "exp": now + 9000}, KEY,
                                           algorithm="HS256"),
        "tampered payload (shop -> root)": f"{header}.{_b64({**claims, 'sub': 'root'})}.{signature}",
        "wrong key": jwt.encode({**claims}, "another-key-of-sufficient-length-0123456789", algorithm="HS256"),
        "unknown user": jwt.encode({**base, "sub": "mallory"}, KEY, algorithm="HS256"),
        "other user's fingerprint": jwt.encode(base, KEY, algorithm="HS256"),
        "sep as string": jwt.encode({**claims, "sep": "0"}, KEY, algorithm="HS256"),
        "garbage": "not.a.token",
        "three dots": "a.b.c.d",
        "huge": "a" * 100_000,
        "empty": "",
        "not a string": {"sub": "root"},
        "bytes": good.encode(),
        "none": None,
    }


def test_forged_cookies_are_rejected_without_an_exception(config):
    for name, forged in _forgeries(config).items():
        assert accounts.principal_from_token(forged, config) is None, name


def test_cookie_is_refused_after_logout_reset_and_removal(config):
    for action in ("logout", "reset", "remove"):
        token = _token(config, "ana")
        ticket = accounts.principal_from_token(token, config)[1]
        if action == "logout":
            accounts.end_session(ticket, config)
        elif action == "reset":
            accounts.reset_password("ana", "ana-password-2", path=config.credentials_path, rounds=FAST)
        else:
            accounts.remove_user("ana", path=config.credentials_path)
        assert accounts.principal_from_token(token, config) is None, action
        assert accounts.resume_session(ticket, config) is None, action  # open sessions end too
    # re-adding the removed name does not revive its old cookies
    accounts.add_user("ana", "ana-password-1", "analyst", path=config.credentials_path, rounds=FAST)
    assert accounts.principal_from_token(token, config) is None
    assert accounts.principal_from_token(_token(config, "ana"), config) is not None


def test_a_changed_password_hash_voids_the_cookie_even_without_an_epoch_bump(config):
    token = _token(config, "shop")
    text = config.credentials_path.read_text()
    new_hash = hash_password("shop-password-9", FAST)
    doc_shop_hash = accounts.load_credentials(config.credentials_path).hashes["shop"]
    config.credentials_path.write_text(text.replace(doc_shop_hash, new_hash))  # a hand edit
    assert accounts.principal_from_token(token, config) is None


def test_cookies_are_off_at_zero_days(config, monkeypatch):
    token = _token(config)
    monkeypatch.setenv("RETAIL_PULSE_COOKIE_EXPIRY_DAYS", "0")
    off = accounts.load_auth_config()
    assert accounts.issue_session_token(accounts.start_session("shop", off), off) is None
    assert accounts.principal_from_token(token, off) is None


def test_issue_token_refuses_a_weak_key():
    with pytest.raises(ValueError, match="sample key"):
        tokens.issue_token("x", key="some_key", epoch=0, fingerprint="f", lifetime_seconds=60)


# -- failed-login limits -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _login(config, throttle, username, password, client="10.0.0.1"):
    return accounts.attempt_login(username, password, client=client, throttle=throttle, config=config)


def test_backoff_refuses_even_the_right_password_then_expires(config):
    clock = Clock()
    throttle = LoginThrottle(free_attempts=3, base_delay=10, max_delay=60, clock=clock)
    for _ in range(3):  # exactly the 3 free tries; the 3rd failure starts a 10 s backoff
        assert _login(config, throttle, "shop", "wrong-password").message == accounts.LOGIN_FAILED
    refused = _login(config, throttle, "shop", "shop-password-1")
    assert refused.principal is None and refused.message.startswith("Too many") and refused.retry_after == 10
    clock.t += 10.5
    assert _login(config, throttle, "shop", "shop-password-1").principal.username == "shop"


def test_backoff_grows_but_is_capped_and_never_permanent(config):
    clock = Clock()
    throttle = LoginThrottle(free_attempts=3, base_delay=2, max_delay=60, clock=clock)
    waits = []
    for _ in range(40):  # an attacker who keeps trying as soon as allowed
        d = throttle.check("shop", "evil")
        clock.t += d.retry_after
        waits.append(throttle.record_failure("shop", "evil").retry_after)
    assert waits[:6] == [0, 0, 2, 4, 8, 16] and max(waits) == 60
    clock.t += 60
    assert _login(config, throttle, "shop", "shop-password-1", client="evil").principal is not None


def test_one_clients_failures_do_not_block_another_client(config):
    throttle = LoginThrottle(free_attempts=3, base_delay=60, max_delay=300, clock=Clock())
    for _ in range(10):
        _login(config, throttle, "shop", "wrong-password", client="attacker")
    assert _login(config, throttle, "shop", "shop-password-1", client="attacker").principal is None
    assert _login(config, throttle, "shop", "shop-password-1", client="owner").principal.username == "shop"


def test_spraying_many_usernames_from_one_client_is_slowed(config):
    throttle = LoginThrottle(free_attempts=3, base_delay=60, max_delay=300, clock=Clock())
    for i in range(11):  # the client's allowance (4 x 3) but one, each username below its own limit
        _login(config, throttle, f"user{i}", "guess-password", client="sprayer")
    assert throttle.check("user0", "sprayer").allowed
    _login(config, throttle, "user11", "guess-password", client="sprayer")  # the 12th starts the backoff
    assert not throttle.check("user0", "sprayer").allowed  # a second guess at any name it tried waits
    assert not throttle.check("user11", "sprayer").allowed
    assert throttle.check("user0", "someone-else").allowed
    assert throttle.check("fresh-name", "sprayer").allowed  # never refused before its own first failure


def test_an_attacker_behind_a_shared_address_cannot_keep_others_out(config):
    """Behind a proxy everyone is one client: a sprayer failing every few minutes for hours never refuses
    someone who has not failed, and does not stop them signing in."""
    clock = Clock()
    throttle = LoginThrottle(free_attempts=3, base_delay=2, max_delay=300, clock=clock)
    for hour in range(3):
        for i in range(40):
            decision = throttle.check(f"victim{i % 7}", "proxy")
            clock.t += decision.retry_after
            throttle.record_failure(f"victim{i % 7}", "proxy")
            clock.t += 299 / 40 * (hour + 1)
            assert throttle.check("alice", "proxy").allowed
    assert _login(config, throttle, "shop", "shop-password-1", client="proxy").principal.username == "shop"


def test_unknown_usernames_are_throttled_like_known_ones(config):
    clock = Clock()
    known, unknown = (LoginThrottle(free_attempts=2, clock=clock) for _ in range(2))
    for _ in range(3):
        k = _login(config, known, "shop", "wrong-password")
        u = _login(config, unknown, "nobody", "wrong-password")
        assert (k.message, k.retry_after) == (u.message, u.retry_after)
    assert _login(config, known, "shop", "x").message == _login(config, unknown, "nobody", "x").message


def test_forgetting_after_quiet_period(config):
    clock = Clock()
    throttle = LoginThrottle(free_attempts=2, base_delay=5, max_delay=20, forget_after=100, clock=clock)
    for _ in range(5):
        clock.t += throttle.check("shop", "c").retry_after
        throttle.record_failure("shop", "c")
    clock.t += 101
    assert throttle.check("shop", "c").allowed
    assert throttle.record_failure("shop", "c").retry_after == 0  # counting starts afresh


# -- timing ------------------------------------------------------------------------------------------


def test_unknown_username_takes_as_long_as_a_wrong_password(tmp_path):
    """Known and unknown names timed alternately (so a busy machine slows both alike), compared by the
    median of paired ratios (no absolute threshold).

    Without the dummy bcrypt check an unknown username returns in microseconds (PITFALLS: 0.001 ms
    vs 285 ms), a ratio near 0.0001; with it the ratio is near 1.
    """
    path = tmp_path / "credentials.yaml"
    accounts.add_user("real-user", "real-password-1", "analyst", path=path, rounds=10)
    accounts.load_credentials(path)  # parse once (and make the dummy hash) before timing

    def timed(username: str) -> float:
        t0 = time.perf_counter()
        assert accounts.verify_password(username, "wrong-password-1", path=path) is None
        return time.perf_counter() - t0

    for unknown in ("no-such-user", "INVALID NAME!", "x" * 300):
        ratios = [timed(unknown) / timed("real-user") for _ in range(9)]
        ratio = statistics.median(ratios)
        assert 1 / 3 < ratio < 3, (unknown, ratio, ratios)


# -- startup refusal ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "   ", "some_key", "SOME_KEY", "some_signature_key", "random_signature_key", "abcdef",
     "short-key", "x" * 31, "a" * 64, "ab" * 32,
     # placeholders of a good length (all were accepted before the entropy check)
     "change-me-change-me-change-me-change-me", "your-secret-key-here-your-secret-key-here",
     "abcdefgh" * 8, "abcdefghijklmnopqrstuvwxyz0123456789", "0123456789" * 4, "Password123!" * 3,
     "test-cookie-key-0123456789-abcdefghijklmnopqrstuvwxyz", "REPLACE_WITH_A_LONG_RANDOM_STRING_PLEASE",
     # found by the red-team pass: repeated hash, keyboard walk, case pairs, stride 2, phrases
     "9a0364b9e99bb480dd25e1f0284c8555" * 2, "qwertyuiopasdfghjklzxcvbnmqwertyuiop1234", "aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpP",
     "acegikmoqsuwybdfhjlnprtvxz02468135", "the quick brown fox jumps over the lazy dog",
     "lorem ipsum dolor sit amet consectetur adipiscing elit", "correct horse battery staple correct horse"],
)
def test_production_refuses_default_short_or_placeholder_keys(config, monkeypatch, key):
    monkeypatch.setenv("RETAIL_PULSE_COOKIE_KEY", key)
    cfg = accounts.load_auth_config()
    assert cfg.problems and "RETAIL_PULSE_COOKIE_KEY" in cfg.problems[0] and "token_urlsafe" in cfg.problems[0]
    assert tokens.cookie_key_problem(key)


@pytest.mark.parametrize("make", [lambda: secrets.token_urlsafe(48), lambda: secrets.token_hex(32),
                                  lambda: secrets.token_urlsafe(32), tokens.random_key])
def test_random_keys_pass_the_entropy_check(make):
    for _ in range(300):
        key = make()
        assert tokens.cookie_key_problem(key) is None, key
        assert tokens.key_entropy_bits(key) >= tokens.MIN_KEY_BITS


def test_random_text_split_by_dashes_is_not_taken_for_a_phrase():
    """secrets.token_urlsafe(32) gave this key in CI: its - and _ split it into letter-only "words", and it was
    scored as a phrase (2 bits a character, 80 bits). One key in a few hundred looked like that."""
    assert tokens.cookie_key_problem("ahpd-zfBU-gtirNzB_mDcRZKxDTCMvHRABFGIoAEoIE") is None
    assert tokens.cookie_key_problem("correct-horse-battery-staple-correct-horse-battery") is not None


def test_entropy_estimate_sees_repetition_and_runs():
    random = secrets.token_urlsafe(48)
    assert tokens.key_entropy_bits(random) > 300
    assert tokens.key_entropy_bits(random[:8] * 8) < tokens.key_entropy_bits(random) / 3  # same length, repeated
    assert tokens.key_entropy_bits("abcdefghijklmnopqrstuvwxyz") < 40


def test_demo_mode_decision(tmp_path, monkeypatch):
    path = tmp_path / "credentials.yaml"
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(path))
    monkeypatch.delenv("RETAIL_PULSE_COOKIE_KEY", raising=False)
    monkeypatch.delenv("RETAIL_PULSE_DEMO", raising=False)
    fresh = accounts.load_auth_config()  # a fresh machine: auto -> demo, users to be created
    assert fresh.demo and fresh.demo_users and not fresh.problems
    assert tokens.cookie_key_problem(fresh.cookie_key) is None  # a random per-process key, never some_key

    monkeypatch.setenv("RETAIL_PULSE_COOKIE_KEY", KEY)  # a deployment sets a key: never silently demo
    cfg = accounts.load_auth_config()
    assert not cfg.demo and any("No credentials file" in p for p in cfg.problems)

    accounts.create_demo_users(path, rounds=FAST)
    cfg = accounts.load_auth_config()
    assert not cfg.demo and any("demo file" in p for p in cfg.problems)  # key set + demo file: refuse

    monkeypatch.setenv("RETAIL_PULSE_DEMO", "1")
    monkeypatch.setenv("RETAIL_PULSE_COOKIE_KEY", "some_key")
    cfg = accounts.load_auth_config()
    assert cfg.demo and not cfg.problems and cfg.cookie_key != "some_key" and cfg.notes

    monkeypatch.setenv("RETAIL_PULSE_DEMO", "maybe")
    assert accounts.load_auth_config().problems


# -- the login form through AppTest ------------------------------------------------------------------


@pytest.fixture
def demo_env(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "credentials.yaml"
    accounts.create_demo_users(path, rounds=FAST)
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(path))
    monkeypatch.setenv("RETAIL_PULSE_DEMO", "1")
    monkeypatch.delenv("RETAIL_PULSE_COOKIE_KEY", raising=False)
    accounts.reset_throttles()
    return path


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=10)


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key=login.USERNAME_KEY).input(username)
    at.text_input(key=login.PASSWORD_KEY).input(password)
    at.button(key=login.SUBMIT_KEY).click()
    return at.run()


def _shown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def _cookie_written(at: AppTest) -> str | None:
    for h in at.get("html"):
        body = h.proto.body
        if f"{accounts.COOKIE_NAME}=" in body:
            return body.split(f"{accounts.COOKIE_NAME}=")[1].split(";")[0]
    return None


def test_login_form_signs_in_a_demo_user_and_logout_revokes_the_cookie(demo_env):
    at = _app().run()
    assert not at.exception
    assert "retail-pulse-demo" in at.info[0].value and "demo-merchant" in at.info[0].value
    assert _shown(at) == []  # nothing but the form before signing in

    _sign_in(at, "demo-merchant", accounts.DEMO_PASSWORD)
    assert not at.exception
    assert _shown(at) == ["user: demo-merchant", "role: merchant", "merchants: 1"]
    assert at.session_state[login.PASSWORD_KEY] == ""  # the password does not linger in session state
    cookie = _cookie_written(at)
    assert cookie and accounts.principal_from_token(cookie, accounts.load_auth_config())

    at.run()  # stays signed in on the next rerun
    assert _shown(at)[1] == "role: merchant"

    at.button(key=login.LOGOUT_KEY).click().run()
    assert _shown(at) == [] and at.text_input(key=login.USERNAME_KEY)
    assert _cookie_written(at) == ""  # the browser copy is deleted...
    assert accounts.principal_from_token(cookie, accounts.load_auth_config()) is None  # ...and a copy is refused

    replay = _app()
    replay.session_state["test_cookies"] = {accounts.COOKIE_NAME: cookie}
    replay.run()
    assert not replay.exception and _shown(replay) == []


@pytest.mark.parametrize("username", ["demo-analyst", "no-such-user"])
def test_wrong_password_and_unknown_user_get_the_same_generic_error(demo_env, username):
    at = _sign_in(_app().run(), username, "wrong-password")
    assert not at.exception
    assert [e.value for e in at.error] == [accounts.LOGIN_FAILED]
    assert _shown(at) == []


def test_each_demo_role_signs_in(demo_env):
    for username, (_, role, _ids) in accounts.DEMO_USERS.items():
        at = _sign_in(_app().run(), username, accounts.DEMO_PASSWORD)
        assert f"role: {role}" in _shown(at), username


def test_valid_cookie_signs_in_and_forged_ones_show_the_form(config):
    at = _app()
    at.session_state["test_cookies"] = {accounts.COOKIE_NAME: _token(config, "ana")}
    at.run()
    assert not at.exception and "role: analyst" in _shown(at)
    for name, forged in _forgeries(config).items():
        if not isinstance(forged, str):
            continue
        at = _app()
        at.session_state["test_cookies"] = {accounts.COOKIE_NAME: forged}
        at.run()
        assert not at.exception, name
        assert _shown(at) == [] and at.text_input(key=login.USERNAME_KEY), name


def test_the_app_refuses_to_start_with_a_default_key(config, monkeypatch):
    monkeypatch.setenv("RETAIL_PULSE_COOKIE_KEY", "some_key")
    at = _app().run()
    assert not at.exception
    assert "refuses to start" in at.error[0].value and "RETAIL_PULSE_COOKIE_KEY" in at.error[0].value
    assert not at.text_input  # no login form


def test_fresh_machine_starts_in_demo_mode(tmp_path, monkeypatch):
    path = tmp_path / "credentials.yaml"
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(path))
    monkeypatch.delenv("RETAIL_PULSE_COOKIE_KEY", raising=False)
    monkeypatch.delenv("RETAIL_PULSE_DEMO", raising=False)
    at = _app().run()
    assert not at.exception and "Demo mode" in at.info[0].value
    loaded = accounts.load_credentials(path)
    assert loaded.demo and sorted(u.role for u in loaded.users.values()) == sorted(Role)
