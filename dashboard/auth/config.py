"""Sign-in settings: read them, check them, and say why the app must refuse to start. Pure (no streamlit).

Demo mode (``RETAIL_PULSE_DEMO``): ``1`` on, ``0`` off, ``auto`` (default) on only while
no cookie key is set and the credentials file is missing (it is then created with
one demo user per role, password ``DEMO_PASSWORD``) or is that generated demo file.
So ``streamlit run`` on a fresh machine starts the demo, and a deployment that sets
``RETAIL_PULSE_COOKIE_KEY`` is never silently in demo mode: without a real
credentials file it refuses to start. Outside demo mode ``load_auth_config``
lists every reason to refuse (bad key, missing, broken or demo credentials file, a
user whose password is the public demo one); in demo mode an unusable key is
replaced by a random per-process key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dashboard.auth.credentials import DEMO_USERS, CredentialsError, CredentialsMissing, load_credentials
from dashboard.auth.passwords import DEMO_PASSWORD, has_demo_password
from dashboard.auth.tokens import KEY_HELP, cookie_key_problem, random_key
from data import settings

MAX_COOKIE_DAYS = 30
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_PROCESS_KEY = random_key()  # demo mode only, when no usable key is configured


@dataclass(frozen=True)
class AuthConfig:
    """Resolved login settings. ``problems`` non-empty means the app must refuse to start."""

    credentials_path: Path
    demo: bool
    demo_users: bool  # the credentials file is the generated demo file (or will be)
    cookie_key: str
    cookie_lifetime_seconds: int  # 0: no re-login cookie
    free_attempts: int
    max_backoff_seconds: float
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def load_auth_config(environ: Mapping[str, str] | None = None) -> AuthConfig:
    """Read the login settings from ``environ`` (default ``os.environ``) and check them."""
    env = dict(os.environ if environ is None else environ)
    path = Path(settings.get("credentials", env))
    key = settings.get("cookie_key", env)
    problems: list[str] = []
    notes: list[str] = []
    state, detail = _file_state(path)
    mode = settings.get("demo", env).strip().lower()
    if mode in _TRUE:
        demo = True
    elif mode in _FALSE:
        demo = False
    elif mode == "auto":
        demo = not key.strip() and state in ("missing", "demo")
    else:
        demo = False
        problems.append(f"RETAIL_PULSE_DEMO={mode!r} must be 1, 0 or auto.")
    lifetime = _number(env, "cookie_expiry_days", 0, MAX_COOKIE_DAYS, problems)
    free = int(_number(env, "login_free_attempts", 1, 1000, problems, integer=True))
    backoff = _number(env, "login_max_backoff_seconds", 2, 3600, problems)
    if state == "broken":
        problems.append(detail)
    key_problem = cookie_key_problem(key)
    if demo:
        if key_problem:
            if key.strip():
                notes.append(f"Demo mode: {key_problem} A random key is used for this process instead.")
            key = _PROCESS_KEY
        if state == "real":
            notes.append(f"Demo mode with the real credentials file {path}: no demo users are added.")
    else:
        if key_problem:
            problems.append(f"{key_problem} {KEY_HELP}")
        if state == "missing":
            problems.append(
                f"No credentials file at {path}. Create the first admin with "
                "`python -m dashboard.auth.users add YOUR_NAME --role admin` "
                "(RETAIL_PULSE_CREDENTIALS sets the path), or start the public demo with RETAIL_PULSE_DEMO=1."
            )
        elif state == "demo":
            problems.append(
                f"{path} is the generated demo file: its users share the public demo password. Move it away and "
                "create real users with `python -m dashboard.auth.users add`, or set RETAIL_PULSE_DEMO=1."
            )
        elif state == "real" and detail == "empty":
            problems.append(f"{path} has no valid users; add one with `python -m dashboard.auth.users add`.")
        if state == "real":
            problems.extend(_demo_password_problems(path))
    return AuthConfig(
        credentials_path=path,
        demo=demo,
        demo_users=demo and state in ("missing", "demo"),
        cookie_key=key,
        cookie_lifetime_seconds=int(lifetime * 86400),
        free_attempts=free,
        max_backoff_seconds=backoff,
        problems=tuple(problems),
        notes=tuple(notes),
    )


def _file_state(path: Path) -> tuple[str, str]:
    try:
        creds = load_credentials(path)
    except CredentialsMissing:
        return "missing", ""
    except (CredentialsError, OSError) as exc:
        return "broken", f"Cannot read the credentials file: {exc}"
    return ("demo" if creds.demo else "real"), ("" if creds.users else "empty")


def _demo_password_problems(path: Path) -> list[str]:
    # A demo file with its marker removed, or a hash copied from one: the password is public.
    try:
        creds = load_credentials(path)
    except (CredentialsError, OSError):
        return []  # reported as "broken" already
    names = [u for u in sorted(creds.hashes) if has_demo_password(creds.hashes[u])]
    if not names:
        return []
    fixes = "; ".join(f"`python -m dashboard.auth.users reset-password {u}`" for u in names)
    return [
        f"{path}: {', '.join(names)} still {'has' if len(names) == 1 else 'have'} the public demo password "
        f"({DEMO_PASSWORD!r}), which is refused outside demo mode. Set a new password: {fixes} "
        "(or remove the user with `python -m dashboard.auth.users remove NAME`)."
    ]


def _number(env: dict, name: str, lo: float, hi: float, problems: list[str], integer: bool = False) -> float:
    raw = settings.get(name, env)
    try:
        value = int(raw) if integer else float(raw)
        if not lo <= value <= hi:
            raise ValueError
        return value
    except ValueError:
        s = settings._BY_NAME[name]
        problems.append(f"{s.env}={raw!r} must be a {'whole ' if integer else ''}number from {lo} to {hi}.")
        return int(s.default) if integer else float(s.default)


def demo_notice(config: AuthConfig) -> str | None:
    """What the login page says in demo mode (None outside it)."""
    if not config.demo:
        return None
    if not config.demo_users:
        return "Demo mode (RETAIL_PULSE_DEMO=1) with this deployment's own users."
    users = ", ".join(f"`{u}` ({role}{' ' + str(ids[0]) if ids else ''})" for u, (_, role, ids) in DEMO_USERS.items())
    return (
        f"**Demo mode.** One user per role: {users}. Every demo user's password is `{DEMO_PASSWORD}`. "
        "Do not put real data in a demo deployment."
    )
