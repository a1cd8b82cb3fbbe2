"""The review web app over HTTP (FastAPI's test client): sign-in, CSRF, host checks, pages and
decisions. The real browser flow is in test_browser.py."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("fastapi", reason="the review page needs fastapi, uvicorn, jinja2, "
                    "python-multipart (and httpx for these tests)")

from fastapi.testclient import TestClient

from fedcrm.errors import ConfigError
from fedcrm.review import ReviewStore, Status
from fedcrm.review.web import BackgroundServer, check_loopback, create_app

TOKEN = "test-token-0123456789abcdef"
BASE = "http://127.0.0.1:8765"


@pytest.fixture
def client(store: ReviewStore) -> TestClient:
    return TestClient(create_app(store, TOKEN, default_reviewer="fallback"), base_url=BASE)


def sign_in(client: TestClient, name: str = "Dana") -> None:
    response = client.post("/login", data={"token": TOKEN, "reviewer": name},
                           follow_redirects=False)
    assert response.status_code == 303


def form_values(html: str) -> dict[str, str]:
    """The hidden CSRF and version fields of a field page's decision form."""
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    version = re.search(r'name="version" value="(\d+)"', html)
    assert csrf is not None and version is not None
    return {"csrf": csrf.group(1), "version": version.group(1)}


def test_every_page_needs_the_token(client: TestClient, store: ReviewStore) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/audit.jsonl", follow_redirects=False).status_code == 303
    response = client.post("/field/1/decide", data={"csrf": "x", "version": "1",
                                                    "action": "accept"})
    assert response.status_code == 401
    wrong = client.post("/login", data={"token": "guess-guess-guess-guess", "reviewer": "M"})
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    assert "set-cookie" not in wrong.headers
    assert store.progress().decided == 0


def test_sign_in_sets_a_strict_cookie_and_shows_the_queue(client: TestClient,
                                                          store: ReviewStore) -> None:
    response = client.post("/login", data={"token": TOKEN, "reviewer": "Dana"},
                           follow_redirects=False)
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert all("HttpOnly" in c and "SameSite=strict" in c for c in cookies)
    assert TOKEN not in " ".join(cookies)  # the cookie holds a derived value, not the token
    page = client.get("/")
    assert page.status_code == 200 and "signed in as <strong>Dana</strong>" in page.text
    assert "0 of 7 fields decided" in page.text
    linked = re.findall(r'href="/field/(\d+)"', page.text)
    assert [int(i) for i in linked] == [v.id for v in store.queue()]
    assert "Emp_Count__c" in page.text and 'class="badge tier-low"' in page.text
    # the bulk action is offered but never pre-checked
    assert re.search(r'<input type="checkbox" name="confirm" value="yes">', page.text)


def test_field_page_shows_candidates_evidence_and_profile(client: TestClient,
                                                          store: ReviewStore) -> None:
    sign_in(client)
    field = store.field("acme", "Account", "Sector__c")
    page = client.get(f"/field/{field.id}").text
    assert "Industry sector of the customer" in page and "picklist" in page
    assert "<code>account.industry</code>" in page and "Account type" in page
    assert "name similarity to account.industry: 0.40" in page
    text = " ".join(page.split())
    assert "A (700), B (440)" in text and "2 rare value(s) suppressed" in text
    assert "no record values" in text
    assert 'value="account.industry">Choose</button>' in page
    # no scripts, no external assets
    assert "<script" not in page and not re.search(r'(src|href)="https?://', page)


def test_decisions_over_http(client: TestClient, store: ReviewStore) -> None:
    sign_in(client, "Dana")
    first = store.field("acme", "Account", "Emp_Count__c")
    values = form_values(client.get(f"/field/{first.id}").text)
    response = client.post(f"/field/{first.id}/decide", follow_redirects=False,
                           data=values | {"action": "accept", "comment": "fine"})
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"?done={first.id}")
    landing = client.get(response.headers["location"])
    assert "Saved: acme Account.Emp_Count__c is approved account.number_of_employees" \
        in landing.text
    decided = store.field("acme", "Account", "Emp_Count__c")
    assert decided.status is Status.APPROVED and decided.last_decision is not None
    assert (decided.last_decision.reviewer, decided.last_decision.comment) == ("Dana", "fine")

    # the same form again: its version is stale now
    again = client.post(f"/field/{first.id}/decide", data=values | {"action": "defer"})
    assert again.status_code == 409 and "now at version 2" in again.text

    fax = store.field("acme", "Account", "Fax_Line__c")
    values = form_values(client.get(f"/field/{fax.id}").text)
    chosen = client.post(f"/field/{fax.id}/decide", data=values | {"choose": "account.phone"},
                         follow_redirects=False)
    assert chosen.status_code == 303
    assert store.field("acme", "Account", "Fax_Line__c").decided_concept == "account.phone"
    assert store.rejected_concepts("acme", "Account", "Fax_Line__c") == {"account.fax"}

    sector = store.field("acme", "Account", "Sector__c")
    values = form_values(client.get(f"/field/{sector.id}").text)
    unknown = client.post(f"/field/{sector.id}/decide",
                          data=values | {"choose": "account.sector"})
    assert unknown.status_code == 400 and "not a concept of the ontology" in unknown.text
    bogus = client.post(f"/field/{sector.id}/decide", data=values | {"action": "approve"})
    assert bogus.status_code == 400 and "unknown action" in bogus.text
    assert client.get("/field/9999").status_code == 404


def test_forms_need_the_csrf_token(client: TestClient, store: ReviewStore) -> None:
    sign_in(client)
    field = store.field("acme", "Account", "Emp_Count__c")
    response = client.post(f"/field/{field.id}/decide",
                           data={"csrf": "forged", "version": "1", "action": "accept"})
    assert response.status_code == 400 and "did not come from this page" in response.text
    response = client.post("/auto-accept", data={"csrf": "forged", "threshold": "0.5",
                                                  "confirm": "yes"})
    assert response.status_code == 400
    assert store.progress().decided == 0


def test_auto_accept_needs_the_checkbox(client: TestClient, store: ReviewStore) -> None:
    sign_in(client)
    csrf = form_values(client.get(f"/field/{store.queue()[0].id}").text)["csrf"]
    refused = client.post("/auto-accept", data={"csrf": csrf, "threshold": "0.9"})
    assert refused.status_code == 400 and "confirm=True" in refused.text
    assert store.progress().decided == 0
    done = client.post("/auto-accept", data={"csrf": csrf, "threshold": "0.9",
                                             "confirm": "yes"})
    assert done.status_code == 200 and "Auto-accepted 2 field(s)" in done.text


def test_foreign_hosts_and_headers(store: ReviewStore) -> None:
    app = create_app(store, TOKEN)
    rebinding = TestClient(app, base_url="http://attacker.example:8765")
    assert rebinding.get("/login").status_code == 400
    local = TestClient(app, base_url="http://localhost:8765")
    response = local.get("/login")
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    css = local.get("/static/review.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_audit_download_and_sign_out(client: TestClient, store: ReviewStore) -> None:
    sign_in(client)
    lines = client.get("/audit.jsonl").text.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["import"]
    csrf = form_values(client.get(f"/field/{store.queue()[0].id}").text)["csrf"]
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_only_loopback_and_long_tokens(store: ReviewStore) -> None:
    for host in ("0.0.0.0", "192.168.1.5", "example.org"):
        with pytest.raises(ConfigError, match="only binds to this machine"):
            check_loopback(host)
        with pytest.raises(ConfigError):
            BackgroundServer(store, token=TOKEN, host=host)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        create_app(store, "short")


@pytest.mark.parametrize(("form", "message"), [
    ({"action": "defer", "comment": "x" * 4001},
     "comment: String should have at most 4000 characters"),
    ({"choose": "custom:"}, "a custom block needs an id after &#39;custom:&#39;"),
    ({"action": "defer", "version": "0"}, "seen_version: Input should be greater than or "
                                          "equal to 1"),
])
def test_invalid_decisions_are_shown_on_the_field_page(
    client: TestClient, store: ReviewStore, form: dict[str, str], message: str
) -> None:
    sign_in(client)
    sector = store.field("acme", "Account", "Sector__c")
    values = form_values(client.get(f"/field/{sector.id}").text)
    response = client.post(f"/field/{sector.id}/decide", data=values | form)
    assert response.status_code == 400
    assert 'id="error"' in response.text and message in response.text
    assert "Industry sector of the customer" in response.text  # the field page, re-rendered
    assert store.field("acme", "Account", "Sector__c").version == sector.version
    assert [e.event for e in store.audit_log()] == ["import"]


def test_a_non_ascii_cookie_or_form_token_is_refused_not_a_server_error(
        client: TestClient) -> None:
    cookie = "fedcrm_review_8765=é".encode("latin-1")  # as a browser may send it
    response = client.get("/", headers={"cookie": cookie}, follow_redirects=False)  # type: ignore[dict-item]
    assert response.status_code == 303 and response.headers["location"] == "/login"
    sign_in(client)
    refused = client.post("/logout", data={"csrf": "é"})
    assert refused.status_code == 400
