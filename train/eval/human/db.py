"""The study database: items, raters (and the admin), sessions, assignments and votes (SQLAlchemy Core).

In: a database URL and the ``Study`` it serves. SQLite by default (``sqlite:///<study>/human.sqlite``), in
WAL mode: readers never block the writer, and a vote is committed before its "recorded" page is sent.
``synchronous=NORMAL`` (default) keeps every acknowledged vote through a killed server (SIGKILL: the WAL is
in the OS's hands once committed; bench/human_load.py checks it), not through a power cut or OS crash;
``FULL`` adds an fsync per commit (~4-16 ms on this project's disks, and SQLite has one writer at a time).
A
``postgresql+psycopg://`` (or ``postgresql://`` with psycopg2) URL works through the same Core statements
where a team runs PostgreSQL (install the driver; not exercised by this project's tests).

What the constraints guarantee, whatever the web layer does:

- **one vote per rater and item**: ``UNIQUE(rater_id, item_id)``; a second submit is refused (``VoteError``
  409), never counted twice;
- **no item over-served**: an item is assigned by ``UPDATE items SET taken = taken + 1 WHERE id = ? AND
  taken < raters`` in the assignment's transaction: of two raters racing for the last place, one updates a
  row, the other none and takes the next item (atomic in SQLite and in PostgreSQL alike);
- **tokens stored hashed** (SHA-256 of a 256-bit random token): the database never holds a usable link;
  invitations expire (``expires_at``) and can be revoked (``revoked_at``: sessions end at once and the
  rater's unvoted items go back to the pool).

The database remembers which study it serves (``meta.study_id``): opening it with another study is a
``StudyError``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    update,
)  # fmt: skip
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from train.eval.human.study import Study, StudyError

CHOICES = ("A", "B", "none")
MAX_REASON = 2000

meta = MetaData()
meta_table = Table("meta", meta, Column("key", String(64), primary_key=True), Column("value", Text))
items = Table(
    "items", meta,
    Column("id", String(32), primary_key=True), Column("position", Integer, nullable=False),
    Column("question_id", Text, nullable=False), Column("question", Text, nullable=False),
    Column("answer_a", Text, nullable=False), Column("answer_b", Text, nullable=False),
    Column("model_a", String(16), nullable=False), Column("model_b", String(16), nullable=False),
    Column("raters", Integer, nullable=False), Column("taken", Integer, nullable=False, default=0),
)  # fmt: skip
raters = Table(
    "raters", meta,
    Column("id", Integer, primary_key=True, autoincrement=True), Column("name", String(120), unique=True),
    Column("role", String(8), nullable=False), Column("token_hash", String(64), unique=True, nullable=False),
    Column("created_at", Float, nullable=False), Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float), Column("consent_at", Float), Column("quota", Integer),
)  # fmt: skip
sessions = Table(
    "sessions", meta,
    Column("id_hash", String(64), primary_key=True), Column("rater_id", ForeignKey("raters.id"), nullable=False),
    Column("csrf", String(64), nullable=False), Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)  # fmt: skip
assignments = Table(
    "assignments", meta,
    Column("rater_id", ForeignKey("raters.id"), primary_key=True),
    Column("item_id", ForeignKey("items.id"), primary_key=True),
    Column("assigned_at", Float, nullable=False),
)  # fmt: skip
votes = Table(
    "votes", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rater_id", ForeignKey("raters.id"), nullable=False),
    Column("item_id", ForeignKey("items.id"), nullable=False),
    Column("choice", String(8), nullable=False), Column("reason", Text, nullable=False),
    Column("created_at", Float, nullable=False), Column("seconds", Float),
    UniqueConstraint("rater_id", "item_id", name="one_vote_per_rater_and_item"),
)  # fmt: skip
Index("votes_by_item", votes.c.item_id)
Index("items_by_position", items.c.position, items.c.taken, items.c.raters)  # covering: assign, progress
Index("assignments_by_item", assignments.c.item_id)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class VoteError(Exception):
    """A vote (or item request) refused: ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Taken(Exception):
    """An item's last place went to another rater between finding it and assigning it (try again)."""


@dataclass(frozen=True)
class Session:
    """A logged-in browser: who (``rater_id``, ``name``, ``role``), its CSRF token, consent and quota."""

    rater_id: int
    name: str
    role: str
    csrf: str
    consent_at: float | None
    quota: int | None


def _engine(url: str, synchronous: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=10)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={synchronous}",
            "busy_timeout=30000",
            "foreign_keys=ON",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine


class StudyDB:
    """One study's database. Every method is one short transaction; safe to call from many threads."""

    def __init__(self, url: str, study: Study, session_hours: float = 12.0, synchronous: str = "NORMAL"):
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise StudyError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.study, self.session_s = study, session_hours * 3600
        self.engine = _engine(url, synchronous.upper())
        meta.create_all(self.engine)
        with self.engine.begin() as c:
            found = c.execute(select(meta_table.c.value).where(meta_table.c.key == "study_id")).scalar()
            if found is None:
                c.execute(insert(meta_table), [{"key": "study_id", "value": study.study_id}])
                c.execute(insert(items), [
                    {"id": it.id, "position": i, "question_id": it.question_id, "question": it.question,
                     "answer_a": it.answer_left, "answer_b": it.answer_right, "model_a": it.left,
                     "model_b": it.right, "raters": it.raters} for i, it in enumerate(study.items)
                ])  # fmt: skip
            elif found != study.study_id:
                raise StudyError(
                    f"{url}: this database serves study {found}, not {study.study_id} (the study file was "
                    "prepared again): serve the study it was made for, or use another --db"
                )

    def close(self) -> None:
        self.engine.dispose()

    # -- raters, tokens, sessions ---------------------------------------------------------------------------

    def invite(self, name: str, role: str = "rater", days: float = 14, quota: int | None = None,
               renew: bool = False) -> str:  # fmt: skip
        """A new invitation token for ``name`` (returned once; only its hash is stored). ``renew``: replace
        the token of an existing rater (the old link stops working; a revocation is lifted)."""
        token, now = secrets.token_urlsafe(32), time.time()
        values = {"token_hash": hash_token(token), "expires_at": now + days * 86400, "quota": quota}
        with self.engine.begin() as c:
            rid = c.execute(select(raters.c.id).where(raters.c.name == name)).scalar()
            if rid is not None and not renew:
                raise StudyError(f"rater {name!r} exists: use renew to issue a new link, or another name")
            if rid is None:
                c.execute(insert(raters).values(name=name, role=role, created_at=now, **values))
            else:
                c.execute(update(raters).where(raters.c.id == rid).values(revoked_at=None, **values))
                c.execute(delete(sessions).where(sessions.c.rater_id == rid))
        return token

    def revoke(self, name: str) -> int:
        """Revoke ``name``'s link and sessions; their unvoted assignments go back to the pool. Returns
        how many assignments were freed."""
        with self.engine.begin() as c:
            rid = c.execute(select(raters.c.id).where(raters.c.name == name)).scalar()
            if rid is None:
                raise StudyError(f"no rater named {name!r}")
            c.execute(update(raters).where(raters.c.id == rid).values(revoked_at=time.time()))
            c.execute(delete(sessions).where(sessions.c.rater_id == rid))
            voted = select(votes.c.item_id).where(votes.c.rater_id == rid)
            open_ = assignments.c.rater_id == rid, assignments.c.item_id.not_in(voted)
            freed = list(c.execute(select(assignments.c.item_id).where(*open_)).scalars())
            c.execute(delete(assignments).where(*open_))
            if freed:
                c.execute(update(items).where(items.c.id.in_(freed)).values(taken=items.c.taken - 1))
            return len(freed)

    def login(self, token: str) -> tuple[str, str] | None:
        """(session token, role) for a valid, unexpired, unrevoked invitation token; else None."""
        now = time.time()
        with self.engine.begin() as c:
            row = c.execute(
                select(raters.c.id, raters.c.role, raters.c.expires_at).where(
                    raters.c.token_hash == hash_token(token), raters.c.revoked_at.is_(None),
                    raters.c.expires_at > now)
            ).first()  # fmt: skip
            if row is None:
                return None
            session = secrets.token_urlsafe(32)
            c.execute(insert(sessions).values(
                id_hash=hash_token(session), rater_id=row.id, csrf=secrets.token_urlsafe(24), created_at=now,
                expires_at=min(row.expires_at, now + self.session_s)))  # fmt: skip
        return session, row.role

    def session(self, session_token: str | None) -> Session | None:
        if not session_token:
            return None
        now = time.time()
        with self.engine.connect() as c:
            row = c.execute(
                select(raters.c.id, raters.c.name, raters.c.role, sessions.c.csrf, raters.c.consent_at,
                       raters.c.quota)
                .join(raters, raters.c.id == sessions.c.rater_id)
                .where(sessions.c.id_hash == hash_token(session_token), sessions.c.expires_at > now,
                       raters.c.revoked_at.is_(None), raters.c.expires_at > now)
            ).first()  # fmt: skip
        return Session(*row) if row else None

    def logout(self, session_token: str) -> None:
        with self.engine.begin() as c:
            c.execute(delete(sessions).where(sessions.c.id_hash == hash_token(session_token)))

    def accept_consent(self, rater_id: int) -> None:
        with self.engine.begin() as c:
            c.execute(
                update(raters).where(raters.c.id == rater_id, raters.c.consent_at.is_(None))
                .values(consent_at=time.time())
            )  # fmt: skip

    # -- items and votes ------------------------------------------------------------------------------------

    def _open_item(self, c: Any, rater_id: int) -> str | None:
        voted = exists().where(votes.c.rater_id == rater_id, votes.c.item_id == assignments.c.item_id)
        return c.execute(
            select(assignments.c.item_id).where(assignments.c.rater_id == rater_id, ~voted)
            .order_by(assignments.c.assigned_at).limit(1)
        ).scalar()  # fmt: skip

    def _available(self, rater_id: int):
        mine = exists().where(assignments.c.item_id == items.c.id, assignments.c.rater_id == rater_id)
        return items.c.taken < items.c.raters, ~mine

    def current_item(self, session: Session) -> dict[str, str] | None:
        """The item the rater is on (assigned and not voted), else a newly assigned one; None when done.
        Only what the rater may see: the item id, the question and the answers as A and B."""
        for _ in range(50):
            try:
                with self.engine.begin() as c:
                    open_id = self._open_item(c, session.rater_id) or self._assign(c, session)
                    if open_id is None:
                        return None
                    row = c.execute(
                        select(items.c.id, items.c.question, items.c.answer_a, items.c.answer_b)
                        .where(items.c.id == open_id)
                    ).first()  # fmt: skip
            except (IntegrityError, _Taken):  # lost a race (rolled back): look again
                continue
            return {
                "id": row.id,
                "question": row.question,
                "answer_a": row.answer_a,
                "answer_b": row.answer_b,
            }
        raise StudyError("could not assign an item after 50 tries (heavy contention)")

    def _assign(self, c: Any, session: Session) -> str | None:
        """Assign the first item (in serving order) with a free place that this rater has not had."""
        done = c.execute(select(func.count()).where(votes.c.rater_id == session.rater_id)).scalar()
        if session.quota is not None and done >= session.quota:
            return None
        item_id = c.execute(
            select(items.c.id).where(*self._available(session.rater_id)).order_by(items.c.position).limit(1)
        ).scalar()
        if item_id is None:
            return None
        took = c.execute(
            update(items).where(items.c.id == item_id, items.c.taken < items.c.raters)
            .values(taken=items.c.taken + 1)
        )  # fmt: skip
        if took.rowcount != 1:  # its last place went to another rater since it was found
            raise _Taken(item_id)
        c.execute(
            insert(assignments).values(rater_id=session.rater_id, item_id=item_id, assigned_at=time.time())
        )
        return item_id

    def progress(self, session: Session) -> tuple[int, int]:
        """(votes cast, how many this rater can cast in all: the quota, or every item still open to them)."""
        with self.engine.connect() as c:
            done = c.execute(select(func.count()).where(votes.c.rater_id == session.rater_id)).scalar()
            pending = c.execute(select(func.count()).select_from(assignments).where(
                assignments.c.rater_id == session.rater_id)).scalar() - done  # fmt: skip
            open_items = c.execute(
                select(func.count()).select_from(items).where(items.c.taken < items.c.raters)
            )
            mine_open = c.execute(
                select(func.count()).select_from(assignments.join(items, items.c.id == assignments.c.item_id))
                .where(assignments.c.rater_id == session.rater_id, items.c.taken < items.c.raters)
            )  # fmt: skip
            free = open_items.scalar() - mine_open.scalar()  # open places on items this rater has not had
        total = done + pending + free
        return done, min(total, session.quota) if session.quota is not None else total

    def vote(self, session: Session, item_id: str, choice: str, reason: str) -> None:
        """Record one vote; ``VoteError`` (nothing stored) for an unknown item (404), an item not assigned to
        this rater (403), a second vote on an item (409) or a bad choice / missing reason (400)."""
        reason = (reason or "").strip()
        if choice not in CHOICES:
            raise VoteError(400, "choose answer A, answer B, or can't decide")
        if choice == "none" and not reason:
            raise VoteError(400, "when you can't decide, please say why (the reason is required)")
        if len(reason) > MAX_REASON:
            raise VoteError(400, f"the reason is longer than {MAX_REASON} characters")
        with self.engine.begin() as c:
            if c.execute(select(items.c.id).where(items.c.id == item_id)).scalar() is None:
                raise VoteError(404, "unknown item: it is not part of this study")
            assigned = c.execute(select(assignments.c.assigned_at).where(
                assignments.c.rater_id == session.rater_id, assignments.c.item_id == item_id)).scalar()  # fmt: skip
            if assigned is None:
                raise VoteError(403, "this item is not assigned to you")
            try:
                c.execute(insert(votes).values(
                    rater_id=session.rater_id, item_id=item_id, choice=choice, reason=reason,
                    created_at=time.time(), seconds=round(time.time() - assigned, 3)))  # fmt: skip
            except IntegrityError:
                raise VoteError(409, "you already voted on this item: your first vote stands") from None

    # -- admin ----------------------------------------------------------------------------------------------

    def rater_progress(self) -> list[dict[str, Any]]:
        """One row per rater (and admin): role, dates, votes cast and choice counts, items open."""
        with self.engine.connect() as c:
            people = c.execute(select(raters).order_by(raters.c.id)).mappings().all()
            counts = c.execute(select(votes.c.rater_id, votes.c.choice, func.count()).group_by(
                votes.c.rater_id, votes.c.choice)).all()  # fmt: skip
            assigned = dict(c.execute(select(assignments.c.rater_id, func.count()).group_by(
                assignments.c.rater_id)).all())  # fmt: skip
        out = []
        for p in people:
            mine = {ch: n for rid, ch, n in counts if rid == p["id"]}
            done = sum(mine.values())
            out.append({k: p[k] for k in ("name", "role", "created_at", "expires_at", "revoked_at", "consent_at",
                                          "quota")} | {"votes": done, "open": assigned.get(p["id"], 0) - done,
                                                       "choices": mine})  # fmt: skip
        return out

    def votes(self) -> list[dict[str, Any]]:
        """Every vote with what the admin and the results may know: which model was A and which B."""
        label = {m.key: m.label for m in self.study.models}
        with self.engine.connect() as c:
            rows = c.execute(
                select(votes.c.id, raters.c.name.label("rater"), votes.c.item_id, items.c.question_id,
                       items.c.model_a, items.c.model_b, votes.c.choice, votes.c.reason, votes.c.created_at,
                       votes.c.seconds)
                .join(raters, raters.c.id == votes.c.rater_id).join(items, items.c.id == votes.c.item_id)
                .order_by(votes.c.id)
            ).mappings().all()  # fmt: skip
        out = []
        for r in rows:
            winner = {"A": r["model_a"], "B": r["model_b"]}.get(r["choice"])
            out.append(dict(r) | {"label_a": label[r["model_a"]], "label_b": label[r["model_b"]],
                                  "winner": winner, "winner_label": label.get(winner)})  # fmt: skip
        return out
