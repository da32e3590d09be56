"""Plotly figures for the analytics pages: ``build_*_figure(frame, ...) -> go.Figure``, pure.

Each builder takes the documented frame of one analytics call and returns a figure; nothing here
queries or reads session state. Drillable figures put each point's key in ``customdata`` as text
(``key_text``), which ``dashboard.drill.clicked_value`` maps back to the value.

Every string a builder hands to plotly (labels, names, titles, hover text, customdata) goes through
``plain_text.plotly_text``, because plotly draws ``<a href>`` and friends inside any of them as live
markup and names come from imported files. Hover templates never have data pasted into them
(``%{fullData.name}`` shows the escaped trace name instead).

Categorical colours come from ``dashboard.colours``: each name of a kind (category, region, store, payment
method) has one look (colour, and hatching beyond 8 names) on every page and for every merchant, distinct from
the other names of its kind in the warehouse.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import plotly.graph_objects as go

from dashboard.colours import PALETTE, current_book
from dashboard.formatting import value_words
from dashboard.plain_text import NONE_TEXT, plotly_text, plotly_texts

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NONE_LABEL = NONE_TEXT
SEGMENT_LABELS = {"repeat": "Repeat customers", "one_time": "One-time customers", "guest": "Guest checkouts"}
METRIC_LABELS = {"revenue": "Revenue", "orders": "Orders"}
# Sequential scales readable with any colour vision (and in greyscale); on-time rate: higher is better.
SEQUENTIAL = "Blues"
RATE_SCALE = "Viridis"
TEMPLATES = {"light": "plotly_white", "dark": "plotly_dark"}


def color_for(name: object, kind: str = "category") -> str:
    """The colour of ``name`` among the names of ``kind`` (``dashboard.colours``; its hatching: ``marker_for``)."""
    return current_book().look(kind, name).colour


def colors_for(names: list, kind: str = "category") -> list[str]:
    return [color_for(n, kind) for n in names]


def marker_for(kind: str, names: list) -> dict:
    """plotly ``marker`` colours and hatching of ``names`` (one per bar) of ``kind``."""
    looks = current_book().looks(kind, names)
    marker: dict = {"color": [look.colour for look in looks]}
    if any(look.pattern for look in looks):  # hatching drawn over the colour, which stays the bar's own
        marker["pattern"] = {"shape": [look.pattern for look in looks], "fillmode": "overlay", "solidity": 0.35}
    return marker


def _one_marker(kind: str, name: object) -> dict:
    marker = marker_for(kind, [name])
    return {"color": marker["color"][0],
            **({"pattern": {**marker["pattern"], "shape": marker["pattern"]["shape"][0]}} if "pattern" in marker else {})}


def _lean_template(name: str) -> go.layout.Template:
    """The colours of plotly template ``name`` (font, backgrounds, grid and axis lines, colourway) and nothing else.

    Assigning a full built-in template validates its every trace default: about 10 ms a figure, a tenth of a
    page view's server time under load (py-spy); this one costs about 2 ms and draws the same colours.
    """
    import plotly.io as pio

    lay = pio.templates[name].layout
    axis = {k: {"gridcolor": getattr(lay, k).gridcolor, "linecolor": getattr(lay, k).linecolor,
                "zerolinecolor": getattr(lay, k).zerolinecolor} for k in ("xaxis", "yaxis")}
    return go.layout.Template(layout={"font": {"color": lay.font.color}, "paper_bgcolor": lay.paper_bgcolor,
                                      "plot_bgcolor": lay.plot_bgcolor, "colorway": lay.colorway, **axis})


_LEAN: dict[str, go.layout.Template] = {}


def apply_theme(fig: go.Figure, theme: str | None) -> go.Figure:
    """Draw ``fig`` for the browser's theme (``st.context.theme.type``: "light", "dark" or None = light), on a
    transparent background so it sits on the page's own colour."""
    name = TEMPLATES.get(theme or "light", TEMPLATES["light"])
    if name not in _LEAN:
        _LEAN[name] = _lean_template(name)
    fig.update_layout(template=_LEAN[name], paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig


def _money(label: str, currency: str | None) -> str:
    """An axis or legend title with its currency, escaped for plotly."""
    return plotly_text(f"{label} ({currency})" if currency else label)


def _merge(into: dict, more: dict) -> dict:
    """Deep-merge ``more`` into ``into`` (nested dicts merged, other values replaced); returns ``into``."""
    for k, v in more.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v
    return into


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    # Titles carry data (e.g. "Revenue by store in <region>"), so they are escaped here, for every builder.
    # The title sits on its own line above the plot and the modebar stands upright at the right edge, so
    # on a phone (390 px) the toolbar does not cover the title.
    # One new Layout rather than update_layout + update_xaxes + update_yaxes: the same figure (apply_theme sets
    # the template afterwards, so the default one is left out) at half the cost; plotly's update machinery was
    # a seventh of a page run's server time under load.
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)
    _merge(layout, {
        "title": {"text": plotly_text(title), "x": 0, "xanchor": "left", "xref": "container", "y": 1,
                  "yanchor": "bottom", "yref": "paper", "pad": {"b": 12, "l": 4}, "font": {"size": 15}},
        "height": height, "margin": {"l": 10, "r": 40, "t": 56, "b": 10}, "legend": {"orientation": "h", "y": -0.2},
        "clickmode": "event+select", "modebar": {"orientation": "v"}, "separators": ".,"})
    for name in {"xaxis", "yaxis", *[k for k in layout if k.startswith(("xaxis", "yaxis"))]}:
        layout.setdefault(name, {})["separatethousands"] = True  # "4,000", like the tables and cards
    fig.layout = go.Layout(layout)
    return fig


def key_text(values: list) -> list[str]:
    """customdata for drillable points: the key as escaped text, "" for a null key (never drillable)."""
    return ["" if v is None else plotly_text(v) for v in values]


def labels(values: list) -> list[str]:
    """Raw display labels ("(none)" for null); escape them (``plotly_text``) after any joining or cutting."""
    return [NONE_LABEL if v is None else str(v) for v in values]


def unique_labels(names: list[str], keys: list) -> list[str]:
    """Bar labels made unique (a category axis would merge equal labels): duplicates get their key."""
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return [f"{name} [{k}]" if seen[name] > 1 else name for name, k in zip(names, keys)]


def build_trend_figure(daily: pl.DataFrame, metric: str, comparison_label: str, currency: str | None,
                       highlight: dt.date | None = None) -> go.Figure:
    """Daily ``metric`` (revenue or orders) of the period beside the comparison period, aligned by day offset.

    ``daily`` is ``analytics.trends.compute_daily_trend``. Trace 0 is the period (drillable by day),
    trace 1 the comparison, drawn at the same positions with its own dates in the hover. ``highlight``
    marks the day drilled into.
    """
    if metric not in METRIC_LABELS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRIC_LABELS)}")
    days = daily["day"].to_list()
    y_title = _money(METRIC_LABELS[metric], currency if metric == "revenue" else None)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=days, y=daily[metric].to_list(), name="This period", mode="lines+markers",
        line={"color": PALETTE[0]}, customdata=key_text(days), hovertemplate="%{x|%a %d %b %Y}: %{y:,.2f}<extra>%{fullData.name}</extra>"))
    fig.add_trace(go.Scatter(
        x=days, y=daily[f"comparison_{metric}"].to_list(), name=plotly_text(comparison_label), mode="lines",
        line={"dash": "dot", "color": PALETTE[1]}, customdata=key_text(daily["comparison_day"].to_list()),
        hovertemplate="%{customdata}: %{y:,.2f}<extra>%{fullData.name}</extra>"))
    fig.update_yaxes(title=y_title, rangemode="tozero")
    if highlight is not None:
        fig.add_shape(type="line", x0=highlight.isoformat(), x1=highlight.isoformat(), y0=0, y1=1, yref="paper",
                      line={"dash": "dash", "color": "grey"})
    return _layout(fig, f"{METRIC_LABELS[metric]} per day, with {comparison_label.lower()}")


def build_bar_figure(frame: pl.DataFrame, key: str, value: str, *, title: str, value_label: str,
                     currency: str | None = None, label: str | None = None, top: int | None = None,
                     highlight: object = None, color_by: str | None = None) -> go.Figure:
    """Horizontal bars of ``value`` per ``key`` (largest on top), optionally only the ``top`` rows.

    ``label`` names a column to show instead of the key (e.g. product_name); customdata keeps the key.
    Each bar has the look of its key among the names of kind ``key`` (``marker_for``: "category", "region",
    "store_id"), or that of its ``color_by`` column (products: their category); ``highlight`` (a key) dims
    every other bar.
    """
    rows = frame.sort(value, descending=True, nulls_last=True)
    if top is not None:
        rows = rows.head(top)
    rows = rows.reverse()  # plotly draws the first bar at the bottom
    keys = rows[key].to_list()
    raw = labels(rows[label].to_list() if label else keys)
    names = plotly_texts(unique_labels(raw, keys))
    marker = marker_for(color_by or key, rows[color_by].to_list() if color_by else keys)
    fig = go.Figure(go.Bar(x=rows[value].to_list(), y=names, orientation="h", customdata=key_text(keys),
                           marker={**marker, "opacity": None if highlight is None else [1.0 if k == highlight else 0.35
                                                                                        for k in keys]},
                           hovertemplate="%{y}: %{x:,.2f}<extra></extra>"))
    fig.update_xaxes(title=_money(value_label, currency))
    fig.update_yaxes(type="category")
    return _layout(fig, title, height=max(300, 60 + 24 * rows.height))


def build_product_figure(products: pl.DataFrame, *, title: str, currency: str | None, top: int) -> go.Figure:
    """Top products by revenue, labelled "SKU · name" (``compute_product_breakdown``); keyed by product_id."""
    names = [sku if not name or name == sku else f"{sku} · {name[:32]}"
             for sku, name in zip(products["sku"].to_list(), products["product_name"].to_list())]
    frame = products.with_columns(pl.Series("_label", names, dtype=pl.Utf8))
    return build_bar_figure(frame, "product_id", "revenue", title=title, value_label="Revenue", currency=currency,
                            label="_label", top=top, color_by="category" if "category" in frame.columns else None)


def weekday_hour_matrix(frame: pl.DataFrame, value: str) -> list[list[float]]:
    """7 x 24 values (rows Monday..Sunday, columns hour 0..23) from ``compute_weekday_hour``; 0 where absent."""
    grid = [[0.0] * 24 for _ in range(7)]
    for row in frame.iter_rows(named=True):
        grid[int(row["weekday"])][int(row["hour"])] = float(row[value] or 0)
    return grid


def build_weekday_hour_figure(frame: pl.DataFrame, value: str = "orders", currency: str | None = None) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=weekday_hour_matrix(frame, value), x=list(range(24)), y=list(WEEKDAYS),
                               colorscale=SEQUENTIAL, hovertemplate="%{y} %{x}:00: %{z:,.0f}<extra></extra>",
                               colorbar={"title": _money(value.capitalize(), currency if value == "revenue" else None)}))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="Hour of day", dtick=2)
    return _layout(fig, f"{value.capitalize()} by weekday and hour")


def weekday_totals(frame: pl.DataFrame) -> pl.DataFrame:
    """``compute_weekday_hour`` summed over the hours: weekday (Int8, 0 = Monday), orders, revenue; 7 rows."""
    return frame.group_by("weekday").agg(pl.col("orders").sum(), pl.col("revenue").sum()).sort("weekday")


def build_weekday_figure(frame: pl.DataFrame, value: str = "orders", currency: str | None = None) -> go.Figure:
    """Bars of ``value`` per weekday (``weekday_totals``), for data whose orders carry no time of day."""
    days = [WEEKDAYS[int(d)] for d in frame["weekday"].to_list()]
    title = _money(value.capitalize(), currency if value == "revenue" else None)
    fig = go.Figure(go.Bar(x=days, y=frame[value].to_list(), hovertemplate="%{x}: %{y:,.0f}<extra></extra>"))
    fig.update_yaxes(title=title, rangemode="tozero")
    fig.update_xaxes(type="category", title="Weekday")
    return _layout(fig, f"{value.capitalize()} by weekday (no times of day in this data)")


def period_end(start: dt.date, grain: str) -> dt.date:
    """The last day of the month or quarter starting on ``start``."""
    months = 3 if grain == "quarter" else 1
    year, month = divmod(start.month - 1 + months, 12)
    return dt.date(start.year + year, month + 1, 1) - dt.timedelta(days=1)


def period_labels(starts: list, grain: str, period: tuple[dt.date, dt.date] | None = None) -> list[str]:
    """"Oct 2026" / "Q4 2026" per bar; "2 Oct – 31 Oct 2026" where ``period`` (from, to) covers only part of it."""
    out = []
    for start in starts:
        start = start.date() if isinstance(start, dt.datetime) else start
        end = period_end(start, grain)
        whole = f"Q{(start.month - 1) // 3 + 1} {start.year}" if grain == "quarter" else f"{start:%b %Y}"
        first, last = (max(start, period[0]), min(end, period[1])) if period else (start, end)
        out.append(whole if (first, last) == (start, end) else f"{first:%-d %b} – {last:%-d %b %Y}")
    return out


def _period_range(starts: list, grain: str) -> list[str] | None:
    """Half a period either side of the bars, so one bar is a bar, not the whole width."""
    if not starts:
        return None
    first, last = min(starts), max(starts)
    half = dt.timedelta(days=46 if grain == "quarter" else 15)
    return [(first - half).isoformat(), (period_end(last, grain) - half + dt.timedelta(days=1)).isoformat()]


def build_period_figure(frame: pl.DataFrame, grain: str, currency: str | None,
                        period: tuple[dt.date, dt.date] | None = None) -> go.Figure:
    """Revenue bars per month or quarter with orders as a line on a second axis (``compute_period_trend``).

    Partial months or quarters (column ``partial``) are a separate, hatched and lighter bar trace, so the
    legend names them and a short bar is not read as a bad month.
    """
    starts = frame["period_start"].to_list()
    partial = frame["partial"].to_list() if "partial" in frame.columns else [False] * frame.height
    fig = go.Figure()
    for part, name, extra in ((False, _money("Revenue", currency), {}),
                              (True, _money(f"Revenue, partial {grain} (hatched)", currency),
                               {"marker": {"pattern": {"shape": "/"}, "opacity": 0.55}})):
        rows = [i for i, p in enumerate(partial) if bool(p) == part]
        if rows or not part:
            fig.add_trace(go.Bar(x=[starts[i] for i in rows], y=[frame["revenue"][i] for i in rows], name=name,
                                 **extra))
    fig.add_trace(go.Scatter(x=starts, y=frame["orders"].to_list(), name="Orders", yaxis="y2", mode="lines+markers"))
    # Orders get their own round ticks: plotly would otherwise sync them to the revenue grid (163, 326, 489).
    fig.update_layout(yaxis={"title": _money("Revenue", currency)}, barmode="overlay",
                      yaxis2={"title": "Orders", "overlaying": "y", "side": "right", "rangemode": "tozero",
                              "tickmode": "auto", "showgrid": False, "tickformat": ",d"})
    # One tick per bar, naming its month or quarter (and its days when only part of it is shown): a single
    # bar on a date axis otherwise gets sub-second ticks ("23:59:59.9996").
    fig.update_xaxes(tickmode="array", tickvals=starts, ticktext=period_labels(starts, grain, period),
                     type="date", range=_period_range(starts, grain))
    # Bar widths on a date axis are milliseconds; a lone bar would get plotly's 1 ms and vanish.
    fig.update_traces(width=(70 if grain == "quarter" else 23) * 86_400_000, selector={"type": "bar"})
    return _layout(fig, f"Revenue and orders per {grain}")


def build_profitability_figure(frame: pl.DataFrame, currency: str | None) -> go.Figure:
    """Per category: revenue, what discounts cost and gross margin (``compute_category_profitability``)."""
    cats = plotly_texts(labels(frame["category"].to_list()))
    fig = go.Figure()
    for column, name in (("revenue", "Revenue"), ("discount_cost", "Discounts granted"), ("gross_margin", "Gross margin")):
        fig.add_trace(go.Bar(x=cats, y=frame[column].to_list(), name=name, marker=_one_marker("measure", name)))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=_money("Amount", currency))
    return _layout(fig, "Margin after discounts per category")


def build_payment_mix_figure(frame: pl.DataFrame) -> go.Figure:
    """Stacked share of orders per payment method within each group (``compute_payment_mix``)."""
    groups = list(dict.fromkeys(frame["group"].to_list()))
    fig = go.Figure()
    for method in sorted(set(frame["payment_method"].to_list())):
        part = frame.filter(pl.col("payment_method") == method)
        share = dict(zip(part["group"].to_list(), part["order_share"].to_list()))
        fig.add_trace(go.Bar(x=plotly_texts(groups), y=[share.get(g) or 0.0 for g in groups],
                             name=plotly_text(value_words(method)), marker=_one_marker("payment_method", method),
                             hovertemplate="%{x}: %{y:.1%}<extra>%{fullData.name}</extra>"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="Share of orders", tickformat=".0%", range=[0, 1])
    return _layout(fig, "Payment method mix")


def cohort_matrix(frame: pl.DataFrame) -> tuple[list, list[int], list[list[float | None]]]:
    """(cohort months, months since 0..n, retention rows with None for cells not reached yet)."""
    months = sorted(set(frame["cohort_month"].to_list()))
    offsets = sorted(set(frame["months_since"].to_list()))
    cells = {(r["cohort_month"], r["months_since"]): r["retention"] for r in frame.iter_rows(named=True)}
    return months, offsets, [[cells.get((m, k)) for k in offsets] for m in months]


def build_cohort_figure(frame: pl.DataFrame) -> go.Figure:
    months, offsets, z = cohort_matrix(frame)
    # A cell not reached yet is empty: no colour, and "" as its text (plotly prints None as "null").
    fig = go.Figure(go.Heatmap(z=z, x=offsets, y=[f"{m:%b %Y}" for m in months], colorscale=SEQUENTIAL, zmin=0,
                               zmax=1, text=[["" if v is None else f"{v:.0%}" for v in row] for row in z],
                               texttemplate="%{text}", hovertemplate="%{y}, month %{x}: %{z:.1%}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category", title="First order in")
    fig.update_xaxes(title="Months since first order", dtick=1)
    return _layout(fig, "Monthly cohort retention", height=max(300, 80 + 28 * len(months)))


def build_repeat_share_figure(frame: pl.DataFrame, currency: str | None) -> go.Figure:
    """Share of sales by repeat customers, one-time customers and guests (``compute_repeat_customer_share``)."""
    names = plotly_texts([SEGMENT_LABELS.get(s, s) for s in frame["segment"].to_list()])
    amounts = plotly_texts([f"{v or 0:,.2f} {currency or ''}".strip() for v in frame["sales"].to_list()])
    fig = go.Figure(go.Bar(x=names, y=frame["sales_share"].fill_null(0).to_list(), hovertext=amounts,
                           marker=marker_for("segment", frame["segment"].to_list()),
                           hovertemplate="%{x}: %{y:.1%} (%{hovertext})<extra></extra>"))
    fig.update_yaxes(title="Share of sales", tickformat=".0%", range=[0, 1])
    return _layout(fig, "Share of sales by repeat and one-time customers", height=320)


def delivery_by_partner(frame: pl.DataFrame) -> pl.DataFrame:
    """``compute_delivery_performance`` rolled up per partner: shipments, delivered, on_time_rate, avg_delay_days."""
    return frame.group_by("partner").agg(
        pl.col("shipments").sum(), pl.col("delivered").sum(), pl.col("on_time").sum(),
        (pl.col("avg_delay_days") * pl.col("delivered")).sum().alias("_delay_sum"),
    ).with_columns(
        pl.when(pl.col("delivered") > 0).then(pl.col("on_time") / pl.col("delivered")).alias("on_time_rate"),
        pl.when(pl.col("delivered") > 0).then(pl.col("_delay_sum") / pl.col("delivered")).alias("avg_delay_days"),
    ).drop("_delay_sum").sort("partner")


def build_delivery_figure(frame: pl.DataFrame) -> go.Figure:
    """On-time rate per carrier and destination region (heatmap), average delay in the hover."""
    partners = sorted(set(frame["partner"].to_list()))
    regions = sorted(set(frame["region"].to_list()))
    cells = {(r["partner"], r["region"]): r for r in frame.iter_rows(named=True)}
    z = [[(cells.get((p, g)) or {}).get("on_time_rate") for g in regions] for p in partners]
    delay = [[(cells.get((p, g)) or {}).get("avg_delay_days") for g in regions] for p in partners]
    text = [["" if v is None else f"{v:.0%}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=plotly_texts(regions), y=plotly_texts(partners), customdata=delay,
                               colorscale=RATE_SCALE, zmin=0, zmax=1, text=text, texttemplate="%{text}",
                               colorbar={"title": "On time", "tickformat": ".0%"},
                               hovertemplate="%{y} to %{x}: %{z:.1%} on time, average delay %{customdata:.1f} days"
                               "<extra></extra>"))
    return _layout(fig, "On-time rate by carrier and region", height=max(300, 100 + 40 * len(partners)))
