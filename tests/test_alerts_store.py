"""Alert rules, delivery channels, stored incidents, the notification outbox and the alert workflow (issue 11),
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import polars as pl
import pytest
from alembic import command
from sqlalchemy import inspect, select

from data.store import InvalidValue, OutOfScope, Principal, open_store
from data.store import migration
from data.store.alert_channels import AlertChannels
from data.store.alert_incidents import AlertIncidents, list_open_alerts
from data.store.alert_outbox import Backoff, Outbox
from data.store.alert_rules import AlertRules, rules_for
from data.store.engine import WRITE_OPTION
from data.store.tables import alert_notifications
from models.alerts.incidents import Cause, Incident
from models.alerts.watch import METRICS
from tests.store_support import postgres_server, store, store_url  # noqa: F401

STAFF = Principal.staff("ops")
ONE = Principal.merchants("ana", [1])
KNOWN = {k: m.dimensions for k, m in METRICS.items()}
T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.timezone.utc)
SECRET = "s3cretPassw0rd"


def incident(merchant_id: int, key: str, *, metric="orders", dimension="region", value="North", observed=40.0,
             hours=2) -> Incident:
    return Incident(merchant_id=merchant_id, key=key, metric=metric, dimension=dimension,
                    dimension_value=None if dimension == "total" else value, direction="drop", start=T0,
                    end=T0 + dt.timedelta(hours=hours), observed=observed, expected=100.0, low=80.0, high=120.0,
                    score=6.5, anomalies=(), causes=(Cause("dimension", f"{dimension} {value}", "most of the drop",
                                                           0.8),))


def message(i) -> dict:
    return {"title": f"t {i.key}", "lines": ["x"], "link": None}


def test_rules_default_then_saved_revised_checked_and_scoped(store):
    rules = AlertRules(store, known=KNOWN)
    assert rules.get(ONE, 1) == {"owner": None, "digest_hour": 8, "rules": None, "saved": False}
    rule = {"metric": "orders", "dimension": "region", "sensitivity": 0.7, "direction": "drop", "min_volume": 10,
            "quiet_hours": [3, 1, 3], "enabled": True}
    body = rules.save(ONE, 1, request_id="r1", owner="ana", rules=[rule])
    assert body["rules"][0]["quiet_hours"] == [1, 3] and body["owner"] == "ana"
    rules.save(ONE, 1, request_id="r2", digest_hour=None)
    assert rules.get(ONE, 1) == {"owner": "ana", "digest_hour": None, "rules": body["rules"], "saved": True}
    assert [r.revision for r in rules.history(ONE, 1)] == [1, 2]
    again = rules.save(ONE, 1, request_id="r3", digest_hour=None, rules=[rule])  # the same, clicked again
    assert again["rules"] == body["rules"] and [r.revision for r in rules.history(ONE, 1)] == [1, 2]
    for bad, words in [({**rule, "sensitivity": 2}, "rule 1 (orders/region): sensitivity must be between 0 and 1"),
                       ({**rule, "metric": "visits"}, "unknown metric 'visits'"),
                       ({**rule, "dimension": "colour"}, "'orders' is not watched by 'colour'"),
                       ({**rule, "quiet_hours": [24]}, "a quiet hour must be a whole hour from 0 to 23"),
                       ({**rule, "direction": "sideways"}, "direction must be one of drop, spike, both")]:
        with pytest.raises(InvalidValue, match=words.replace("(", r"\(").replace(")", r"\)")):
            rules.save(ONE, 1, request_id=f"bad-{words}", rules=[bad])
    with pytest.raises(InvalidValue, match="listed twice"):
        rules.save(ONE, 1, request_id="dup", rules=[rule, rule])
    with pytest.raises(OutOfScope):
        rules.get(ONE, 2)
    assert rules_for(store, 2)["saved"] is False and rules_for(store, 1)["owner"] == "ana"
    entries = store.audit.entries(STAFF, entity="alert_rules")
    assert [e.actor for e in entries] == ["ana", "ana"]


def test_channels_are_checked_with_apprise_masked_and_never_audited_in_full(store):
    channels = AlertChannels(store)
    url = f"mailto://alerts:{SECRET}@127.0.0.1:2525?to=ops@shop.example.com&from=alerts@retail.example.com"
    saved = channels.save(ONE, merchant_id=1, label="Ops email", url=url, request_id="c1")
    assert SECRET not in saved.masked_url and saved.masked_url.startswith("mailto://") and saved.service == "E-Mail"
    hook = channels.save(ONE, merchant_id=1, label="Hook", url="json://127.0.0.1:9/x", request_id="c2", digest=False)
    assert channels.urls_for(1)[saved.channel_id]["url"] == url  # the delivery job alone reads it in full
    token = channels.save(ONE, merchant_id=1, label="Token hook", url=f"json://hooks.example.com/alerts/T01/{SECRET}",
                          request_id="c2b", digest=False)  # a generic webhook's token sits in its path
    assert SECRET not in token.masked_url and token.masked_url.startswith("json://hooks.example.com/alerts/T...1/")
    channels.remove(ONE, merchant_id=1, channel_id=token.channel_id, request_id="c2c")
    for bad, words in [(f"slack://{SECRET}", "delivery channel 'Bad', URL: apprise cannot use a slack:// URL"),
                       ("nope://x", "apprise cannot use a nope:// URL"), ("", "an apprise URL is required")]:
        with pytest.raises(InvalidValue, match=words) as refused:
            channels.save(ONE, merchant_id=1, label="Bad", url=bad, request_id=f"b{bad}")
        assert SECRET not in str(refused.value)
    channels.remove(ONE, merchant_id=1, channel_id=hook.channel_id, request_id="c3")
    assert list(channels.channels(ONE, 1)) == [saved.channel_id]
    with pytest.raises(OutOfScope):
        channels.save(ONE, merchant_id=2, label="x", url="json://127.0.0.1:9/x", request_id="c4")
    audit = store.audit.entries(STAFF, entity="alert_channel")
    assert [e.action for e in audit] == ["save", "save", "save", "remove", "remove"]
    assert all(SECRET not in repr(e) for e in audit)


def test_the_same_url_is_one_channel_so_nothing_is_sent_twice(store):
    channels = AlertChannels(store)
    url = f"json://hooks.example.com/alerts/{SECRET}"
    first = channels.save(ONE, merchant_id=1, label="Ops hook", url=url, request_id="d1")
    assert channels.save(ONE, merchant_id=1, label="Ops hook", url=url, request_id="d1") == first  # a retry
    with pytest.raises(InvalidValue, match="the channel 'Ops hook' already sends to this URL") as refused:
        channels.save(ONE, merchant_id=1, label="Again", url=" " + url, request_id="d2")  # the form sent again
    assert SECRET not in str(refused.value)
    assert list(channels.urls_for(1)) == [first.channel_id]
    channels.save(ONE, merchant_id=1, label="Ops hook, renamed", url=url, request_id="d3",
                  channel_id=first.channel_id)  # the channel itself may be saved again with its URL
    channels.save(STAFF, merchant_id=2, label="Their hook", url=url, request_id="d4")  # another merchant's own
    assert [c["label"] for c in channels.urls_for(1).values()] == ["Ops hook, renamed"]


def _channels(store, merchant_id: int, n: int, principal=STAFF) -> list[str]:
    return [AlertChannels(store).save(principal, merchant_id=merchant_id, label=f"hook {k}",
                                      url=f"json://127.0.0.1:9/m{merchant_id}/{k}", request_id=f"m{merchant_id}c{k}",
                                      digest=False).channel_id for k in range(n)]


def test_recording_twice_queues_each_notification_once_per_incident_and_own_channel(store):
    ids1, ids2 = _channels(store, 1, 2), _channels(store, 2, 1)
    incidents = AlertIncidents(store)
    first = incidents.record(1, [incident(1, "a"), incident(1, "b")], channels=AlertChannels(store).urls_for(1),
                             message_for=message)
    assert (sorted(first.new), first.queued) == (["a", "b"], 4)
    again = incidents.record(1, [incident(1, "a", hours=3), incident(1, "b")],
                             channels=AlertChannels(store).urls_for(1), message_for=message)
    assert (again.new, again.updated, again.queued) == ([], ["a"], 0)
    assert incidents.incident(ONE, 1, "a").ended_at == T0 + dt.timedelta(hours=3)
    incidents.record(2, [incident(2, "a")], channels=AlertChannels(store).urls_for(2), message_for=message,
                     owner="zoe")
    incidents.record(2, [incident(2, "a")], channels={}, message_for=message, owner="someone else")
    assert store.alerts.states(STAFF, alert_kind="incident")[(2, "a")].assignee == "zoe"  # the owner, once
    with pytest.raises(ValueError, match="another merchant's incident"):
        incidents.record(1, [incident(2, "z")], channels={}, message_for=message)
    with store.read() as conn:
        rows = conn.execute(select(alert_notifications.c.merchant_id, alert_notifications.c.subject_key,
                                   alert_notifications.c.channel_id)).all()
    assert sorted(rows) == sorted([(1, k, c) for k in "ab" for c in ids1] + [(2, "a", ids2[0])])
    assert sorted(i.incident_key for i in incidents.incidents(ONE)) == ["a", "b"]
    assert all(i.merchant_id == 1 for i in incidents.incidents(ONE))
    detect = store.audit.entries(STAFF, entity="alert:incident")
    assert sorted((e.merchant_id, e.entity_id, e.action) for e in detect) == \
        [(1, "a", "detect"), (1, "a", "update"), (1, "b", "detect"), (2, "a", "assign"), (2, "a", "detect")]


def test_claims_never_overlap_expire_and_back_off(store):
    _channels(store, 1, 1)
    AlertIncidents(store).record(1, [incident(1, f"k{n}") for n in range(40)],
                                 channels=AlertChannels(store).urls_for(1), message_for=message)
    outbox, taken, lock = Outbox(store), [], threading.Lock()

    def claimer():
        while batch := outbox.claim_due(ttl=dt.timedelta(minutes=5), limit=3):
            with lock:
                taken.extend(n.id for n in batch)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 40 and len(set(taken)) == 40  # every row claimed exactly once
    assert outbox.claim_due(ttl=dt.timedelta(minutes=5)) == []  # live claims are not due


def test_failures_back_off_then_succeed_and_a_lost_claim_cannot_mark(store_url):
    clock = [T0]
    store = open_store(store_url, clock=lambda: clock[0])
    try:
        _channels(store, 1, 1)
        AlertIncidents(store).record(1, [incident(1, "a")], channels=AlertChannels(store).urls_for(1),
                                     message_for=message)
        outbox, backoff = Outbox(store), Backoff(base=dt.timedelta(minutes=1), max_attempts=3)
        note = outbox.claim_due(ttl=dt.timedelta(minutes=5))[0]
        assert outbox.mark_failed(note, "HTTP 500", backoff) == "pending"
        clock[0] += dt.timedelta(seconds=59)
        assert outbox.claim_due(ttl=dt.timedelta(minutes=5)) == []  # backoff: 1 minute after attempt 1
        clock[0] += dt.timedelta(seconds=1)
        note = outbox.claim_due(ttl=dt.timedelta(minutes=5))[0]
        assert note.attempts == 2
        outbox.mark_failed(note, "HTTP 500", backoff)
        clock[0] += dt.timedelta(minutes=1, seconds=59)
        assert outbox.claim_due(ttl=dt.timedelta(minutes=5)) == []  # 2 minutes after attempt 2
        clock[0] += dt.timedelta(seconds=1)
        note = outbox.claim_due(ttl=dt.timedelta(seconds=30))[0]
        clock[0] += dt.timedelta(seconds=31)  # the claim expired: another sender takes it over
        other = outbox.claim_due(ttl=dt.timedelta(seconds=30))[0]
        assert not outbox.mark_sent(note) and outbox.mark_sent(other)
        sent = outbox.notifications(ONE)[0]
        assert (sent.status, sent.attempts, sent.last_error) == ("sent", 4, None)
        with pytest.raises(OutOfScope):
            outbox.notifications(ONE, merchant_ids=[2])
    finally:
        store.close()


def test_workflow_feedback_per_rule_and_one_open_list_with_stockouts(store):
    incidents = AlertIncidents(store)
    incidents.record(1, [incident(1, "a"), incident(1, "b"), incident(1, "c", metric="revenue", dimension="total")],
                     channels={}, message_for=message)
    incidents.record(2, [incident(2, "d")], channels={}, message_for=message)
    alerts = store.alerts
    alerts.record(ONE, request_id="f1", merchant_id=1, alert_key="a", action="feedback", reason="not_useful",
                  alert_kind="incident")
    alerts.record(ONE, request_id="f2", merchant_id=1, alert_key="b", action="feedback", reason="not_useful",
                  alert_kind="incident")
    alerts.record(ONE, request_id="f3", merchant_id=1, alert_key="c", action="feedback", reason="useful",
                  alert_kind="incident")
    alerts.assign(ONE, merchant_id=1, alert_key="a", assignee="bob", request_id="as", alert_kind="incident")
    alerts.record(ONE, request_id="rs", merchant_id=1, alert_key="b", action="resolve", reason="fixed",
                  alert_kind="incident")
    per_rule = incidents.feedback_by_rule(ONE)
    assert per_rule.select("rule_key", "incidents", "useful", "not_useful").rows() == \
        [("orders/region", 2, 0, 2), ("revenue/total", 1, 1, 0)]
    risk = pl.DataFrame({"merchant_id": [1, 1, 2], "alert_key": ["product:1@store:1", "product:2@store:1",
                                                                 "product:3@store:2"],
                         "product": ["<b>Mug</b>", "Cup", "Pan"], "location": ["Leeds", "Leeds", "Paris"],
                         "stockout_probability": [0.9, 0.05, 0.99]})
    listed = list_open_alerts(store, ONE, [1], stockout_risk=risk)
    assert sorted(zip(listed["kind"], listed["alert_key"])) == [("incident", "a"), ("incident", "c"),
                                                               ("stockout", "product:1@store:1")]
    assert listed.filter(pl.col("alert_key") == "a")["assignee"].to_list() == ["bob"]
    assert listed["severity"].to_list() == sorted(listed["severity"].to_list(), reverse=True)
    with pytest.raises(OutOfScope):
        list_open_alerts(store, ONE, [1, 2], stockout_risk=risk)
    history = alerts.history(ONE, merchant_id=1, alert_key="a", alert_kind="incident")
    assert [h.action for h in history] == ["feedback", "assign"]


def test_a_persons_feedback_counts_once_per_incident(store):
    # Each click of "Useful" is an action; the per-rule tally used to count every click as a vote.
    incidents = AlertIncidents(store)
    incidents.record(1, [incident(1, "a")], channels={}, message_for=message)
    other = Principal.merchants("other-user", [1])
    clicks = [(ONE, "useful"), (ONE, "useful"), (ONE, "useful"), (ONE, "not_useful"), (other, "useful")]
    for n, (who, answer) in enumerate(clicks):
        store.alerts.record(who, request_id=f"v{n}", merchant_id=1, alert_key="a", action="feedback", reason=answer,
                            alert_kind="incident")
    per_rule = incidents.feedback_by_rule(ONE)
    assert per_rule.select("rule_key", "incidents", "useful", "not_useful", "useful_share").rows() == \
        [("orders/region", 1, 1, 1, 0.5)]  # ONE's latest answer (not useful) and other-user's (useful)
    assert len(store.alerts.history(ONE, merchant_id=1, alert_key="a", alert_kind="incident")) == len(clicks)


def _migrate(engine, target: str, down: bool = False) -> None:
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        (command.downgrade if down else command.upgrade)(migration._config(conn), target)


def test_migration_0004_upgrades_a_0003_store_and_keeps_channels_from_a_downgrade(store_url):
    old = open_store(store_url, migrate=False)
    try:
        _migrate(old.engine, "0003")
        assert "alert_incidents" not in inspect(old.engine).get_table_names()
    finally:
        old.close()
    store = open_store(store_url)
    try:
        assert migration.current_revision(store.engine) == "0004"
        _migrate(store.engine, "0003", down=True)  # nothing people made: allowed
        _migrate(store.engine, "head")
        _channels(store, 1, 1)
        with pytest.raises(RuntimeError, match="holds 1 alert delivery channel changes"):
            _migrate(store.engine, "0003", down=True)
        assert migration.current_revision(store.engine) == "0004"
    finally:
        store.close()
