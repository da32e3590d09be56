"""Category colours: the same for a name on every page, for every merchant and server, and distinct among the
names of one kind that a chart shows together.

A hash of each name into 8 colours cannot do both: two of the categories on one chart would often land on the
same colour. So a ``ColourBook`` gives each name of a kind (category, region, store, payment method, ...) one
look for the whole warehouse, every merchant's names together, so a merchant sees "kitchen" in the colour staff
see it in. Looks: the 8 colours of Okabe & Ito's colour-blind-safe palette, solid, then the same colours hatched
(``PATTERNS``), which tells bars apart for any colour vision: 64 looks per kind.

Names are numbered in a fixed order (``Member.rank``, then the name: e.g. the first merchant that has the
category) and each takes the first look that none of the names it can be shown with has taken, preferring a
colour none of them wears. A page shows one currency at a time, so the names of one currency's merchants are
the ones shown together (``Member.group``); within a group of at most 8 names every colour differs, in any
group of at most 64 every look differs. Names keep their looks when a later merchant adds new ones.

The dashboard builds the book once per data version from the warehouse's names (``dashboard.cache.colour_book``)
and installs it for the run (``use_book``); the figure builders in ``dashboard.charts`` read it. A name the book
does not hold (none installed yet, or newer than the book) falls back to a stable hash into the looks no known
name of its kind has, while there are any.

Pure: no streamlit, no queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Okabe & Ito's colour-blind-safe palette (black swapped for grey, which reads on light and dark backgrounds).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
# plotly marker.pattern shapes: "" is solid; the rest hatch the same colours for names beyond the first 8.
PATTERNS = ("", "/", "x", ".", "\\", "+", "-", "|")
NONE_NAME = "(none)"  # a null value (plain_text.NONE_TEXT): numbered right after the kind's names

# Kinds whose names the code fixes, not the data: numbered in this order in every book.
FIXED: dict[str, tuple[str, ...]] = {
    "segment": ("repeat", "one_time", "guest"),
    "measure": ("Revenue", "Discounts granted", "Gross margin"),
}


@dataclass(frozen=True)
class Look:
    colour: str  # "#RRGGBB"
    pattern: str  # plotly marker.pattern.shape; "" = solid


LOOKS: tuple[Look, ...] = tuple(Look(c, p) for p in PATTERNS for c in PALETTE)


@dataclass(frozen=True)
class Member:
    """A name of a kind, with the group of names it can be shown with and its rank in the numbering order."""

    name: object
    group: object = None
    rank: int = 0


def _hash(name: str) -> int:
    # sha256, not hash(): Python's own hash changes from process to process
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")


def assign_looks(members: Iterable[Member | object]) -> dict[str, int]:
    """Name (as text) -> index into ``LOOKS``, distinct within every group (plain names: one group).

    Greedy in the order (lowest rank of the name, name): each name takes the first look that no name sharing
    a group with it holds, preferring one whose colour none of them wears.
    """
    groups: dict[str, set] = {}
    rank: dict[str, int] = {}
    for m in members:
        m = m if isinstance(m, Member) else Member(m)
        if m.name is None:
            continue
        text = str(m.name)
        groups.setdefault(text, set()).add(m.group)
        rank[text] = min(rank.get(text, m.rank), m.rank)
    taken: dict[object, set[int]] = {}  # group -> look indexes its names hold
    out: dict[str, int] = {}
    for text in sorted(groups, key=lambda t: (rank[t], t)):
        near = set().union(*(taken.get(g, set()) for g in groups[text]))
        worn = {i % len(PALETTE) for i in near}
        free = [i for i in range(len(LOOKS)) if i not in near]
        fresh = [i for i in free if i % len(PALETTE) not in worn]
        out[text] = (fresh or free or [len(out) % len(LOOKS)])[0]
        for g in groups[text]:
            taken.setdefault(g, set()).add(out[text])
    return out


class ColourBook:
    """Looks of the names of each kind: ``names`` maps a kind ("category", "region", "store_id", "channel",
    "payment_method") to its names, plain (one group, numbered in sorted order) or as ``Member``s."""

    def __init__(self, names: Mapping[str, Iterable[Member | object]] | None = None):
        self._index: dict[str, dict[str, int]] = {}
        for kind, members in {**(names or {}), **FIXED}.items():
            index = {str(n): i for i, n in enumerate(members)} if kind in FIXED else assign_looks(members)
            self._index[kind] = {**index, NONE_NAME: self._spare(index.values(), 0)}

    @staticmethod
    def _spare(held: Iterable[int], n: int) -> int:
        """The n-th look (cycling) that no known name holds; any look when all are held."""
        free = sorted(set(range(len(LOOKS))) - set(held)) or list(range(len(LOOKS)))
        return free[n % len(free)]

    def number(self, kind: str, name: object) -> int:
        """The index into ``LOOKS`` of ``name`` among the names of ``kind``."""
        known = self._index.get(kind, {})
        text = NONE_NAME if name is None else str(name)
        if text in known:
            return known[text]
        return self._spare(known.values(), _hash(text))

    def look(self, kind: str, name: object) -> Look:
        return LOOKS[self.number(kind, name)]

    def looks(self, kind: str, names: Iterable[object]) -> list[Look]:
        return [self.look(kind, n) for n in names]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColourBook) and self._index == other._index

    __hash__ = None  # type: ignore[assignment]


_book = ColourBook()


def use_book(book: ColourBook) -> ColourBook:
    """Install ``book`` for the figures built from now on (process-wide: it holds every merchant's names, so
    every session shares it); returns the one it replaces."""
    global _book
    previous, _book = _book, book
    return previous


def current_book() -> ColourBook:
    return _book
