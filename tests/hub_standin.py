"""TEST DOUBLE: a local stand-in for the Hugging Face Hub HTTP API, which is unreachable from this machine.

It is not the Hub. It answers, on ``127.0.0.1`` (a free port), just the endpoints that
``huggingface_hub`` (2.x, with or without ``hf_xet``) calls when ``factory.hub.push_version`` runs
``create_repo`` / ``repo_info`` / ``create_branch`` / ``upload_folder``:

- ``POST /api/repos/create``                             409 if the repo exists, as the Hub does
- ``GET  /api/{type}s/{ns}/{name}[/revision/{rev}]``     repo info (``private``, ``sha``, ``siblings``)
- ``POST /api/{type}s/{ns}/{name}/branch/{branch}``      a branch copied from ``startingPoint`` or main
- ``GET  /api/{type}s/{ns}/{name}/tree/{rev}``           file listing (``upload_folder(delete_patterns=)``)
- ``POST /api/validate-yaml``                            README front matter must parse to a mapping
- ``POST /api/{type}s/{ns}/{name}/preupload/{rev}``      every file is answered ``"regular"``, never LFS/Xet
- ``POST /api/{type}s/{ns}/{name}/commit/{rev}``         NDJSON: header, ``file`` (base64), ``deletedFile``,
                                                          ``deletedFolder``; ``lfsFile`` is refused
- ``GET  /api/whoami-v2``

Every request is recorded (method, path, headers, body) so tests can check the ``Authorization`` header.
Every endpoint requires ``Authorization: Bearer <token>``. Committed files land, as plain files, in
``root/<type>s/<ns>/<name>/<revision>/`` (``repo_dir``), so ``datasets.load_dataset`` can read them back.
Anything else is answered 404 and recorded in ``unknown``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
REPO = r"/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Repo:
    private: bool
    heads: dict[str, str] = field(default_factory=dict)  # branch -> commit oid


class HubStandin:
    """A threaded HTTP server playing the Hub for one user whose token is ``token``. Use as a context manager."""

    def __init__(self, root: Path, token: str, user: str = "standin-user"):
        self.root, self.token, self.user = Path(root), token, user
        self.requests: list[Recorded] = []
        self.unknown: list[str] = []
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="hub-standin", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStandin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def repo_dir(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> Path:
        return self.root / f"{repo_type}s" / repo_id / revision.replace("/", "--")

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """Path in repo -> content, for one revision."""
        base = self.repo_dir(repo_id, revision, repo_type)
        return {
            p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()
        }

    # -- request handling (called from the server's threads) ----------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any, dict]:
        if path == "/api/whoami-v2" and method == "GET":
            return 200, {"type": "user", "name": self.user, "auth": {"type": "access_token"}}, {}
        if path == "/api/validate-yaml" and method == "POST":
            return self._validate_yaml(json.loads(body))
        if path == "/api/repos/create" and method == "POST":
            return self._create(json.loads(body))
        m = re.fullmatch(REPO + r"(?P<rest>/.*)?", path)
        if m is None:
            return self._unknown(method, path)
        key = (m["type"][:-1], f"{m['ns']}/{m['name']}")
        rest = m["rest"] or ""
        if key not in self.repos:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        if method == "GET" and (rest == "" or rest.startswith("/revision/")):
            return self._info(key, unquote(rest[len("/revision/") :]) if rest else "main")
        action = re.fullmatch(r"/(?P<op>preupload|commit|branch|tree)/(?P<rev>[^/]+)(?P<sub>/.*)?", rest)
        if action is None:
            return self._unknown(method, path)
        op, rev = action["op"], unquote(action["rev"])
        if op == "branch" and method == "POST":
            return self._branch(key, rev, json.loads(body or b"{}"))
        if rev not in self.repos[key].heads:
            return 404, {"error": f"Invalid rev id: {rev}"}, {"X-Error-Code": "RevisionNotFound"}
        if op == "tree" and method == "GET":
            return self._tree(key, rev)
        if op == "preupload" and method == "POST":
            return self._preupload(key, rev, json.loads(body))
        if op == "commit" and method == "POST":
            return self._commit(key, rev, body)
        return self._unknown(method, path)

    def _unknown(self, method: str, path: str) -> tuple[int, Any, dict]:
        self.unknown.append(f"{method} {path}")
        return 404, {"error": f"hub stand-in: {method} {path} is not implemented"}, {}

    def _validate_yaml(self, payload: dict) -> tuple[int, Any, dict]:
        content = payload.get("content", "")
        m = re.match(r"^---\n(.*?)\n---\n", content, flags=re.S)
        try:
            meta = yaml.safe_load(m[1]) if m else {}
        except yaml.YAMLError as e:
            return 400, {"errors": [{"message": f"invalid YAML: {e}"}], "warnings": []}, {}
        if not isinstance(meta, dict):
            return 400, {"errors": [{"message": "metadata must be a mapping"}], "warnings": []}, {}
        return 200, {"errors": [], "warnings": []}, {}

    def _create(self, payload: dict) -> tuple[int, Any, dict]:
        repo_type = payload.get("type") or "model"
        key = (repo_type, f"{payload['organization'] or self.user}/{payload['name']}")
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        if key in self.repos:
            return 409, {"error": "You already created this repo", "url": f"{self.url}/{prefix}{key[1]}"}, {}
        self.repos[key] = Repo(private=payload.get("visibility") == "private")
        self._write(key, "main", {".gitattributes": GITATTRIBUTES}, [], "initial commit")
        return 200, {"url": f"{self.url}/{prefix}{key[1]}", "name": key[1]}, {}

    def _info(self, key: tuple[str, str], rev: str) -> tuple[int, Any, dict]:
        repo = self.repos[key]
        if rev not in repo.heads:
            return 404, {"error": f"Invalid rev id: {rev}"}, {"X-Error-Code": "RevisionNotFound"}
        siblings = [{"rfilename": p} for p in self.files(key[1], rev, key[0])]
        info = {"id": key[1], "private": repo.private, "sha": repo.heads[rev], "siblings": siblings}
        return 200, info, {}

    def _branch(self, key: tuple[str, str], branch: str, payload: dict) -> tuple[int, Any, dict]:
        repo = self.repos[key]
        if branch in repo.heads:
            return 409, {"error": "Reference already exists"}, {}
        start = payload.get("startingPoint") or "main"
        shutil.copytree(self.repo_dir(key[1], start, key[0]), self.repo_dir(key[1], branch, key[0]))
        repo.heads[branch] = repo.heads[start]
        return 200, {}, {}

    def _tree(self, key: tuple[str, str], rev: str) -> tuple[int, Any, dict]:
        files = self.files(key[1], rev, key[0])
        entries = [{"type": "file", "path": p, "size": len(b), "oid": _git_sha1(b)} for p, b in files.items()]
        return 200, entries, {}

    def _preupload(self, key: tuple[str, str], rev: str, payload: dict) -> tuple[int, Any, dict]:
        current = self.files(key[1], rev, key[0])
        answer = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": _git_sha1(current[f["path"]]) if f["path"] in current else None,
            }
            for f in payload["files"]
        ]
        return 200, {"files": answer, "commitOid": self.repos[key].heads[rev]}, {}

    def _commit(self, key: tuple[str, str], rev: str, body: bytes) -> tuple[int, Any, dict]:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return 400, {"error": "commit payload must start with a header line"}, {}
        summary = lines[0]["value"]["summary"]
        adds: dict[str, bytes] = {}
        deletes: list[str] = []
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file" and value.get("encoding") == "base64":
                adds[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] in ("deletedFile", "deletedFolder"):
                deletes.append(value["path"])
            else:
                return 400, {"error": f"hub stand-in: unsupported commit operation {line['key']!r}"}, {}
        oid = self._write(key, rev, adds, deletes, summary)
        prefix = "" if key[0] == "model" else f"{key[0]}s/"
        url = f"{self.url}/{prefix}{key[1]}/commit/{oid}"
        return 200, {"commitUrl": url, "commitOid": oid, "pullRequestUrl": None}, {}

    def _write(
        self, key: tuple[str, str], rev: str, adds: dict[str, bytes], deletes: list[str], msg: str
    ) -> str:
        base = self.repo_dir(key[1], rev, key[0])
        for path in deletes:
            if (base / path).is_dir():
                shutil.rmtree(base / path)
            else:
                (base / path).unlink(missing_ok=True)
        for path, content in adds.items():
            (base / path).parent.mkdir(parents=True, exist_ok=True)
            (base / path).write_bytes(content)
        parent = self.repos[key].heads.get(rev, "")
        oid = hashlib.sha1(f"{parent}\n{msg}\n{sorted(adds)}\n{deletes}".encode()).hexdigest()
        self.repos[key].heads[rev] = oid
        return oid


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _handler(hub: HubStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self._body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            with hub.lock:
                hub.requests.append(Recorded(self.command, parts.path, parse_qs(parts.query), headers, body))
                if headers.get("authorization") != f"Bearer {hub.token}":
                    status, payload, extra = 401, {"error": "Invalid credentials in Authorization header"}, {}
                else:
                    status, payload, extra = hub.handle(self.command, parts.path, parse_qs(parts.query), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
