"""Saved conversations: each browser's chats in one local SQLite file (stdlib sqlite3, WAL,
in the data folder beside the index; no pickle), to list, reopen, rename, delete and export
as Markdown. Also the plain-text forms of an answer: the Markdown a Copy gives and the
footnoted Markdown of an export. The UI is the only writer; answers are stored as JSON."""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from .errors import RagError
from .types import Answer

FORMAT_VERSION = 1
TITLE_CHARS = 80
_BROWSER_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_MARKER = re.compile(r"\[(\d+)\]")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    PRIMARY KEY (conversation, position));
"""


class ConversationError(RagError):
    """A saved conversation that cannot be read or written."""


def new_browser_id() -> str:
    return uuid.uuid4().hex


def valid_browser_id(value) -> bool:
    return isinstance(value, str) and bool(_BROWSER_ID.match(value))


def title_of(question: str) -> str:
    line = " ".join(str(question).split())
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1] + "…"


def stored_answer(answer: dict) -> dict:
    """What a turn keeps of an answer: the text, language, refusal and each citation's
    source and chunk; not the whole cited documents the viewer attaches."""
    keep = ("answer", "language", "refused", "unsupported", "standalone_question", "spelled", "model", "timings")
    out = {k: answer[k] for k in keep if k in answer}
    out["citations"] = [{k: c.get(k) for k in ("n", "chunk_id", "doc_id", "title", "url", "site", "text", "start",
                                                "end", "page", "last_page", "sources")}
                        for c in answer.get("citations", [])]
    return out


class ConversationStore:
    """One SQLite file; every call opens its own short transaction, so several server
    threads (one per browser session) can use one store."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    db.execute(statement)
                row = db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
                if row is None:
                    db.execute("INSERT INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),))
                elif row[0] != str(FORMAT_VERSION):
                    raise ConversationError(f"{self.path} holds conversations in format {row[0]}, this version "
                                            f"reads format {FORMAT_VERSION}; move the file aside to start afresh")
        except sqlite3.DatabaseError as e:
            raise ConversationError(f"cannot open the saved conversations in {self.path} ({e}); move the file "
                                    "aside to start afresh") from None

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return _Transaction(db)

    # --- writing ----------------------------------------------------------------------

    def create(self, owner: str, title: str) -> str:
        conversation = uuid.uuid4().hex
        now = time.time()
        with self._connect() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)", (conversation, owner, title_of(title),
                                                                             now, now))
        return conversation

    def add_turn(self, owner: str, conversation: str | None, question: str, answer: dict,
                 stopped: bool = False) -> str:
        """Append one answered (or stopped) turn; a conversation that does not exist yet
        (or was deleted meanwhile) is created, titled by its first question."""
        with self._connect() as db:
            if not conversation or not self._owned(db, owner, conversation):
                conversation = uuid.uuid4().hex
                now = time.time()
                db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                           (conversation, owner, title_of(question), now, now))
            position = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM turns WHERE conversation = ?",
                                  (conversation,)).fetchone()[0]
            now = time.time()
            db.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation, position, question, json.dumps(stored_answer(answer), ensure_ascii=False),
                        int(stopped), now))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation))
        return conversation

    def rename(self, owner: str, conversation: str, title: str) -> bool:
        title = title_of(title)
        if not title:
            return False
        with self._connect() as db:
            return db.execute("UPDATE conversations SET title = ? WHERE id = ? AND owner = ?",
                              (title, conversation, owner)).rowcount == 1

    def delete(self, owner: str, conversation: str) -> bool:
        with self._connect() as db:
            return db.execute("DELETE FROM conversations WHERE id = ? AND owner = ?",
                              (conversation, owner)).rowcount == 1

    # --- reading ----------------------------------------------------------------------

    @staticmethod
    def _owned(db, owner: str, conversation: str) -> bool:
        return db.execute("SELECT 1 FROM conversations WHERE id = ? AND owner = ?",
                          (conversation, owner)).fetchone() is not None

    def list(self, owner: str) -> list[dict]:
        """This browser's conversations, the most recent first."""
        with self._connect() as db:
            rows = db.execute("SELECT id, title, created, updated FROM conversations WHERE owner = ? "
                              "ORDER BY updated DESC", (owner,)).fetchall()
        return [{"id": r[0], "title": r[1], "created": r[2], "updated": r[3]} for r in rows]

    def get(self, owner: str, conversation: str) -> dict | None:
        """{"id", "title", "turns": [{"question", "answer": dict, "stopped"}]} or None."""
        with self._connect() as db:
            head = db.execute("SELECT title, created, updated FROM conversations WHERE id = ? AND owner = ?",
                              (conversation, owner)).fetchone()
            if head is None:
                return None
            rows = db.execute("SELECT question, answer, stopped FROM turns WHERE conversation = ? ORDER BY position",
                              (conversation,)).fetchall()
        turns = []
        for question, answer, stopped in rows:
            try:
                parsed = json.loads(answer)
            except ValueError:
                parsed = {"answer": "", "citations": []}
            turns.append({"question": question, "answer": parsed, "stopped": bool(stopped)})
        return {"id": conversation, "title": head[0], "created": head[1], "updated": head[2], "turns": turns}

    def export_markdown(self, owner: str, conversation: str) -> str | None:
        found = self.get(owner, conversation)
        return conversation_markdown(found) if found else None


class _Transaction:
    """`with` a connection: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an error, so a
    failed write leaves what was stored untouched."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, tb) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


# --- plain-text forms of answers ----------------------------------------------------------

def _where(site: str | None, url: str | None) -> str:
    return " · ".join(x for x in (site, url) if x)


def answer_markdown(answer: Answer, sources_label: str = "Sources") -> str:
    """The answer as Copy gives it: Markdown text with its [n] markers, then the sources."""
    text = answer.answer.strip()
    if not answer.citations:
        return text
    lines = []
    for c in answer.citations:
        where = _where(c.site, c.url)
        lines.append(f"[{c.n}] {c.title or ''}" + (f" · {where}" if where else ""))
    return f"{text}\n\n{sources_label}:\n" + "\n".join(lines)


def _quote(text: str, width: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def conversation_markdown(conversation: dict) -> str:
    """A whole conversation as Markdown: each question as a heading, each answer with its
    [n] markers turned into footnotes that give the source title, site and quoted chunk."""
    out = [f"# {conversation.get('title') or 'Conversation'}", ""]
    for t, turn in enumerate(conversation.get("turns", []), start=1):
        answer = turn["answer"]
        out += [f"## {turn['question'].strip()}", ""]
        known = {c["n"] for c in answer.get("citations", [])}
        body = _MARKER.sub(lambda m: f"[^{t}-{m.group(1)}]" if int(m.group(1)) in known else m.group(0),
                           (answer.get("answer") or "").strip())
        out += [body + (" *(stopped)*" if turn.get("stopped") else ""), ""]
        for c in answer.get("citations", []):
            where = _where(c.get("site"), c.get("url"))
            out.append(f"[^{t}-{c['n']}]: {c.get('title') or ''}" + (f" ({where})" if where else "")
                       + f": “{_quote(c.get('text') or '')}”")
        if answer.get("citations"):
            out.append("")
    return "\n".join(out).rstrip() + "\n"
