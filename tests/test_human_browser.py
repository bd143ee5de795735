"""The human-evaluation web app in a real browser: Playwright driving the system Chromium (no browser
download), against `factory eval human serve` started here on 127.0.0.1 with a free port.

A rater opens the invitation link, accepts the policy, votes, reloads midway and resumes; a second rater
votes at the same time; the stored votes and the results match the clicks. Security: no page without a
valid token, expired and revoked links refused, one rater cannot read or write another's votes, answers
holding markup show as text, model names never reach a rater, a cross-site form post is refused."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from train.eval.human.db import StudyDB, sqlite_url
from train.eval.human.results import study_results
from train.eval.human.study import Design, ModelEntry, build_study, save_study

LABELS = ("secret-model-alpha", "secret-model-beta")
FOLDERS = ("/models/hidden-folder-alpha", "/models/hidden-folder-beta")
XSS = ("<script>window.__pwned = 1</script>", '<img src="x" onerror="window.__pwned = 2">')


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None and not os.environ.get("FACTORY_REQUIRE_CHROMIUM"):
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    assert found, "FACTORY_REQUIRE_CHROMIUM is set but `chromium` is not on PATH"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_study(folder: Path):
    models = [ModelEntry(key=f"m{i + 1}", label=LABELS[i], model=FOLDERS[i], backend={"kind": "vllm", "model": FOLDERS[i]},
                         system_prompt=f"system prompt of {LABELS[i]}", system_prompt_source="profile",
                         sampling={"temperature": 0.7}) for i in range(2)]  # fmt: skip
    questions = [(f"q{i}", f"Health question number {i}: what should I do?") for i in range(16)]
    answers = {(q, m.key): f"Answer {i} from one system: rest and drink water." for i, (q, _) in enumerate(questions)
               for m in models}  # fmt: skip
    answers[("q0", "m1")], answers[("q0", "m2")] = f"Danger {XSS[0]} text", f"Picture {XSS[1]} text"
    study = build_study(
        "browser", models, questions, answers, Design(seed=3, overlap_share=0.25, overlap_raters=2)
    )
    study.items.sort(key=lambda it: it.question_id != "q0")  # the item with markup is served first
    study.study_id = study.content_hash()
    save_study(study, folder)
    return study


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    study = make_study(folder)
    store = StudyDB(sqlite_url(folder / "human.sqlite"), study)
    links = {name: store.invite(name, quota=5) for name in ("alice", "bob", "mallory")}
    links["admin"] = store.invite("admin", role="admin")
    links["expired"] = store.invite("expired", days=-0.001)
    port = free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "factory.cli.human", "serve", str(folder), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            break
        except OSError:
            assert proc.poll() is None, (folder / "server.log").read_text()
            time.sleep(0.1)
    yield {"base": base, "links": links, "store": store, "study": study}
    proc.terminate()
    proc.wait(10)
    log.close()
    store.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


def new_context(browser):
    """A fresh browser profile; generous timeouts: CI and this project's machines are 2 shared cores."""
    context = browser.new_context()
    context.set_default_timeout(120_000)
    context.set_default_navigation_timeout(120_000)
    return context


def sign_in(browser, server, name: str, seen: list | None = None):
    context = new_context(browser)
    page = context.new_page()
    if seen is not None:
        page.on(
            "response", lambda r: seen.append((r.url, dict(r.headers), r.body() if r.status != 303 else b""))
        )
    page.goto(f"{server['base']}/i/{server['links'][name]}")
    return context, page


def accept_policy(page) -> None:
    assert page.url.endswith("/consent")
    page.check("input[name=accept]")
    page.click("main button[type=submit]")
    assert page.url.endswith("/guide")
    page.click("a.button")
    assert page.url.endswith("/vote")


def cast(page, choice: str, reason: str = "") -> tuple[str, str]:
    item = page.input_value("input[name=item]")
    page.check(f"input[name=choice][value={choice}]")
    if reason:
        page.fill("textarea[name=reason]", reason)
    page.click("form.vote button[type=submit]")
    return item, choice


def progress(page) -> tuple[int, int]:
    done, total = re.search(r"(\d+) of (\d+) rated", page.inner_text("div.progress")).groups()
    return int(done), int(total)


def test_two_raters_vote_resume_and_results_match(browser, server):
    seen: list = []
    ctx_a, alice = sign_in(browser, server, "alice", seen)
    ctx_b, bob = sign_in(browser, server, "bob")
    assert server["links"]["alice"] not in alice.url  # the token left the address bar
    accept_policy(alice)
    accept_policy(bob)
    texts = "\n".join(alice.locator("div.text").all_inner_texts())  # the item whose answers hold markup
    assert XSS[0] in texts and XSS[1] in texts  # shown literally, as text
    assert alice.locator("div.text img, div.text script").count() == 0
    assert alice.evaluate("window.__pwned") is None
    clicks = {"alice": [], "bob": []}
    clicks["alice"].append(cast(alice, "A"))
    clicks["bob"].append(cast(bob, "none", ""))  # no reason: refused, nothing stored
    assert "reason is required" in bob.inner_text("p.error")
    clicks["bob"][-1] = cast(bob, "none", "both answers miss the point")
    clicks["alice"].append(cast(alice, "B"))
    before = alice.input_value("input[name=item]")
    assert progress(alice)[0] == 2
    alice.reload()  # resume: same item, same progress
    assert alice.input_value("input[name=item]") == before and progress(alice)[0] == 2
    ctx_a.close()
    ctx_a, alice = sign_in(browser, server, "alice", seen)  # the link again, a new browser: resumes
    assert alice.url.endswith("/vote") and alice.input_value("input[name=item]") == before
    turn = 0
    while alice.locator("input[name=item]").count() or bob.locator("input[name=item]").count():
        for name, page in (("alice", alice), ("bob", bob)):
            if page.locator("input[name=item]").count():
                clicks[name].append(cast(page, "AB"[turn % 2]))
                turn += 1
    assert "Thank you" in alice.inner_text("main") and "Thank you" in bob.inner_text("main")
    done, total = progress(alice)
    assert done == total == len(clicks["alice"])
    store, study = server["store"], server["study"]
    stored = {(v["rater"], v["item_id"]): v["choice"] for v in store.votes() if v["rater"] in clicks}
    cast_ = {(name, item): choice for name, items in clicks.items() for item, choice in items}
    assert stored == cast_
    assert len(stored) == 10 and len(clicks["bob"]) == 5  # each rater's quota, each vote once
    res = study_results(study, store.votes(), bootstrap=50)["benchmarks"]["browser"]
    pair = res["pairings"][0]
    assert pair["votes"] == len(stored) and pair["cant_decide"]["reasons"] == ["both answers miss the point"]
    wins = sum(1 for v in store.votes() if v["winner_label"] == LABELS[0])
    assert pair["wins"][LABELS[0]] == wins
    assert sum("/vote" in url for url, _, _ in seen) >= 5
    for url, headers, body in seen:  # nothing alice's browser fetched names a model or its folder
        text = body.decode("utf-8", "replace") + repr(headers) + url
        for secret in (*LABELS, *FOLDERS, "system prompt of"):
            assert secret not in text, url
        assert "default-src 'none'" in headers["content-security-policy"]
    ctx_a.close()
    ctx_b.close()


def test_no_page_without_a_valid_token(browser, server):
    base = server["base"]
    ctx = new_context(browser)
    page = ctx.new_page()
    for path in ("/", "/vote", "/consent", "/guide", "/admin", "/admin/votes.csv"):
        assert page.goto(base + path).status == 401, path
        assert "invitation link" in page.inner_text("main")
    for token in ("not-a-token", server["links"]["expired"]):
        assert page.goto(f"{base}/i/{token}").status == 403
    assert ctx.cookies() == []
    ctx.close()


def test_revoked_link_and_session_refused(browser, server):
    ctx, page = sign_in(browser, server, "mallory")
    assert page.url.endswith("/consent")
    server["store"].revoke("mallory")
    assert page.goto(server["base"] + "/consent").status == 401
    assert page.goto(f"{server['base']}/i/{server['links']['mallory']}").status == 403
    ctx.close()


def test_one_rater_cannot_read_or_write_anothers_votes(browser, server):
    store = server["store"]
    token = store.invite("dave")
    ctx = new_context(browser)
    page = ctx.new_page()
    page.goto(f"{server['base']}/i/{token}")
    accept_policy(page)
    csrf = page.input_value("input[name=csrf]")
    mine = page.input_value("input[name=item]")
    frank = store.session(store.login(store.invite("frank"))[0])
    theirs = store.current_item(frank)["id"]  # assigned to frank, not to dave
    before = len(store.votes())
    for path in ("/admin", "/admin/votes.csv", "/admin/votes.jsonl"):
        response = page.request.get(server["base"] + path)
        assert response.status == 403 and "alice" not in response.text()
    post = page.request.post(server["base"] + "/vote", headers={"origin": server["base"]},
                             form={"csrf": csrf, "item": theirs, "choice": "B", "reason": ""})  # fmt: skip
    assert post.status == 403 and "not assigned to you" in post.text()
    ok = page.request.post(server["base"] + "/vote", headers={"origin": server["base"]},
                           form={"csrf": csrf, "item": mine, "choice": "A", "reason": ""}, max_redirects=0)  # fmt: skip
    assert ok.status == 303
    again = page.request.post(server["base"] + "/vote", headers={"origin": server["base"]},
                              form={"csrf": csrf, "item": mine, "choice": "B", "reason": ""})  # fmt: skip
    assert again.status == 409 and "first vote stands" in again.text()
    unknown = page.request.post(server["base"] + "/vote", headers={"origin": server["base"]},
                                form={"csrf": csrf, "item": "0000000000000000", "choice": "A", "reason": ""})  # fmt: skip
    assert unknown.status == 404
    after = store.votes()
    assert len(after) == before + 1 and [v["choice"] for v in after if v["rater"] == "dave"] == ["A"]
    for response in (post, again, unknown, page.request.get(server["base"] + "/vote")):  # error pages too
        assert not any(secret in response.text() for secret in (*LABELS, *FOLDERS))
    ctx.close()


def test_cross_site_form_post_is_refused(browser, server, tmp_path):
    store = server["store"]
    token = store.invite("erin")
    ctx = new_context(browser)
    page = ctx.new_page()
    page.goto(f"{server['base']}/i/{token}")
    accept_policy(page)
    csrf, item = page.input_value("input[name=csrf]"), page.input_value("input[name=item]")
    # another origin on this machine (same site, so the session cookie is sent): even with the right CSRF
    # token, the post is refused because it does not come from the app's own origin
    (tmp_path / "attack.html").write_text(
        f'<form id="f" method="post" action="{server["base"]}/vote"><input name="csrf" value="{csrf}">'
        f'<input name="item" value="{item}"><input name="choice" value="A"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    before = len(store.votes())
    with page.expect_navigation(url=f"{server['base']}/vote"):
        page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/attack.html")
    assert "Request refused" in page.inner_text("main")
    forged = page.request.post(server["base"] + "/vote", headers={"origin": server["base"]},
                               form={"csrf": "guessed", "item": item, "choice": "A"})  # fmt: skip
    assert forged.status == 403
    attacker.shutdown()
    assert len(store.votes()) == before
    ctx.close()


def test_admin_sees_progress_and_exports_votes(browser, server):
    ctx = new_context(browser)
    page = ctx.new_page()
    page.goto(f"{server['base']}/i/{server['links']['admin']}")
    assert page.url.endswith("/admin")
    votes = server["store"].votes()
    rows = page.locator("table").first.locator("tbody tr").all_inner_texts()
    alice = next(r for r in rows if r.startswith("alice"))
    assert f"\t{sum(v['rater'] == 'alice' for v in votes)}\t" in alice
    pair = page.locator("table").nth(1).locator("tbody tr").first.inner_text()
    assert pair.split("\t")[:2] == [f"{LABELS[0]} vs {LABELS[1]}", str(len(server["study"].items))]
    exported = page.request.get(server["base"] + "/admin/votes.csv").text().strip().splitlines()
    assert len(exported) == len(votes) + 1 and "winner_label" in exported[0]
    ctx.close()
