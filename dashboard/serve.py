"""Serve Retail Pulse: ``streamlit run dashboard/serve.py`` (what ./start.sh and the Dockerfile run).

``st.App`` wraps the page script ``app.py`` so the HTTP guard (web_guard.py: security headers,
signed-in uploads only, upload size cap, private metrics) sits in front of Streamlit's own routes.
``streamlit run`` finds the ``app`` object below and serves it with uvicorn.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from streamlit import config as st_config  # noqa: E402

from dashboard.web_guard import WebGuard  # noqa: E402
from data import settings  # noqa: E402
from data.warehouse import use_private_umask  # noqa: E402

try:
    MAX_UPLOAD_MB = settings.max_upload_mb()
except settings.SettingError as exc:  # a clear line instead of a traceback, before anything listens
    sys.exit(f"Retail Pulse refuses to start: {exc}")

use_private_umask()  # data files the server creates are private to its user (warehouse, inbox, reports)
# Streamlit's own limit (and the uploader widget's stated limit) follows the Retail Pulse setting;
# the guard enforces the same cap itself while the body streams.
st_config.set_option("server.maxUploadSize", MAX_UPLOAD_MB)

app = st.App(str(Path(__file__).with_name("app.py")), middleware=[Middleware(WebGuard)])
