"""Alert channels cannot point the alert job at this machine or a private network (server-side request forgery)
unless an admin lists the host in RETAIL_PULSE_ALERT_PRIVATE_HOSTS; hosted services are not affected."""

from __future__ import annotations

import pytest

from data.store import InvalidValue, Principal
from data.store.alert_channels import AlertChannels
from data.store.alert_hosts import check_destination
from tests.store_support import postgres_server, store, store_url  # noqa: F401

ONE = Principal.merchants("ana", [1])
INTERNAL = ["json://127.0.0.1:8080/x", "json://169.254.169.254/latest/meta-data", "jsons://10.0.0.5/admin",
            "form://192.168.1.1/cgi", "xml://localhost/x", "json://metadata/x", "json://db.internal/x",
            "json://[::1]:9/x", "mailto://127.0.0.1:25?to=ops@shop.example.com&from=a@shop.example.com",
            "ntfy://172.16.0.3/topic"]


@pytest.mark.parametrize("url", INTERNAL)
def test_a_channel_into_a_private_network_is_refused_by_default(url, tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_PULSE_ALERT_PRIVATE_HOSTS", "")
    from data.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    try:
        with pytest.raises(InvalidValue, match="private network.*RETAIL_PULSE_ALERT_PRIVATE_HOSTS") as refused:
            AlertChannels(store).save(ONE, merchant_id=1, label="Hook", url=url, request_id="r1")
        assert "Hook" in str(refused.value)
        assert AlertChannels(store).channels(ONE, 1) == {}
    finally:
        store.close()


def test_public_hosts_and_hosted_services_pass_and_listed_hosts_are_allowed(monkeypatch):
    env = {"RETAIL_PULSE_ALERT_PRIVATE_HOSTS": ""}
    check_destination("jsons", "hooks.example.com", "url", env)
    check_destination("slack", "TokenA", "url", env)  # Slack's endpoint is fixed by apprise
    check_destination("mailtos", "smtp.gmail.com", "url", env)
    allowed = {"RETAIL_PULSE_ALERT_PRIVATE_HOSTS": "127.0.0.1, 10.0.0.0/8"}
    check_destination("json", "127.0.0.1", "url", allowed)
    check_destination("json", "10.20.30.40", "url", allowed)
    with pytest.raises(InvalidValue):
        check_destination("json", "192.168.0.1", "url", allowed)


def test_an_allowed_local_receiver_is_accepted(store):  # noqa: F811 - the suite allows 127.0.0.1 (conftest)
    saved = AlertChannels(store).save(ONE, merchant_id=1, label="Local", url="json://127.0.0.1:9/x", request_id="r2")
    assert saved.service
