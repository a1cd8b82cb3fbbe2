"""The review page in a real headless browser (Debian's chromium driven by Playwright): sign
in with the token, accept one mapping, reject another, and check the database.

Skips when ``/usr/bin/chromium`` or Playwright is missing (``apt-get install chromium`` and
``pip install playwright``; never ``playwright install``, which downloads a browser). With
``FEDCRM_REVIEW_SCREENSHOTS=<folder>`` it also writes the screenshots used in docs/review.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fedcrm.review import Action, DecisionRequest, ReviewStore, Status

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
TOKEN = "browser-test-token-0123456789"

if not CHROMIUM.exists():
    if os.environ.get("FEDCRM_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is required (FEDCRM_REQUIRE_BROWSER=1) but missing")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright is not installed (pip install playwright)")
web = pytest.importorskip("fedcrm.review.web", reason="the review page's dependencies "
                          "(fastapi, uvicorn, jinja2, python-multipart) are not installed")


@pytest.fixture
def page(store: ReviewStore) -> Iterator[Any]:
    """A browser page, and the review server it talks to on a free loopback port."""
    with web.BackgroundServer(store, token=TOKEN, default_reviewer="") as server, \
            sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=server.url,
                                          viewport={"width": 1100, "height": 760})
            tab = context.new_page()
            tab.set_default_timeout(10_000)
            yield tab
        finally:
            browser.close()


def screenshot(tab: Any, name: str, *, full_page: bool = False) -> None:
    """Save a screenshot for the docs when FEDCRM_REVIEW_SCREENSHOTS names a folder."""
    folder = os.environ.get("FEDCRM_REVIEW_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(Path(folder) / name), full_page=full_page)


def test_browser_sign_in_accept_and_reject(page: Any, store: ReviewStore) -> None:
    page.goto("/")  # not signed in: sent to the login form
    assert page.url.endswith("/login")
    page.goto(f"/login?token={TOKEN}")
    page.fill("#reviewer", "Dana")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert page.inner_text("#progress-text").startswith("0 of 7 fields decided")
    rows = page.locator("#queue tbody tr")
    assert rows.count() == 7
    assert "Emp_Count__c" in rows.nth(0).inner_text()

    # accept the first proposal in the queue
    page.click("#queue tbody tr:first-child a")
    assert page.inner_text("#field-name").startswith("Account.Emp_Count__c")
    assert "account.number_of_employees" in page.inner_text("#proposal")
    assert "name similarity to account.seats_purchased" in page.inner_text("#candidates")
    page.fill("#comment", "head count, as the description says")
    page.click("button[value=accept]")
    page.wait_for_url(re.compile(r"\?done="))
    assert "Saved: acme Account.Emp_Count__c is approved" in page.inner_text("#message")

    # the next field comes up: reject every candidate (no equivalent)
    assert page.inner_text("#field-name").startswith("Account.Sector__c")
    screenshot(page, "review-field.png", full_page=True)
    page.fill("#comment", "a regional segment, not an industry")
    page.click("button[value=no_equivalent]")
    page.wait_for_url(re.compile(r"\?done="))
    assert "is no equivalent" in page.inner_text("#message")

    page.goto("/")
    assert page.inner_text("#progress-text").startswith("2 of 7 fields decided")
    assert page.locator("#queue tbody tr").count() == 5
    screenshot(page, "review-queue.png")

    accepted = store.field("acme", "Account", "Emp_Count__c")
    assert accepted.status is Status.APPROVED
    assert accepted.decided_concept == "account.number_of_employees"
    assert accepted.last_decision is not None
    assert accepted.last_decision.reviewer == "Dana"
    assert accepted.last_decision.comment == "head count, as the description says"
    rejected = store.field("acme", "Account", "Sector__c")
    assert rejected.status is Status.NO_EQUIVALENT and rejected.decided_concept is None
    assert rejected.rejected == ["account.industry", "account.type"]
    assert rejected.candidates == []  # never proposed again
    decisions = [e for e in store.audit_log() if e.event == "decision"]
    assert [(e.actor, e.field, (e.after or {}).get("status")) for e in decisions] == [
        ("Dana", "Emp_Count__c", "approved"), ("Dana", "Sector__c", "no_equivalent")]


def test_browser_stale_form_shows_the_conflict(page: Any, store: ReviewStore) -> None:
    page.goto(f"/login?token={TOKEN}")
    page.fill("#reviewer", "Dana")
    page.click("button[type=submit]")
    field = store.field("acme", "Account", "Fax_Line__c")
    page.goto(f"/field/{field.id}")
    # someone else decides while the page is open
    store.decide(DecisionRequest(org="acme", object="Account", field="Fax_Line__c",
                                 action=Action.DEFER, seen_version=field.version,
                                 reviewer="Eli"))
    page.click("button[value=accept]")
    assert "now at version 2" in page.inner_text("#error")
    assert store.field("acme", "Account", "Fax_Line__c").status is Status.DEFERRED
