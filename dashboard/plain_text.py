"""Text that comes from data (names of categories, stores, regions, products, merchants...) shown as text.

Imported names are attacker-controlled: a tenant's own file can name a category
``<a href="https://evil.example">Shoes</a>``. Two renderers would turn that into a live link:

- **Plotly** reads a small HTML subset (``<a href>``, ``<b>``, ``<br>``...) in every string it draws:
  titles, axis ticks, bar labels, legend entries, hover text. ``plotly_text`` escapes ``&``, ``<`` and
  ``>``; plotly decodes entities only *after* it has split the string into tags, so ``&lt;a&gt;`` is
  drawn as the characters ``<a>``. Every string a chart builder hands to plotly goes through it.
- **Streamlit markdown** (``st.markdown``, ``st.caption``, ``st.info``..., also the breadcrumb) reads
  markdown, and its GFM "autolink literal" extension turns a bare ``https://...``, ``www....`` or
  ``name@host`` into a link even when every markdown character is backslash-escaped. ``markdown_text``
  therefore puts the value in a code span: the one markdown construct whose content is shown verbatim
  (no emphasis, links, autolinks, HTML or entities, none of Streamlit's ``:icon:``/``:color[]``/``$math$``
  either). A zero-width joiner inside ``://`` would also stop autolinks, but it changes the text a
  person copies and has to chase every autolink trigger (``www.``, e-mail addresses...); a code span
  needs no list.

Widgets that take options (selectbox, multiselect), ``st.text`` and ``st.dataframe`` show plain text
already and need neither.
"""

from __future__ import annotations

from typing import Any

NONE_TEXT = "(none)"
EMPTY_TEXT = "(empty)"

_PLOTLY_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def plotly_text(value: Any) -> str:
    """``value`` as a string plotly draws literally (``&``, ``<``, ``>`` as entities); None as "(none)"."""
    return NONE_TEXT if value is None else str(value).translate(_PLOTLY_ESCAPES)


def plotly_texts(values: list) -> list[str]:
    return [plotly_text(v) for v in values]


def markdown_text(value: Any) -> str:
    """``value`` as an inline markdown fragment that Streamlit shows verbatim: a code span.

    The fence is one backtick longer than the longest run of backticks in the value, and padded with
    a space when the value starts or ends with a backtick or a space (CommonMark strips exactly one
    such space from each side, except from a span of spaces only), so any string round-trips. Line
    breaks become spaces (a code span is inline). None reads "(none)", an empty string "(empty)".
    """
    if value is None:
        return NONE_TEXT
    text = " ".join(str(value).splitlines())
    if text == "":
        return EMPTY_TEXT
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.strip(" ") and (text[0] in "` " or text[-1] in "` ") else ""  # all spaces: kept as is
    return f"{fence}{pad}{text}{pad}{fence}"
