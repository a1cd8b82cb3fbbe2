"""Load a live org with the real simple_salesforce client against a real HTTPS server on
127.0.0.1 that serves describe responses (tests/fixtures/describe)."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from fedcrm import SchemaError, load_schema
from fedcrm.schema import DataKind, SourceFormat, load_live
from tests.conftest import FIXTURES
from tests.support.tls import make_self_signed_cert

DESCRIBES = FIXTURES / "describe"
TOKEN = "00Dtest!session"
BROKEN_OBJECTS: set[str] = set()


class DescribeHandler(BaseHTTPRequestHandler):
    requests_seen: list[str] = []  # noqa: RUF012 (shared on purpose: the test reads it)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def _send(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.requests_seen.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, [{"message": "Session expired or invalid",
                              "errorCode": "INVALID_SESSION_ID"}])
            return
        if re.fullmatch(r"/services/data/v[\d.]+/sobjects/?", self.path):
            self._send(200, json.loads((DESCRIBES / "_global_describe.json").read_text()))
            return
        match = re.fullmatch(r"/services/data/v[\d.]+/sobjects/(\w+)/describe/?", self.path)
        if match and match.group(1) in BROKEN_OBJECTS:
            self._send(500, [{"message": "An unexpected error occurred",
                              "errorCode": "UNKNOWN_EXCEPTION"}])
            return
        if match and (DESCRIBES / f"{match.group(1)}.json").is_file():
            self._send(200, json.loads((DESCRIBES / f"{match.group(1)}.json").read_text()))
            return
        self._send(404, [{"message": "The requested resource does not exist",
                          "errorCode": "NOT_FOUND"}])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cert, key = make_self_signed_cert(tmp_path_factory.mktemp("tls"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), DescribeHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", cert
    httpd.shutdown()
    httpd.server_close()


def client(server: tuple[str, Path], token: str = TOKEN) -> Salesforce:
    url, cert = server
    session = requests.Session()
    session.verify = str(cert)
    # REQUESTS_CA_BUNDLE in the environment would override session.verify (requests#3829)
    session.trust_env = False
    return Salesforce(instance_url=url, session_id=token, session=session, version="62.0")


def test_live_org_default_selection(server: tuple[str, Path]) -> None:
    DescribeHandler.requests_seen.clear()
    schema = load_schema(client(server), org_id="acme-prod")
    assert schema.source_format is SourceFormat.LIVE
    assert schema.org_id == "acme-prod"
    # core objects and custom objects are described; AccountHistory is not
    assert [o.api_name for o in schema.objects] == [
        "Account", "Case", "Contact", "Invoice__c", "Lead", "Opportunity",
    ]
    assert schema["Account"]["Umsatz_EUR__c"].kind is DataKind.CURRENCY
    assert schema["Invoice__c"]["Account__c"].is_master_detail
    assert schema["Contact"]["Langue__c"].picklist_values[0].value == "Français"
    assert schema.warnings == ()
    assert not any("AccountHistory" in p for p in DescribeHandler.requests_seen)


def test_live_explicit_objects(server: tuple[str, Path]) -> None:
    schema = load_live(client(server), org_id="x", objects=["lead"], progress=False)
    assert [o.api_name for o in schema.objects] == ["Lead"]
    assert schema["Lead"]["Score__c"].label == "Puntuación"
    with pytest.raises(SchemaError, match="no object"):
        load_live(client(server), org_id="x", objects=["Nope__c"], progress=False)


def test_live_failed_describe_is_named(server: tuple[str, Path]) -> None:
    BROKEN_OBJECTS.add("Lead")
    try:
        with pytest.raises(SchemaError, match="describe failed") as info:
            load_live(client(server), org_id="x", progress=False)
        assert info.value.sobject == "Lead"
        lenient = load_live(client(server), org_id="x", strict=False, progress=False)
        assert "Lead" not in lenient and "Account" in lenient
        assert [w.sobject for w in lenient.warnings if w.skipped] == ["Lead"]
    finally:
        BROKEN_OBJECTS.clear()


def test_live_bad_session(server: tuple[str, Path]) -> None:
    with pytest.raises(SchemaError, match="global describe failed"):
        load_live(client(server, token="wrong"), org_id="x", progress=False)
