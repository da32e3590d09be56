"""`python -m dashboard.auth.users ...`: add, set-role, set-merchants, reset-password, remove, list.

Edits the credentials file (RETAIL_PULSE_CREDENTIALS, or --credentials) through
dashboard.auth.accounts, so every write is atomic and locked and the admin page and this
command can run at the same time. Passwords are prompted for (hidden, typed twice)
or read from the first line of stdin with --password-stdin; never from arguments.
No streamlit import.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from dashboard.auth import accounts
from dashboard.auth.accounts import ROLE_NAMES
from data import settings

app = typer.Typer(
    help="Retail Pulse users: bcrypt-hashed in the credentials file (streamlit-authenticator YAML). "
    f"Roles: {', '.join(ROLE_NAMES)}. A merchant user is bound to one or more merchant ids; "
    "staff roles see every merchant.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CredentialsOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--credentials",
        "-c",
        help=f"Credentials file (default: $RETAIL_PULSE_CREDENTIALS or {settings.get('credentials', {})}).",
        show_default=False,
    ),
]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]
MerchantOpt = Annotated[
    Optional[list[int]],
    typer.Option("--merchant", "-m", help="Merchant id the user is bound to (repeat for several).", show_default=False),
]
_ERRORS = (accounts.AccountError, ValueError, accounts.CredentialsError, accounts.SessionStoreError, OSError)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _warn_if_demo(path: Path | None) -> None:
    try:
        if accounts.load_credentials(path).demo:
            typer.echo(
                f"warning: {accounts.credentials_path(path)} is the generated demo file; its demo users share "
                "the public password. Do not use it for a real deployment.",
                err=True,
            )
    except accounts.CredentialsError:
        pass


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        if not password:
            _fail("--password-stdin: standard input is empty")
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _describe(user: accounts.UserAccount) -> str:
    scope = "all merchants" if user.merchant_ids is None else "merchants " + ", ".join(map(str, sorted(user.merchant_ids)))
    return f"{user.username} ({user.role}, {scope})"


@app.command()
def add(
    username: Annotated[str, typer.Argument(help="Login name (lower-case letters, digits, . _ @ + -).")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLE_NAMES)}.")],
    merchant: MerchantOpt = None,
    name: Annotated[Optional[str], typer.Option(help="Display name (default: the username).")] = None,
    email: Annotated[Optional[str], typer.Option(help="E-mail address (optional).")] = None,
    password_stdin: PasswordStdinOpt = False,
    credentials: CredentialsOpt = None,
) -> None:
    """Add a user (creates the credentials file when it does not exist yet)."""
    try:
        accounts.parse_role(role)
        accounts.normalize_username(username)
        password = _read_password(password_stdin)
        user = accounts.add_user(username, password, role, merchant or (), name=name, email=email, path=credentials)
    except _ERRORS as exc:
        _fail(str(exc))
    typer.echo(f"added {_describe(user)}")
    _warn_if_demo(credentials)


@app.command("set-role")
def set_role(
    username: str,
    role: Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLE_NAMES)}.")],
    merchant: MerchantOpt = None,
    credentials: CredentialsOpt = None,
) -> None:
    """Change a user's role (a merchant needs --merchant unless already bound; staff lose merchant ids)."""
    try:
        user = accounts.set_role(username, role, merchant, path=credentials)
    except _ERRORS as exc:
        _fail(str(exc))
    typer.echo(f"updated {_describe(user)}")
    _warn_if_demo(credentials)


@app.command("set-merchants")
def set_merchants(
    username: str,
    merchant_ids: Annotated[list[int], typer.Argument(help="Merchant ids the merchant user may see.")],
    credentials: CredentialsOpt = None,
) -> None:
    """Bind a merchant user to exactly these merchant ids."""
    try:
        user = accounts.set_merchants(username, merchant_ids, path=credentials)
    except _ERRORS as exc:
        _fail(str(exc))
    typer.echo(f"updated {_describe(user)}")
    _warn_if_demo(credentials)


@app.command("reset-password")
def reset_password(username: str, password_stdin: PasswordStdinOpt = False, credentials: CredentialsOpt = None) -> None:
    """Set a new password; the user's open sessions and re-login cookies stop working."""
    try:
        if accounts.normalize_username(username) not in accounts.load_credentials(credentials).users:
            raise accounts.UnknownUser(f"unknown user {username!r}")
        accounts.reset_password(username, _read_password(password_stdin), path=credentials)
    except _ERRORS as exc:
        _fail(str(exc))
    typer.echo(f"password reset for {accounts.normalize_username(username)}; their sessions were ended")
    _warn_if_demo(credentials)


@app.command()
def remove(
    username: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    credentials: CredentialsOpt = None,
) -> None:
    """Remove a user and end their sessions (the last admin cannot be removed)."""
    if not yes:
        typer.confirm(f"Remove user {username!r}?", abort=True)
    try:
        accounts.remove_user(username, path=credentials)
    except _ERRORS as exc:
        _fail(str(exc))
    typer.echo(f"removed {accounts.normalize_username(username)}")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array instead of a table.")] = False,
    credentials: CredentialsOpt = None,
) -> None:
    """List users with role and merchants (never hashes), and entries that do not validate."""
    try:
        creds = accounts.load_credentials(credentials)
    except _ERRORS as exc:
        _fail(str(exc))
    users = [creds.users[u] for u in sorted(creds.users)]
    if as_json:
        rows = [
            {
                "username": u.username,
                "name": u.name,
                "email": u.email,
                "role": str(u.role),
                "merchant_ids": None if u.merchant_ids is None else sorted(u.merchant_ids),
            }
            for u in users
        ]
        typer.echo(json.dumps({"demo": creds.demo, "users": rows, "invalid": dict(creds.invalid)}, indent=1))
        return
    if creds.demo:
        typer.echo(f"{accounts.credentials_path(credentials)} (demo file: public password)")
    typer.echo(f"{'USERNAME':<24} {'ROLE':<15} {'MERCHANTS':<16} NAME")
    for u in users:
        ids = "all" if u.merchant_ids is None else ",".join(map(str, sorted(u.merchant_ids)))
        typer.echo(f"{u.username:<24} {u.role:<15} {ids:<16} {u.name}")
    for username, problem in sorted(creds.invalid.items()):
        typer.echo(f"{username:<24} INVALID: {problem}")


if __name__ == "__main__":
    app(prog_name="python -m dashboard.auth.users")
