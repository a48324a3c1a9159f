"""check_webhook_url: which webhook targets are refused (400 naming webhook_url) and why.

Names resolve through a fake ``getaddrinfo`` (tests/jobs/webhook_receiver.py) returning chosen
addresses; nothing here connects anywhere."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.exceptions import BadRequest
from spoo_export_plugin.jobs.net import address_refusal
from spoo_export_plugin.jobs.webhooks import check_webhook_url

from .webhook_receiver import SECRET, FakeDNS, install_fake_dns

PUBLIC_V4, PUBLIC_V6 = "93.184.215.14", "2606:4700:4700::1111"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = install_fake_dns(monkeypatch)
    fake.set("hooks.example.com", [PUBLIC_V4])
    return fake


def make_settings(db: Any, **overrides: Any) -> ExportSettings:
    return ExportSettings(database=db, **{"webhook_secret": SECRET, **overrides})


def refusal(url: object, settings: ExportSettings) -> str:
    with pytest.raises(BadRequest) as caught:
        check_webhook_url(url, settings)  # type: ignore[arg-type]
    assert caught.value.param == "webhook_url" and caught.value.status == 400
    return caught.value.message


def test_a_public_https_url_is_accepted_and_resolved_once(db: Any, dns: FakeDNS) -> None:
    assert check_webhook_url("https://hooks.example.com/spoo?x=1", make_settings(db)) is None
    assert dns.lookups == ["hooks.example.com"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (None, "must be a string"),
        (42, "must be a string"),
        ("", "must be a string"),
        ("/hooks/export", "absolute https:// URL"),
        ("hooks.example.com/export", "absolute https:// URL"),
        ("ftp://hooks.example.com/export", "absolute https:// URL"),
        ("javascript:alert(1)", "absolute https:// URL"),
        ("https://user:pass@hooks.example.com/", "user name or password"),
        ("https://token@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com:0/", "port must be between"),
        ("https:///path-only", "absolute https:// URL"),
        ("https://:443/", "has no host"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "spaces or control characters"),
    ],
)
def test_malformed_urls_are_refused_with_what_is_wrong(db: Any, dns: FakeDNS, url: object, words: str) -> None:
    assert words in refusal(url, make_settings(db))
    assert dns.lookups == []  # refused before any DNS lookup


def test_a_huge_url_is_refused_without_being_echoed(db: Any, dns: FakeDNS) -> None:
    url = "https://hooks.example.com/" + "a" * 100_000
    message = refusal(url, make_settings(db))
    assert message == "webhook_url is longer than 2048 characters"
    long_host = "https://" + "h" * 1500 + ".example.com/"
    dns.set("h" * 1500 + ".example.com", None)
    assert len(refusal(long_host, make_settings(db))) < 200


def test_https_only_unless_the_operator_allows_http(db: Any, dns: FakeDNS) -> None:
    message = refusal("http://hooks.example.com/export", make_settings(db))
    assert message == "webhook_url must use https (this server sends no webhook over plain http)"
    check_webhook_url("HTTP://hooks.example.com/export", make_settings(db, webhook_allow_http=True))


def test_no_webhook_at_all_without_a_secret_to_sign_it(db: Any, dns: FakeDNS) -> None:
    message = refusal("https://hooks.example.com/export", make_settings(db, webhook_secret=None))
    assert "the operator must set webhook_secret" in message


def test_a_host_that_does_not_resolve(db: Any, dns: FakeDNS) -> None:
    dns.set("nowhere.example.com", None)
    assert refusal("https://nowhere.example.com/", make_settings(db)) == (
        "webhook_url's host 'nowhere.example.com' does not resolve"
    )


def test_an_international_host_is_resolved_in_its_ascii_form(db: Any, dns: FakeDNS) -> None:
    dns.set("xn--bcher-kva.example", [PUBLIC_V4])
    check_webhook_url("https://bücher.example/hook", make_settings(db))
    assert dns.lookups == ["xn--bcher-kva.example"]


NON_PUBLIC = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("100.64.0.1", "shared address space"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "private"),
    ("240.0.0.1", "private"),
    ("198.18.0.1", "private"),  # benchmarking
    ("192.0.2.1", "private"),  # documentation
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),  # global-scope multicast: is_global, still refused
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("2002:7f00:1::", "6to4 address of a non-public IPv4 address"),
    ("2001::1", "private"),  # Teredo
    ("2001:db8::1", "private"),  # documentation
]


@pytest.mark.parametrize(("address", "kind"), NON_PUBLIC)
def test_non_public_addresses_are_refused_unless_allowed(db: Any, dns: FakeDNS, address: str, kind: str) -> None:
    dns.set("inside.example.com", [address])
    message = refusal("https://inside.example.com/hook", make_settings(db))
    assert message.startswith(f"webhook_url's host resolves to a {kind}")
    assert f"({address})" in message and message.endswith("webhooks go to public addresses only")
    check_webhook_url("https://inside.example.com/hook", make_settings(db, webhook_allow_private=True))


@pytest.mark.parametrize("address", NON_PUBLIC[:3] + NON_PUBLIC[14:16])
def test_an_address_literal_is_judged_like_a_resolved_name(db: Any, address: tuple[str, str]) -> None:
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    assert address[1] in refusal(f"https://{host}/hook", make_settings(db))


def test_every_address_must_be_public_not_just_the_first(db: Any, dns: FakeDNS) -> None:
    dns.set("mixed.example.com", [PUBLIC_V4, PUBLIC_V6, "10.0.0.7"])
    assert "private address (10.0.0.7)" in refusal("https://mixed.example.com/", make_settings(db))


@pytest.mark.parametrize("address", [PUBLIC_V4, PUBLIC_V6, "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_in_every_form_are_accepted(db: Any, dns: FakeDNS, address: str) -> None:
    dns.set("public.example.com", [address])
    check_webhook_url("https://public.example.com/", make_settings(db))


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_an_ipv4_address_is_judged_alike_in_its_ipv6_disguises(number: int) -> None:
    """IPv4-mapped and NAT64 addresses reach the IPv4 address they embed: same verdict, same kind."""
    ipv4 = ipaddress.IPv4Address(number)
    mapped = ipaddress.IPv6Address(f"::ffff:{ipv4}")
    nat64 = ipaddress.IPv6Address(f"64:ff9b::{ipv4}")
    assert address_refusal(mapped) == address_refusal(nat64) == address_refusal(ipv4)


PRIVATE_BLOCKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10"]


@given(st.sampled_from(PRIVATE_BLOCKS), st.integers(min_value=0))
def test_every_address_of_the_private_blocks_is_refused(block: str, offset: int) -> None:
    network = ipaddress.IPv4Network(block)
    address = network[offset % network.num_addresses]
    assert address_refusal(address) is not None
