"""Saved campaign scenarios: a document kind ``campaign_scenario`` in the operational store.

Each save is a revision (``data.store.documents``: append-only, with its author and time, and an audit entry);
deleting is a revision with status ``deleted``. A scenario is filed under its merchant, so the store's
Principal scope keeps a merchant's people away from every other merchant's scenarios.

Body: ``{section: {field: value}}`` with the sections of ``SECTIONS`` (audience, offer, response, result,
design): values are numbers, text, yes/no, None or short lists of those. The page builds it
(``dashboard.campaign_saved.build_body``); this module checks shape, sizes and text so nobody can store a broken or
oversized body, and keeps names and notes verbatim (they are shown as plain text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from data.store.documents import DocumentKind, Documents, Revision
from data.store.errors import InvalidValue
from data.store.principal import Principal
from data.store.text import checked_text

KIND = "campaign_scenario"
STATUSES = ("saved", "deleted")
SECTIONS = ("audience", "offer", "response", "result", "design")
MAX_FIELDS = 40
MAX_LIST = 500
MAX_TEXT = 400
MAX_NAME = 120


def _scalar(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # an undefined figure (ROI with nothing spent) is kept as "none"
        return value
    if isinstance(value, str):
        return checked_text(value, where, max_chars=MAX_TEXT)
    raise InvalidValue(f"{where} must be a number, text, yes/no or empty, got {type(value).__name__}")


def check_body(body: Any) -> dict:
    """The body to store (see the module doc), or InvalidValue naming what is wrong."""
    if not isinstance(body, dict) or set(body) != set(SECTIONS):
        raise InvalidValue(f"a campaign scenario has the sections {', '.join(SECTIONS)}")
    out = {}
    for section in SECTIONS:
        fields = body[section]
        if not isinstance(fields, dict) or len(fields) > MAX_FIELDS:
            raise InvalidValue(f"scenario section {section!r} must be a mapping of at most {MAX_FIELDS} fields")
        checked = {}
        for name, value in fields.items():
            where = f"scenario {section}.{name}"
            if not isinstance(name, str) or not name or len(name) > 60:
                raise InvalidValue(f"scenario {section}: field names are text of 1 to 60 characters")
            if isinstance(value, (list, tuple)):
                if len(value) > MAX_LIST:
                    raise InvalidValue(f"{where} holds more than {MAX_LIST} values")
                checked[name] = [_scalar(v, where) for v in value]
            else:
                checked[name] = _scalar(value, where)
        out[section] = checked
    return out


CAMPAIGN_SCENARIO = DocumentKind(KIND, STATUSES, check_body,
                                 "A saved campaign scenario: audience, offer, response, simulated result, test design.")


@dataclass(frozen=True)
class Scenario:
    document_id: str
    revision: int
    merchant_id: int
    name: str
    note: str | None
    body: dict
    author: str
    saved_at: Any  # datetime (UTC)
    request_id: str = ""


def _scenario(rev: Revision) -> Scenario:
    return Scenario(rev.document_id, rev.revision, rev.merchant_id, rev.title or "", rev.note, rev.body,
                    rev.actor, rev.recorded_at, rev.request_id)


class Scenarios:
    """Campaign scenarios of one store (pure: no streamlit); every call takes the acting Principal."""

    def __init__(self, store):
        self.documents = Documents(store, kinds=(CAMPAIGN_SCENARIO,))

    def list(self, who: Principal, merchant_id: int) -> list[Scenario]:
        """The merchant's saved scenarios, newest first (OutOfScope for a merchant outside ``who``'s scope)."""
        revisions = self.documents.latest(who, kind=KIND, merchant_ids=[int(merchant_id)], statuses=["saved"])
        return [_scenario(r) for r in revisions]

    def save(self, who: Principal, merchant_id: int, name: str, body: dict, *, request_id: str,
             note: str | None = None) -> Scenario:
        """A new scenario, or a new revision of the merchant's scenario of the same name; the saved one
        unchanged when its body and note are the same (check ``request_id`` to tell)."""
        name = (name or "").strip()
        if not name:
            raise InvalidValue("give the scenario a name")
        if len(name) > MAX_NAME:
            raise InvalidValue(f"a scenario name has at most {MAX_NAME} characters, not {len(name)}")
        same = next((s for s in self.list(who, merchant_id) if s.name == name), None)
        if same is not None and same.request_id == request_id:
            return same  # this very save, sent again (a retry)
        if same is not None and same.body == check_body(body) and same.note == (note or None):
            return same  # nothing changed (a re-clicked button gets a new request id): no second revision
        if same is None:
            rev = self.documents.create(who, kind=KIND, merchant_id=int(merchant_id), body=body,
                                        request_id=request_id, title=name, note=note)
        else:
            rev = self.documents.revise(who, kind=KIND, document_id=same.document_id, base_revision=same.revision,
                                        request_id=request_id, body=body, note=note)
        return _scenario(rev)

    def delete(self, who: Principal, scenario: Scenario, *, request_id: str) -> None:
        self.documents.revise(who, kind=KIND, document_id=scenario.document_id, base_revision=scenario.revision,
                              request_id=request_id, status="deleted")

    def history(self, who: Principal, document_id: str) -> list[Scenario]:
        """Every revision of one scenario, oldest first (who saved what, when)."""
        return [_scenario(r) for r in self.documents.history(who, kind=KIND, document_id=document_id)]
