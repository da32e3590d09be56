"""Drill-down: a chart click or a keyed picker narrows a section to one category, region or day.

The drill state of a section *is* the value of its picker (a selectbox keyed ``Drill.key``), so
there is one source of truth whichever way the person drills:

- clicking a bar or point runs ``chart_callback``, which writes the clicked value into that key;
- choosing in the picker writes it directly (this is also how AppTest, which cannot click a
  plotly chart, drives a drill);
- the breadcrumb's root button writes ``None`` back (the whole view).

The pure half (``clicked_value``, ``sanitize``, ``breadcrumb``) is tested without streamlit.
A click is handled in a callback, not by reading the chart's selection on every run, because a
selection outlives the click: read each run, it would drill again right after "back".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.plain_text import markdown_text, plotly_text


@dataclass(frozen=True)
class Drill:
    key: str  # session_state key of the picker: the drill state
    root: str  # breadcrumb root and the picker's "no drill" choice, e.g. "All categories"
    label: str  # picker label, e.g. "Category"


def _points(event: Any) -> list[Mapping[str, Any]]:
    """The selected points of a plotly selection state (a dict-like PlotlyState or a plain dict)."""
    if not event:
        return []
    selection = event.get("selection") if hasattr(event, "get") else getattr(event, "selection", None)
    if not selection:
        return []
    points = selection.get("points") if hasattr(selection, "get") else getattr(selection, "points", None)
    return list(points or [])


def _as_text(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value is None else str(value)


def clicked_value(event: Any, options: Sequence[Any], curve: int | None = 0) -> Any | None:
    """The option a click selected, or None.

    Figures from ``dashboard.charts`` put each point's key in ``customdata`` as escaped text
    (``plotly_text(option)``, see ``charts.key_text``); a click on another trace than ``curve`` (e.g.
    the comparison line) is ignored, as is a value that is not among ``options`` (stale or forged).
    """
    by_text = {plotly_text(o): o for o in options if o is not None}
    for point in _points(event):
        if curve is not None and point.get("curve_number", 0) != curve:
            continue
        text = _as_text(point.get("customdata"))
        if text is None:
            text = _as_text(point.get("x"))
        if text is not None and text in by_text:
            return by_text[text]
    return None


def sanitize(value: Any, options: Sequence[Any]) -> Any | None:
    """``value`` when it is still one of ``options`` (filters may have removed it), else None."""
    return value if value is not None and value in options else None


def breadcrumb(drill: Drill, value: Any, fmt: Callable[[Any], str] = str) -> list[str]:
    """The labels from the root to the current drill: ``["All categories", "Toys"]`` or ``["All categories"]``."""
    return [drill.root] if value is None else [drill.root, fmt(value)]


def format_day(day: dt.date) -> str:
    return f"{day:%a %d %b %Y}"


# ----------------------------------------------------------------------------------------- streamlit


def render_picker(drill: Drill, options: Sequence[Any], fmt: Callable[[Any], str] = str,
                  container: Any = None) -> Any | None:
    """The keyed picker (root choice first); returns the current drill value (None = not drilled)."""
    options = [o for o in options if o is not None]
    if drill.key in st.session_state and sanitize(st.session_state[drill.key], options) is None:
        st.session_state[drill.key] = None  # before the widget exists in this run, so allowed
    box = container if container is not None else st
    return box.selectbox(drill.label, [None, *options], key=drill.key,
                         format_func=lambda v: drill.root if v is None else fmt(v),
                         help="Pick one here, or click it in the chart, to see its detail beside the chart.")


def chart_callback(drill: Drill, chart_key: str, options: Sequence[Any], curve: int | None = 0) -> Callable[[], None]:
    """An ``on_select`` callback for ``st.plotly_chart(..., key=chart_key)`` that drills into the clicked value."""
    options = list(options)

    def on_select() -> None:
        value = clicked_value(st.session_state.get(chart_key), options, curve)
        if value is not None:
            st.session_state[drill.key] = value

    return on_select


def _back(drill: Drill) -> None:
    st.session_state[drill.key] = None


def breadcrumb_markdown(drill: Drill, value: Any, fmt: Callable[[Any], str] = str) -> str:
    """The breadcrumb after its root button, as markdown: "› **`Toys`**", the drilled value (data) verbatim in
    a code span. The root is the button itself, so it is not written a second time."""
    _, *rest = breadcrumb(drill, value, fmt)
    return " › ".join(["", *(f"**{markdown_text(label)}**" for label in rest)]).strip()


def render_breadcrumb(drill: Drill, value: Any, fmt: Callable[[Any], str] = str) -> None:
    """``[← All categories] › Toys``: the root is a button back to the whole view (key ``<drill.key>_back``)."""
    if value is None:
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.button(f"← {drill.root}", key=f"{drill.key}_back", on_click=_back, args=(drill,), type="tertiary",
                  help=f"Back to {drill.root.lower()}")
        st.markdown(breadcrumb_markdown(drill, value, fmt), width="content")


def detail_beside(value: Any, ratio: tuple[int, int] = (3, 2)) -> tuple[Any, Any]:
    """Two places for a drill-down: (first, second) columns side by side once drilled, so the detail shows
    next to the chart the person clicked instead of below the fold; before a drill, one container twice.
    On a phone the columns stack, the second right under the first."""
    if value is None:
        box = st.container()
        return box, box
    first, second = st.columns(list(ratio), gap="medium")
    return first, second
