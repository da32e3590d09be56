"""Filters that stick: they survive moving between pages, live in the URL (a reload keeps them, a link shares
them) and come back from saved views.

Streamlit forgets a widget's value after a run that does not draw it (the currency picker is not on the
Data page), so every filter widget goes through ``prepare`` before it is drawn and ``keep`` after:

- ``prepare(key, options, default)`` sets the widget's value from, in order: its current value, a link or
  saved view being opened (``pending``), the last value kept this session, the default; and always only
  among ``options``, which the caller computes for the signed-in person's scope. A link or saved view
  naming another merchant, or another merchant's store or category, therefore cannot widen the scope:
  those values are not options and are dropped.
- ``keep(key, value, default)`` remembers the value for the session and writes it into the URL
  (``st.query_params``; nothing for a default, so a plain URL stays plain).

``encode``/``decode`` (pure) translate between widget values and URL parameters; a malformed parameter is
ignored, never an error.

A link to a page opened while signed out (``/sales?period=last_90``) leads to that page after sign-in:
the sign-in form remembers the page the URL names (``remember_linked_page``), and the entrypoint, once
``st.navigation`` knows the signed-in person's pages, switches to it (``open_linked_page``) with the URL's
parameters, which the shared filters have by then checked against the person's scope. A page the person's
role may not open is not followed: they stay on the Overview.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import streamlit as st

from dashboard.navigation import PAGES_BY_KEY, may_open


@dataclass(frozen=True)
class Param:
    key: str  # widget key
    name: str  # URL parameter
    kind: str  # "text", "texts", "ints", "dates"


PARAMS: tuple[Param, ...] = (
    Param("flt_merchants", "merchant", "ints"),
    Param("flt_period", "period", "text"),
    Param("flt_custom", "dates", "dates"),
    Param("flt_regions", "region", "texts"),
    Param("flt_stores", "store", "ints"),
    Param("flt_categories", "category", "texts"),
    Param("flt_channels", "channel", "texts"),
    Param("flt_payments", "payment", "texts"),
    Param("currency_pick", "currency", "text"),
)
BY_KEY = {p.key: p for p in PARAMS}
BY_NAME = {p.name: p for p in PARAMS}
MAX_VALUES = 200  # a URL naming more values than this is not one a person made

_KEPT = "rp_kept_filters"  # key -> last value drawn this session
_DEFAULTS = "rp_filter_defaults"  # key -> its default in the last draw
_PENDING = "rp_pending_filters"  # key -> value from a link or saved view, not yet drawn
_LINK_READ = "rp_link_read"
LINKED_PAGE = "rp_linked_page"  # the page key a URL asked for before sign-in (None: none)
NAV_PAGES = "rp_nav_pages"  # (role, the st.Page objects of its menu), built once per session (app.py)


def _encode_one(param: Param, value: Any) -> list[str]:
    if param.kind == "text":
        return [] if value is None else [str(value)]
    if param.kind == "dates":
        return [d.isoformat() for d in value] if isinstance(value, (list, tuple)) and len(value) == 2 else []
    return [str(v) for v in (value or ())]


def encode(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """URL parameters for widget ``values`` (key -> value): ``{"region": ["North", "West"], ...}``."""
    out = {}
    for key, value in values.items():
        if key in BY_KEY and (texts := _encode_one(BY_KEY[key], value)):
            out[BY_KEY[key].name] = texts
    return out


def _decode_one(param: Param, texts: Sequence[str]) -> Any:
    texts = [t for t in texts if isinstance(t, str)][:MAX_VALUES]
    if param.kind == "text":
        return texts[0] if texts else None
    if param.kind == "ints":
        return [int(t) for t in texts if t.strip().lstrip("-").isdigit()]
    if param.kind == "dates":
        try:
            days = [dt.date.fromisoformat(t) for t in texts]
        except ValueError:
            return None
        return tuple(sorted(days)) if len(days) == 2 else None
    return list(dict.fromkeys(texts))


def decode(params: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Widget values (key -> value) from URL parameters; unknown names and malformed values are left out."""
    out = {}
    for name, texts in params.items():
        if name in BY_NAME:
            value = _decode_one(BY_NAME[name], list(texts))
            if value not in (None, []):
                out[BY_NAME[name].key] = value
    return out


def sanitize(value: Any, options: Sequence[Any] | None, many: bool) -> Any:
    """``value`` restricted to ``options`` (None: any value): a list keeps its allowed items in order,
    a single value becomes None when it is not allowed."""
    if options is None:
        return value
    allowed = set(options)
    if many:
        return [v for v in (value or ()) if v in allowed]
    return value if value in allowed else None


def page_from_url(url: str | None, base_path: str = "") -> str | None:
    """The page key a browser URL names ("http://host/sales" -> "sales"; under ``server.baseUrlPath`` "rp",
    "http://host/rp/sales" -> "sales"), or None for the app's root, an unknown page or no URL."""
    if not isinstance(url, str) or not url:
        return None
    parts = [unquote(p) for p in urlsplit(url).path.split("/") if p]
    base = [p for p in (base_path or "").split("/") if p]
    if parts[:len(base)] == base:
        parts = parts[len(base):]
    return parts[0] if len(parts) == 1 and parts[0] in PAGES_BY_KEY else None


# ----------------------------------------------------------------------------------------- streamlit


def remember_linked_page() -> None:
    """Signed out: remember the page the browser's URL names, to open it after sign-in (first run only).

    ``st.context.url`` still holds the page's path here: Streamlit trims it only for pages that
    ``st.navigation`` has registered, and a signed-out run never reaches it.
    """
    if LINKED_PAGE in st.session_state:
        return
    try:
        url = st.context.url
    except Exception:  # noqa: BLE001 - no browser context (a bare script run): nothing to remember
        url = None
    st.session_state[LINKED_PAGE] = page_from_url(url, str(st.get_option("server.baseUrlPath") or ""))


def open_linked_page(role: str, current: str | None) -> None:
    """Once signed in, after ``st.navigation``: switch to the page remembered before sign-in, with the URL's
    parameters, if ``role`` may open it and it is not ``current`` (the page navigation chose); else nothing."""
    key = st.session_state.pop(LINKED_PAGE, None)
    if key is None or key == current or not may_open(role, key):
        return
    # The shared filters drew before this (they run ahead of navigation), so the URL's filter parameters
    # have been read into the widgets and written back checked against the person's scope.
    params = {name: st.query_params.get_all(name) for name in st.query_params.keys()}
    st.switch_page(str(PAGES_BY_KEY[key].path), query_params=params)


def read_link() -> None:
    """Once per browser session: the filters in the URL become pending values (a reload or a shared link)."""
    if st.session_state.get(_LINK_READ):
        return
    st.session_state[_LINK_READ] = True
    params = {name: st.query_params.get_all(name) for name in st.query_params.keys()}
    open_values(decode(params))
    for name in params:  # the filters drawn from them write themselves back; what is not drawn goes
        if name in BY_NAME:
            del st.query_params[name]


def open_values(values: Mapping[str, Any]) -> None:
    """Make ``values`` (key -> value, e.g. a saved view) the filters of the next draw; drop the current ones.

    Safe in a widget callback: the widgets read them in ``prepare`` on the next run.
    """
    pending = {k: v for k, v in values.items() if k in BY_KEY}
    for key in BY_KEY:
        if key not in pending:
            pending[key] = None  # back to the default: a view is the whole set of filters
    st.session_state[_PENDING] = pending


def current_values() -> dict[str, Any]:
    """The filters kept this session that differ from their defaults (key -> value), e.g. to save as a view.

    Defaults are left out so a view of "all merchants" still means all of them after a new one is added.
    """
    defaults = st.session_state.get(_DEFAULTS, {})
    return {k: v for k, v in st.session_state.get(_KEPT, {}).items() if v != defaults.get(k)}


def current(key: str, default: Any = None) -> Any:
    """A filter's value before its widget is drawn this run: the widget's own, else the kept one."""
    if key in st.session_state and st.session_state[key] is not None:
        return st.session_state[key]
    pending = st.session_state.get(_PENDING, {})
    if pending.get(key) is not None:
        return pending[key]
    return st.session_state.get(_KEPT, {}).get(key, default)


def prepare(key: str, options: Sequence[Any] | None, default: Any, many: bool = False) -> None:
    """Set widget ``key``'s value before it is drawn (see the module docstring); always one of ``options``."""
    pending = st.session_state.get(_PENDING, {})
    if key in pending:
        value = pending.pop(key)
        value = default if value is None else value
    elif key in st.session_state:
        value = st.session_state[key]
    else:
        value = st.session_state.get(_KEPT, {}).get(key, default)
    value = sanitize(value, options, many)
    if value is None or (many and not value and default):
        value = default
    st.session_state[key] = value


def keep(key: str, value: Any, default: Any = None) -> None:
    """Remember ``value`` of widget ``key`` for this session and put it in the URL (left out when default)."""
    st.session_state.setdefault(_KEPT, {})[key] = value
    st.session_state.setdefault(_DEFAULTS, {})[key] = default
    param = BY_KEY[key]
    texts = [] if value == default else _encode_one(param, value)
    if texts:
        if st.query_params.get_all(param.name) != texts:
            st.query_params[param.name] = texts
    elif param.name in st.query_params:
        del st.query_params[param.name]
