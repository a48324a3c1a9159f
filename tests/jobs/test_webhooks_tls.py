"""deliver() over https: the connection is pinned to the address the check accepted, while TLS
speaks to the hostname (SNI) and verifies the certificate against it.

The receiver's certificate comes from a CA made in the test. The sender trusts it the way an
operator trusts a private CA: ``SSL_CERT_FILE`` (OpenSSL's default verify path, which
``ssl.create_default_context()`` reads), so the code under test runs unchanged and no setting or
hook exists only for tests.
"""

from __future__ import annotations

import ssl
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.jobs.webhooks import deliver

from .test_webhooks import EVENT, Sleeps
from .webhook_receiver import SECRET, FakeDNS, Receiver, install_fake_dns, make_certificates, serve

NAME = "hooks.example.test"


def https_receiver(directory: Path, certificate_name: str) -> tuple[AbstractContextManager[Receiver], Path]:
    ca, certificate, key = make_certificates(directory, certificate_name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return serve(Receiver(), context), ca


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = install_fake_dns(monkeypatch)
    fake.set(NAME, ["127.0.0.1"])
    return fake


def settings_for(db: Any) -> ExportSettings:
    # https, so no webhook_allow_http; the receiver is on loopback, hence webhook_allow_private
    return ExportSettings(database=db, webhook_secret=SECRET, webhook_allow_private=True)


def test_https_pins_the_address_and_verifies_the_certificate_for_the_name(
    db: Any, dns: FakeDNS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = https_receiver(tmp_path, NAME)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    with server as receiver:
        result = deliver(receiver.url(scheme="https", host=NAME), EVENT, settings_for(db), sleep=Sleeps())
        assert (result.delivered, result.attempts, result.status) == (True, 1, 204)
        assert receiver.server_names == [NAME]  # SNI: the name, though the socket went to 127.0.0.1
        [request] = receiver.requests
        assert request.headers["Host"] == f"{NAME}:{receiver.port}"
        assert Webhook(SECRET).verify(request.body, request.headers) == EVENT
    assert dns.lookups == [NAME]


def test_a_certificate_for_another_name_is_refused(
    db: Any, dns: FakeDNS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = https_receiver(tmp_path, "someone-else.example.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    with server as receiver:
        result = deliver(receiver.url(scheme="https", host=NAME), EVENT, settings_for(db), sleep=Sleeps())
        assert (result.delivered, result.attempts, result.status) == (False, 5, None)
        assert result.error is not None
        assert result.error.startswith("the receiver's TLS certificate was not accepted: Hostname mismatch")
        assert receiver.requests == []


def test_a_certificate_from_an_untrusted_ca_is_refused(
    db: Any, dns: FakeDNS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ca = https_receiver(tmp_path, NAME)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    with server as receiver:
        result = deliver(receiver.url(scheme="https", host=NAME), EVENT, settings_for(db), sleep=Sleeps())
        assert (result.delivered, result.attempts) == (False, 5)
        assert result.error == "the receiver's TLS certificate was not accepted: unable to get local issuer certificate"
        assert receiver.requests == []
