"""Every setting Retail Pulse reads, declared once with its default and help.

A setting comes from its environment variable, else its default. Command-line
flags (``--warehouse``) override the environment for that one command. The
README's settings table is checked against this registry by a test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str
    help: str

    def value(self, environ: dict[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        raw = env.get(self.env, "")
        return raw if raw.strip() else self.default


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "warehouse",
        "RETAIL_PULSE_WAREHOUSE",
        "warehouse/retail_pulse.duckdb",
        "Path of the DuckDB warehouse file (relative paths are taken from the current directory).",
    ),
    Setting(
        "backend",
        "RETAIL_PULSE_BACKEND",
        "duckdb",
        "Query engine: `duckdb` (the warehouse file) or `spark` (ibis' PySpark backend over Parquet).",
    ),
    Setting(
        "spark_master",
        "RETAIL_PULSE_SPARK_MASTER",
        "local[2]",
        "Spark master URL when the backend is `spark` (`local[N]` runs in-process; `spark://host:7077` a cluster).",
    ),
    Setting(
        "parquet_dir",
        "RETAIL_PULSE_PARQUET_DIR",
        "warehouse/parquet",
        "Folder of one Parquet dataset per table, read by the `spark` backend (written by `python -m data export`).",
    ),
    Setting(
        "demo_size",
        "RETAIL_PULSE_DEMO_SIZE",
        "demo",
        "Size the dashboard generates on first start when no warehouse exists: `tiny`, `demo` or `benchmark`.",
    ),
    Setting(
        "demo_seed",
        "RETAIL_PULSE_DEMO_SEED",
        "42",
        "Random seed of the generated demo warehouse.",
    ),
    Setting(
        "state_url",
        "RETAIL_PULSE_STATE_URL",
        "",
        "Operational store (alert actions, purchase-order drafts, decisions, audit log): a SQLAlchemy URL such "
        "as `postgresql://user:pass@host/db` for several dashboard instances. Empty: a SQLite file beside the "
        "warehouse, `<warehouse>.state.sqlite`.",
    ),
    Setting(
        "credentials",
        "RETAIL_PULSE_CREDENTIALS",
        "warehouse/credentials.yaml",
        "Users file (streamlit-authenticator YAML, bcrypt hashes), managed with `python -m dashboard.auth.users`. "
        "Session epochs live beside it in `<name>.sessions.json`.",
    ),
    Setting(
        "cookie_key",
        "RETAIL_PULSE_COOKIE_KEY",
        "",
        "Secret that signs the re-login cookie: at least 32 random characters, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`. Required outside demo mode; "
        "setting it also switches `auto` demo mode off.",
    ),
    Setting(
        "demo",
        "RETAIL_PULSE_DEMO",
        "auto",
        "Demo mode: `1` on, `0` off, `auto` on only while no cookie key is set and the credentials file is "
        "missing (then created with one public demo user per role) or is that demo file.",
    ),
    Setting(
        "cookie_expiry_days",
        "RETAIL_PULSE_COOKIE_EXPIRY_DAYS",
        "1",
        "Days a re-login cookie stays valid (0 to 30; 0 turns re-login cookies off). Logout revokes it earlier.",
    ),
    Setting(
        "login_free_attempts",
        "RETAIL_PULSE_LOGIN_FREE_ATTEMPTS",
        "5",
        "Failed sign-ins allowed per username and client before exponential backoff starts.",
    ),
    Setting(
        "login_max_backoff_seconds",
        "RETAIL_PULSE_LOGIN_MAX_BACKOFF_SECONDS",
        "300",
        "Longest wait the sign-in backoff imposes (it always expires; accounts are never locked for good).",
    ),
    Setting(
        "max_upload_mb",
        "RETAIL_PULSE_MAX_UPLOAD_MB",
        "200",
        "Largest file, in MB, the dashboard accepts for upload (the Data page's import). Uploads come only from "
        "signed-in admins; a reverse proxy in front should allow the same body size (README).",
    ),
    Setting(
        "models_dir",
        "RETAIL_PULSE_MODELS_DIR",
        "",
        "Folder of saved models (one signed folder per kind, merchant and version). Empty: `<warehouse>.models` "
        "beside the warehouse file.",
    ),
    Setting(
        "model_key",
        "RETAIL_PULSE_MODEL_KEY",
        "",
        "Secret that signs saved models (HMAC); models signed with another key are refused. Empty: a random key "
        "kept in `model.key` in the models folder (0600). Set the same value on every instance sharing a models "
        "folder.",
    ),
    Setting(
        "metrics_token",
        "RETAIL_PULSE_METRICS_TOKEN",
        "",
        "Bearer token that opens Streamlit's `/_stcore/metrics` (`Authorization: Bearer <token>`). Empty: the "
        "endpoint answers 404 to everyone.",
    ),
    Setting(
        "train_in_app",
        "RETAIL_PULSE_TRAIN_IN_APP",
        "on",
        "`on`: a model page whose model is missing or older than the data trains a new one on the dashboard's "
        "background worker. `off`: pages show the last saved model and say to run `python -m models train` "
        "(for instances where a scheduled job trains, or a test that must not train).",
    ),
    Setting(
        "chargeback_window_days",
        "RETAIL_PULSE_CHARGEBACK_WINDOW_DAYS",
        "90",
        "Days after a payment before it counts as legitimate for the fraud model (a chargeback can arrive "
        "until then); younger payments without a chargeback are not trained or evaluated on (1 to 730).",
    ),
    Setting(
        "import_max_mb",
        "RETAIL_PULSE_IMPORT_MAX_MB",
        "256",
        "Largest content an import reads, in MB after decompression (a `.gz`, the XML inside an `.xlsx`, a "
        "Parquet file's data); a bigger or decompression-bomb file is refused before it fills memory.",
    ),
    Setting(
        "public_url",
        "RETAIL_PULSE_PUBLIC_URL",
        "",
        "The dashboard's address as people reach it (e.g. `https://retail-pulse.example.com`): alert "
        "notifications link to `<it>/alerts?incident=<key>`. Empty: notifications carry no link.",
    ),
    Setting(
        "alerts_every_minutes",
        "RETAIL_PULSE_ALERTS_EVERY_MINUTES",
        "15",
        "The dashboard runs the alert check (detection and delivery, as `python -m models alerts check`) itself "
        "every this many minutes (1 to 1440) on the warehouse it holds; `off` leaves it to a scheduled command.",
    ),
    Setting(
        "alert_private_hosts",
        "RETAIL_PULSE_ALERT_PRIVATE_HOSTS",
        "",
        "Hosts on this machine or a private network that alert channels (webhooks, email relays) may send to, "
        "comma-separated names, addresses or networks (e.g. `127.0.0.1,10.0.0.0/8`). Empty: none.",
    ),
    Setting(
        "import_max_cells",
        "RETAIL_PULSE_IMPORT_MAX_CELLS",
        "20000000",
        "Most cells (rows x columns) an import reads; a file with more is refused.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str, environ: dict[str, str] | None = None) -> str:
    """The current value of setting ``name`` (raises KeyError for an unknown name)."""
    return _BY_NAME[name].value(environ)


def max_upload_mb(environ: dict[str, str] | None = None) -> int:
    """RETAIL_PULSE_MAX_UPLOAD_MB as a whole number of MB from 1 to 2048 (raises SettingError otherwise)."""
    raw = get("max_upload_mb", environ).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 2048:
        raise SettingError(f"RETAIL_PULSE_MAX_UPLOAD_MB must be a whole number of MB from 1 to 2048, not {raw!r}")
    return int(raw)


class SettingError(ValueError):
    """A setting's value is not allowed; the message names the variable and what is allowed."""


def whole_number(name: str, low: int, high: int, environ: dict[str, str] | None = None) -> int:
    """Setting ``name`` as a whole number from ``low`` to ``high`` (raises SettingError naming the variable)."""
    raw = get(name, environ).strip().replace("_", "")
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingError(f"{_BY_NAME[name].env} must be a whole number from {low:,} to {high:,}, not {raw!r}")
    return int(raw)


def warehouse_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse file: the explicit override, else RETAIL_PULSE_WAREHOUSE, else the default."""
    return Path(override) if override else Path(get("warehouse"))
