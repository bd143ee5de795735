"""The study web app (Starlette, server-rendered Jinja pages, no script and no asset from outside).

In: a ``StudyDB``. Out: an ASGI app; ``serve`` runs it under uvicorn, on 127.0.0.1 unless told otherwise.

Raters: ``/i/<token>`` (the invitation link) starts a session (an HttpOnly cookie holding a random session
token; the invitation token is not kept in the page, and the access log, which would show it, is off),
then ``/consent`` (must be accepted), ``/guide``, and ``/vote``: one item at a time with a progress bar,
A / B / can't decide (reason required). Resuming is opening the link again. The admin's link leads to
``/admin``: progress per rater, votes per pair, revoking a rater, ``/admin/votes.csv|jsonl``.

What a rater's browser gets: the question, the two answers as "A" and "B" and a random item id, nothing
else: no model name, no model key, no side (not even the study's name, which could name the models). Answers are untrusted text: templates autoescape everything,
and pages show them as text (``white-space: pre-wrap``). Every POST needs the session's CSRF token in the
form and an ``Origin`` (or ``Referer``) of this site; a cross-site post gets 403. Every response carries a
CSP without scripts (``default-src 'none'``), ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``
(``no-referrer`` would make Chromium send ``Origin: null`` on the app's own forms), ``no-store``.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from train.eval.human.db import Session, StudyDB, VoteError
from train.eval.human.study import StudyError

HERE = Path(__file__).parent
EXPORT_FIELDS = (
    "id",
    "rater",
    "item_id",
    "question_id",
    "model_a",
    "model_b",
    "choice",
    "reason",
    "created_at",
    "seconds",
    "label_a",
    "label_b",
    "winner",
    "winner_label",
)  # as StudyDB.votes() gives them
COOKIE = "study_session"
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"), (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]  # fmt: skip


class SecurityHeaders:
    """ASGI middleware adding ``SECURITY_HEADERS`` to every HTTP response."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class StudyApp:
    """The routes of one study; ``allowed_origins``: origins a form may be posted from (default: the
    origin the request was addressed to, from its Host header)."""

    def __init__(self, db: StudyDB, allowed_origins: list[str] | None = None, policy: str | None = None,
                 secure_cookie: bool = False):  # fmt: skip
        self.db, self.secure_cookie = db, secure_cookie
        self.allowed = {o.rstrip("/") for o in allowed_origins or []}
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                               undefined=StrictUndefined)  # fmt: skip
        self.policy = policy if policy is not None else self.env.get_template("policy.txt.j2").render()

    # -- helpers --------------------------------------------------------------------------------------------

    def page(self, name: str, request_session: Session | None, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("title", "Answer comparison")
        html = self.env.get_template(name).render(
            study_name="Answer comparison study", signed_in=request_session is not None,
            role=request_session.role if request_session else None,
            csrf=request_session.csrf if request_session else "", **ctx,
        )  # fmt: skip
        return HTMLResponse(html, status_code=status)

    def message(self, session: Session | None, status: int, title: str, text: str, back: str | None = None):
        return self.page("message.html.j2", session, status, title=title, message=text, back=back)

    async def session(self, request: Request) -> Session | None:
        return await run_in_threadpool(self.db.session, request.cookies.get(COOKIE))

    def same_origin(self, request: Request) -> bool:
        source = request.headers.get("origin")
        if not source or source == "null":
            referer = request.headers.get("referer")
            if not referer:
                return False
            parts = urlsplit(referer)
            source = f"{parts.scheme}://{parts.netloc}"
        expected = self.allowed or {f"{request.url.scheme}://{request.headers.get('host', '')}"}
        return source.rstrip("/") in expected

    async def form_of(self, request: Request, session: Session) -> dict[str, str] | None:
        """The posted form, or None when it fails the CSRF checks (origin and token)."""
        if not self.same_origin(request):
            return None
        form = await request.form()
        token = form.get("csrf")
        if not isinstance(token, str) or not hmac.compare_digest(token, session.csrf):
            return None
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def refused(self, session: Session | None) -> HTMLResponse:
        return self.message(session, 403, "Request refused",
                            "This form did not come from this site's own page (or its page is too old): "
                            "reload the page and try again.")  # fmt: skip

    def no_session(self) -> HTMLResponse:
        return self.message(None, 401, "Please use your invitation link",
                            "This page needs the personal invitation link you were sent. If it no longer "
                            "works, ask the study team for a new one.")  # fmt: skip

    # -- rater pages ----------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        s = await self.session(request)
        if s is None:
            return self.no_session()
        if s.role == "admin":
            return RedirectResponse("/admin", 303)
        return RedirectResponse("/vote" if s.consent_at else "/consent", 303)

    async def invitation(self, request: Request) -> Response:
        found = await run_in_threadpool(self.db.login, request.path_params["token"])
        if found is None:
            return self.message(None, 403, "Invitation not valid",
                                "This invitation link is not valid: it may have expired or been revoked. "
                                "Ask the study team for a new one.")  # fmt: skip
        session_token, _ = found
        response = RedirectResponse("/", 303)
        response.set_cookie(COOKIE, session_token, httponly=True, samesite="lax", secure=self.secure_cookie,
                            path="/")  # fmt: skip
        return response

    async def consent(self, request: Request) -> Response:
        s = await self.session(request)
        if s is None or s.role != "rater":
            return self.no_session() if s is None else RedirectResponse("/admin", 303)
        if request.method == "GET":
            return self.page("consent.html.j2", s, title="Data policy", policy=self.policy,
                             consent_at=s.consent_at, error=None)  # fmt: skip
        form = await self.form_of(request, s)
        if form is None:
            return self.refused(s)
        if form.get("accept") != "yes":
            return self.page("consent.html.j2", s, 400, title="Data policy", policy=self.policy, consent_at=None,
                             error="Please tick the box to accept the data policy.")  # fmt: skip
        await run_in_threadpool(self.db.accept_consent, s.rater_id)
        return RedirectResponse("/guide", 303)

    async def policy_page(self, request: Request) -> Response:
        return await self.consent(request)

    async def guide(self, request: Request) -> Response:
        s = await self.session(request)
        if s is None:
            return self.no_session()
        return self.page("guide.html.j2", s, title="Guide")

    async def vote_page(self, request: Request, s: Session, status: int = 200, **ctx: Any) -> Response:
        item, (done, total) = await run_in_threadpool(lambda: (self.db.current_item(s), self.db.progress(s)))
        if item is None:
            return self.page("done.html.j2", s, title="Done", done=done, total=total)
        ctx = {"error": None, "choice": None, "reason": ""} | ctx
        return self.page("vote.html.j2", s, status, title="Rate", item=item, done=done, total=total, **ctx)

    async def vote(self, request: Request) -> Response:
        s = await self.session(request)
        if s is None:
            return self.no_session()
        if s.role != "rater":
            return RedirectResponse("/admin", 303)
        if not s.consent_at:
            return RedirectResponse("/consent", 303)
        if request.method == "GET":
            return await self.vote_page(request, s)
        form = await self.form_of(request, s)
        if form is None:
            return self.refused(s)
        choice, reason = form.get("choice", ""), form.get("reason", "")
        try:
            await run_in_threadpool(self.db.vote, s, form.get("item", ""), choice, reason)
        except VoteError as exc:
            if exc.status == 400:
                return await self.vote_page(request, s, 400, error=str(exc), choice=choice, reason=reason)
            title = {403: "Not your item", 404: "Unknown item", 409: "Already recorded"}[exc.status]
            return self.message(s, exc.status, title, str(exc), back="/vote")
        return RedirectResponse("/vote", 303)

    async def logout(self, request: Request) -> Response:
        s = await self.session(request)
        if s is not None:
            if await self.form_of(request, s) is None:
                return self.refused(s)
            await run_in_threadpool(self.db.logout, request.cookies[COOKIE])
        response = self.message(
            None, 200, "Signed out", "You are signed out. Your invitation link signs you in again."
        )
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- admin ----------------------------------------------------------------------------------------------

    def admin_only(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        async def wrapped(self: StudyApp, request: Request) -> Response:
            s = await self.session(request)
            if s is None:
                return self.no_session()
            if s.role != "admin":
                return self.message(s, 403, "Not allowed", "This page is for the study team only.")
            return await handler(self, request, s)

        return wrapped

    @admin_only
    async def admin(self, request: Request, s: Session) -> Response:
        people = await run_in_threadpool(self.db.rater_progress)
        votes = await run_in_threadpool(self.db.votes)
        study = self.db.study
        for p in people:
            p["expires"] = datetime.fromtimestamp(p["expires_at"], timezone.utc).strftime("%Y-%m-%d %H:%M")
        pairs = []
        for a, b in study.pairs():
            mine = [v for v in votes if {v["model_a"], v["model_b"]} == {a, b}]
            pairs.append({
                "first": study.model(a).label, "second": study.model(b).label, "votes": len(mine),
                "n_items": sum(1 for it in study.items if it.pair == (a, b)),
                "wins_first": sum(v["winner"] == a for v in mine), "wins_second": sum(v["winner"] == b for v in mine),
                "none": sum(v["winner"] is None for v in mine),
            })  # fmt: skip
        return self.page("admin.html.j2", s, title="Admin", raters=people, pairs=pairs, n_items=len(study.items),
                         n_slots=sum(it.raters for it in study.items), n_votes=len(votes))  # fmt: skip

    @admin_only
    async def revoke(self, request: Request, s: Session) -> Response:
        form = await self.form_of(request, s)
        if form is None:
            return self.refused(s)
        try:
            await run_in_threadpool(self.db.revoke, form.get("name", ""))
        except StudyError as exc:
            return self.message(s, 404, "No such rater", str(exc), back="/admin")
        return RedirectResponse("/admin", 303)

    @admin_only
    async def export(self, request: Request, s: Session) -> Response:
        if request.path_params["fmt"] not in ("csv", "jsonl"):
            return self.message(s, 404, "Not found", "Exports are votes.csv and votes.jsonl.")
        votes = await run_in_threadpool(self.db.votes)
        if request.path_params["fmt"] == "jsonl":
            body = "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in votes)
            return PlainTextResponse(body, media_type="application/x-ndjson")
        out = io.StringIO()
        fields = list(votes[0]) if votes else list(EXPORT_FIELDS)
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(votes)
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"content-disposition": "attachment; filename=votes.csv"})  # fmt: skip

    async def health(self, request: Request) -> Response:
        return PlainTextResponse("ok")


def create_app(db: StudyDB, allowed_origins: list[str] | None = None, policy: str | None = None,
               secure_cookie: bool = False) -> Any:  # fmt: skip
    """The ASGI app of ``db``'s study, with the security headers on every response."""
    s = StudyApp(db, allowed_origins, policy, secure_cookie)
    routes = [
        Route("/", s.home), Route("/i/{token}", s.invitation), Route("/consent", s.consent, methods=["GET", "POST"]),
        Route("/policy", s.policy_page), Route("/guide", s.guide), Route("/vote", s.vote, methods=["GET", "POST"]),
        Route("/logout", s.logout, methods=["POST"]), Route("/admin", s.admin),
        Route("/admin/revoke", s.revoke, methods=["POST"]), Route("/admin/votes.{fmt:str}", s.export),
        Route("/healthz", s.health), Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]  # fmt: skip
    return SecurityHeaders(Starlette(routes=routes))


def serve(db: StudyDB, host: str = "127.0.0.1", port: int = 8000, **app_kwargs: Any) -> None:
    """Run the app under uvicorn until interrupted (no access log: invitation links would be in it)."""
    import uvicorn

    uvicorn.run(create_app(db, **app_kwargs), host=host, port=port, access_log=False, log_level="warning")
