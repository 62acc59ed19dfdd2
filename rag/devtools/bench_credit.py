"""How long reading a credited source takes as the corpus grows: `credited_documents` (which
document "According to Engadget, …" names; rag/attribution.py) on a few sentences against N
made-up documents, each with a title and a site, plus one document the sentences credit.

    python -m rag.devtools.bench_credit [N ...]      # default: 100 1000 5000

Prints one JSON object: per N, the first call (which builds the name index) and the mean of
later calls, in milliseconds per sentence."""
from __future__ import annotations

import json
import random
import sys
import time

from ..attribution import credited_documents
from ..types import Document

_WORDS = ("alpha beta gamma delta river stone quokka kettle harbour maple cedar orbit lantern violet copper "
          "wombat meadow summit").split()
SENTENCES = ("According to Quokka Weekly, the kettle boils in 40 seconds.",
             "Quokka Weekly 说这个水壶很快。",
             "The Harbour Review says the river is low.",
             "The kettle boils in 40 seconds.")


def documents(n: int, seed: int = 1) -> dict[str, Document]:
    rng = random.Random(seed)
    docs = {}
    for i in range(n):
        title = " ".join(rng.choice(_WORDS).capitalize() for _ in range(4)) + f" notes {i}"
        docs[f"d{i}"] = Document(f"d{i}", title, "", site=f"site{i}.example.com")
    docs["weekly"] = Document("weekly", "Kettles of 2026 - Quokka Weekly", "", site="quokkaweekly.example.com")
    return docs


def run(n: int, repeats: int = 20) -> dict:
    docs = documents(n)
    started = time.perf_counter()
    first = credited_documents(SENTENCES[0], docs)
    first_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    for _ in range(repeats):
        for sentence in SENTENCES:
            credited_documents(sentence, docs)
    later_ms = (time.perf_counter() - started) * 1000 / (repeats * len(SENTENCES))
    return {"documents": len(docs), "credited": sorted(first), "first_call_ms": round(first_ms, 2),
            "per_sentence_ms": round(later_ms, 3)}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [100, 1000, 5000]
    print(json.dumps({"runs": [run(n) for n in sizes]}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
