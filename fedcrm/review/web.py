"""The local review page: ``fedcrm review serve``.

A small FastAPI app, served by uvicorn on a loopback address only, behind a login token.
Signing in (token + name) sets an HttpOnly, SameSite=Strict cookie; every form carries a CSRF
token derived from the login token; the Host header must name the loopback address (which
stops DNS-rebinding pages from talking to the server). Pages are plain server-rendered HTML
under a strict Content-Security-Policy: no scripts, no external assets.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote, unquote

import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment, select_autoescape

from fedcrm._console import console, plain
from fedcrm.errors import ConfigError, FedcrmError
from fedcrm.review._loopback import LOOPBACK_HOSTS, check_loopback
from fedcrm.review._templates import STYLESHEET, TEMPLATES
from fedcrm.review.errors import ReviewBusy, StaleVersionError, UnknownFieldError
from fedcrm.review.models import Action, DecisionRequest, FieldView
from fedcrm.review.store import ReviewStore

__all__ = ["LOOPBACK_HOSTS", "BackgroundServer", "check_loopback", "create_app", "free_port",
           "serve"]

#: rows on the queue page
QUEUE_PAGE_ROWS = 200
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _derive(token: str, purpose: str) -> str:
    return hmac.new(token.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).hexdigest()


def _host_of(header: str) -> str:
    if header.startswith("["):  # [::1]:8765
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _proposal_words(view: FieldView) -> str:
    if view.proposed_concept:
        return view.proposed_concept
    if view.proposed_block:
        return f"{view.proposed_block} (shared custom block)"
    return "no concept (matcher abstained)"


def create_app(store: ReviewStore, token: str, *, default_reviewer: str = "") -> FastAPI:
    """The review web app over ``store``; ``token`` is what a reviewer signs in with."""
    if len(token) < 16:
        raise ConfigError(f"the login token (CLI: --token or FEDCRM_REVIEW_TOKEN) must have at "
                          f"least 16 characters, got {len(token)}; leave it out to have one "
                          "generated")
    session_value = _derive(token, "session")
    csrf_value = _derive(token, "csrf")
    templates = Environment(loader=DictLoader(TEMPLATES),
                            autoescape=select_autoescape(default=True, default_for_string=True))
    templates.globals["proposal"] = _proposal_words
    concept_ids = sorted(c.id for c in store.ontology.concepts)
    app = FastAPI(title="fedcrm mapping review", docs_url=None, redoc_url=None,
                  openapi_url=None)

    def cookie_names(request: Request) -> tuple[str, str]:
        # cookies are shared between ports of one host: keep two servers apart
        port = request.url.port or 0
        return f"fedcrm_review_{port}", f"fedcrm_reviewer_{port}"

    def signed_in(request: Request) -> str | None:
        """The reviewer's name if the request carries a valid session cookie."""
        session_cookie, reviewer_cookie = cookie_names(request)
        # as bytes: compare_digest refuses str holding non-ASCII (a 500 before)
        cookie = request.cookies.get(session_cookie, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(cookie, session_value.encode("utf-8")):
            return None
        return unquote(request.cookies.get(reviewer_cookie, "")) or default_reviewer or None

    def page(name: str, request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("reviewer", signed_in(request))
        context.setdefault("csrf", csrf_value)
        html = templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def check_csrf(csrf: str) -> None:
        if not hmac.compare_digest(csrf.encode("utf-8", "surrogateescape"),
                                   csrf_value.encode("utf-8")):
            raise ConfigError("the form is out of date or did not come from this page; "
                              "reload the page and try again")

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if _host_of(request.headers.get("host", "")) not in LOOPBACK_HOSTS:
            return PlainTextResponse("host not allowed", status_code=400)
        public = request.url.path in ("/login", "/static/review.css")
        if not public and signed_in(request) is None:
            if request.method == "GET":
                response: Response = RedirectResponse("/login", status_code=303)
            else:
                response = PlainTextResponse("sign in first", status_code=401)
        else:
            response = await call_next(request)
        for key, value in _SECURITY_HEADERS.items():
            response.headers[key] = value
        return response

    @app.exception_handler(FedcrmError)
    def fedcrm_error(request: Request, exc: FedcrmError) -> HTMLResponse:
        status = (404 if isinstance(exc, UnknownFieldError)
                  else 503 if isinstance(exc, ReviewBusy) else 400)
        return page("error.html", request, status, title="Cannot do that", error=str(exc))

    @app.get("/static/review.css")
    def stylesheet() -> Response:
        return Response(STYLESHEET, media_type="text/css")

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, token: str | None = None) -> HTMLResponse:
        return page("login.html", request, reviewer=None, token=token,
                    default_reviewer=default_reviewer)

    @app.post("/login")
    def login(
        request: Request, token: Annotated[str, Form()], reviewer: Annotated[str, Form()]
    ) -> Response:
        name = reviewer.strip()[:200]
        if not hmac.compare_digest(_derive(token.strip(), "session"), session_value) \
                or not name:
            time.sleep(0.5)  # slow down guessing
            return page("login.html", request, 401, reviewer=None, token=None,
                        default_reviewer=name or default_reviewer,
                        error="Wrong token (or no name); use the token printed by "
                              "`fedcrm review serve`.")
        session_cookie, reviewer_cookie = cookie_names(request)
        response = RedirectResponse("/", status_code=303)
        for key, value in ((session_cookie, session_value), (reviewer_cookie, quote(name))):
            response.set_cookie(key, value, httponly=True, samesite="strict", path="/")
        return response

    @app.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form()]) -> Response:
        check_csrf(csrf)
        response = RedirectResponse("/login", status_code=303)
        for key in cookie_names(request):
            response.delete_cookie(key, path="/")
        return response

    @app.get("/", response_class=HTMLResponse)
    def queue_page(request: Request, org: str | None = None,
                   message: str | None = None) -> HTMLResponse:
        items = store.queue(org=org or None)
        progress = store.progress(org=org or None)
        return page("queue.html", request, items=items[:QUEUE_PAGE_ROWS],
                    truncated=len(items) > QUEUE_PAGE_ROWS, progress=progress,
                    orgs=sorted(store.progress().by_org), message=message)

    def field_page(request: Request, field_id: int, status_code: int = 200,
                   **context: Any) -> HTMLResponse:
        view = store.field_by_id(field_id)
        return page("field.html", request, status_code, view=view,
                    history=store.history(view.org, view.object, view.field),
                    progress=store.progress(), concept_ids=concept_ids, **context)

    @app.get("/field/{field_id}", response_class=HTMLResponse)
    def field_detail(request: Request, field_id: int, done: int | None = None) -> HTMLResponse:
        message = None
        if done is not None:
            try:
                previous = store.field_by_id(done)
            except UnknownFieldError:
                previous = None
            if previous is not None:
                outcome = previous.decided_concept or previous.decided_block or ""
                message = (f"Saved: {previous.org} {previous.qualified_name} is "
                           f"{previous.status.value.replace('_', ' ')} {outcome}".rstrip()
                           + ". Next field:")
        return field_page(request, field_id, message=message)

    @app.post("/field/{field_id}/decide")
    def decide(
        request: Request, field_id: int, csrf: Annotated[str, Form()],
        version: Annotated[int, Form()], action: Annotated[str, Form()] = "",
        choose: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(csrf)
        reviewer = signed_in(request) or default_reviewer
        view = store.field_by_id(field_id)
        chosen = choose.strip()
        try:
            kind = Action.CHOOSE if chosen else Action(action)
        except ValueError:
            return field_page(request, field_id, 400, error=f"unknown action {action!r}")
        if kind is Action.AUTO_ACCEPT:
            return field_page(request, field_id, 400,
                              error="auto-accept is a bulk action; use the queue page")
        try:
            store.decide(DecisionRequest.from_input(
                org=view.org, object=view.object, field=view.field, action=kind,
                seen_version=version, reviewer=reviewer, concept=chosen or None,
                comment=comment or None,
            ))
        except StaleVersionError as exc:
            return field_page(request, field_id, 409, error=str(exc))
        except ReviewBusy as exc:
            return field_page(request, field_id, 503, error=str(exc))
        except FedcrmError as exc:
            return field_page(request, field_id, 400, error=str(exc))
        upcoming = next((v for v in store.queue() if v.id != field_id), None)
        if upcoming is None:
            return RedirectResponse("/?message=" + quote("Every field is decided."),
                                    status_code=303)
        return RedirectResponse(f"/field/{upcoming.id}?done={field_id}", status_code=303)

    @app.post("/auto-accept")
    def auto_accept(
        request: Request, csrf: Annotated[str, Form()], threshold: Annotated[float, Form()],
        confirm: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(csrf)
        records = store.auto_accept(threshold, signed_in(request) or default_reviewer,
                                    confirm=confirm == "yes")
        message = f"Auto-accepted {len(records)} field(s) with confidence ≥ {threshold:g}."
        return RedirectResponse("/?message=" + quote(message), status_code=303)

    @app.get("/audit.jsonl")
    def audit_download() -> Response:
        body = "".join(entry.model_dump_json() + "\n" for entry in store.audit_log())
        return Response(body, media_type="application/x-ndjson", headers={
            "Content-Disposition": 'attachment; filename="review-audit.jsonl"'})

    return app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    # no access log: the login URL carries the token
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off")
    return uvicorn.Server(config)


def serve(
    store: ReviewStore, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
    default_reviewer: str = "",
) -> None:
    """Serve the review page until interrupted; prints the sign-in address with the token.

    The port is bound before anything is printed, so a port in use is a
    :class:`~fedcrm.errors.ConfigError` and no sign-in address that leads nowhere.
    """
    check_loopback(host)
    token = token or secrets.token_urlsafe(24)
    app = create_app(store, token, default_reviewer=default_reviewer)
    listener = _listen(host, port)
    port = int(listener.getsockname()[1])  # the one picked when port was 0
    shown = f"[{host}]" if ":" in host else host
    console.print(plain(f"Mapping review for {store.describe()}"))
    console.print(plain(f"Open http://{shown}:{port}/login?token={token}"))
    console.print("Press Ctrl+C to stop.")
    _server(app, host, port).run(sockets=[listener])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (0: any free port), for uvicorn to serve on."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                             socket.SOCK_STREAM)
    # as uvicorn does: a port whose old connections linger in TIME_WAIT is free to bind
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is in use on {host}; pass --port (another port, "
                              "or 0 for any free one)") from exc
        raise ConfigError(f"cannot listen on {host} port {port}: {exc.strerror or exc}; "
                          "pass another --port") from exc
    # listen at once: a browser opened from the printed address waits in the backlog until
    # uvicorn starts accepting, instead of being refused
    listener.listen()
    return listener


class BackgroundServer:
    """The review page in a background thread (tests, screenshots, notebooks).

    ```python
    with BackgroundServer(store, token=secrets.token_urlsafe()) as server:
        print(server.url)   # sign in at server.url + "/login?token=" + server.token
    ```
    """

    def __init__(self, store: ReviewStore, *, token: str, host: str = "127.0.0.1",
                 port: int = 0, default_reviewer: str = "") -> None:
        check_loopback(host)
        self.host = host
        self.port = port or free_port(host)
        self.token = token
        self._server = _server(create_app(store, token, default_reviewer=default_reviewer),
                               host, self.port)
        self._thread = threading.Thread(target=self._server.run, name="fedcrm-review-web",
                                        daemon=True)

    @property
    def url(self) -> str:
        """Base address, e.g. ``http://127.0.0.1:8765``."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> BackgroundServer:
        """Start serving; return once the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the review page did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
