"""What the browser chat needs beyond one answer: per-tab stream control (Stop, New chat
and the trash cancel the answer in progress), the browser's own id kept in localStorage
(which saved conversations are its own), and the script that makes Copy give Markdown text.
Only control flags live here, keyed by Gradio's per-tab session; histories stay in gr.State
and the SQLite store (conversations.py)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class StreamControl:
    """One browser tab's answer in progress. `begin` refuses a second question while one
    streams (the text stays in the box); `stop` ends the stream after the token in progress
    and keeps what was shown; `discard` does that and drops it (New chat, the trash)."""
    cancel: threading.Event = field(default_factory=threading.Event)
    busy: bool = False
    discarded: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self) -> bool:
        with self.lock:
            if self.busy:
                return False
            self.busy, self.discarded = True, False
            self.cancel.clear()
            return True

    def end(self) -> None:
        with self.lock:
            self.busy = False

    def stop(self) -> bool:
        with self.lock:
            if self.busy:
                self.cancel.set()
            return self.busy

    def discard(self) -> bool:
        with self.lock:
            if self.busy:
                self.discarded = True
                self.cancel.set()
            return self.busy


class StreamControls:
    """The StreamControl of each tab (Gradio's session hash); forgotten when idle and many."""

    def __init__(self, keep: int = 512):
        self._controls: dict[str, StreamControl] = {}
        self._lock = threading.Lock()
        self.keep = keep

    def get(self, session: str | None) -> StreamControl:
        key = session or ""
        with self._lock:
            control = self._controls.get(key)
            if control is None:
                if len(self._controls) >= self.keep:
                    for old in [k for k, c in self._controls.items() if not c.busy][: self.keep // 2]:
                        del self._controls[old]
                control = self._controls[key] = StreamControl()
            return control


# Reads (or makes) this browser's id and its open conversation from localStorage.
LOAD_JS = """
(browser, conversation, ui) => {
  let id = null, open = '';
  try {
    id = localStorage.getItem('rag-browser-id');
    if (!id || !/^[A-Za-z0-9-]{8,64}$/.test(id)) {
      id = (crypto.randomUUID ? crypto.randomUUID() : Math.random().toString(36).slice(2) + Date.now().toString(36));
      localStorage.setItem('rag-browser-id', id);
    }
    open = localStorage.getItem('rag-conversation') || '';
  } catch (e) { id = ''; }
  return [id, open, ui];
}
"""

REMEMBER_JS = """
(conversation) => { try { localStorage.setItem('rag-conversation', conversation || ''); } catch (e) {} }
"""

# Copy on an answer gives its Markdown text (kept in a hidden element of the message), not
# the HTML Gradio would copy: written after Gradio's own copy, which keeps its tick icon.
COPY_JS = """
<script>
document.addEventListener('click', function (e) {
  const button = e.target.closest && e.target.closest('#chat button');
  if (!button) return;
  const label = ((button.getAttribute('aria-label') || '') + ' ' + (button.getAttribute('title') || '')).toLowerCase();
  if (!label.includes('copy') && !label.includes('复制') && !label.includes('複製')) return;
  // The buttons sit in their own bar after the message's row: find that row.
  let row = button.closest('.message-row');
  if (!row) {
    const bar = button.closest('.message-buttons');
    row = bar && bar.previousElementSibling;
    while (row && !row.classList.contains('message-row')) row = row.previousElementSibling;
  }
  const payload = row && row.querySelector('.copy-md');
  if (!payload) return;
  const text = payload.dataset.md;
  setTimeout(function () { navigator.clipboard && navigator.clipboard.writeText(text); }, 60);
});
</script>
"""
