"""How `rag eval` shows its figures: the machine they were measured on, the table printed to
the terminal and the section `--write` appends to docs/EVAL.md. `rag bench` names the machine
the same way."""
from __future__ import annotations

import os
import platform
from pathlib import Path

LANGS = ("zh-Hans", "zh-Hant", "en")


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} x{os.cpu_count()}, {platform.system()} {platform.machine()}"


def print_table(r: dict) -> None:
    print(f"question set: {r['set']} ({r['n']} in scope)")
    print(f"{'variant':<18}{'ev@1':>7}{'ev@5':>7}{'MRR':>7}{'p50 ms':>9}   ev@5 zh-Hans/zh-Hant/en")
    for name, v in r["variants"].items():
        langs = "/".join(f"{v['by_language'].get(l, 0):.2f}" for l in LANGS)
        print(f"{name:<18}{v['evidence_at_1']:>7.2f}{v['evidence_at_5']:>7.2f}{v['mrr']:>7.2f}"
              f"{v['retrieve_p50_ms']:>9.1f}   {langs}")
    print(f"refusal (retrieval signal): recall {r['refusal_recall']:.2f}, false refusals {r['false_refusal_rate']:.2f}")
    if "fact_accuracy" in r:
        print(f"answers ({r['answered_n']}): facts {r['fact_accuracy']}, citation validity {r['citation_validity']}, "
              f"support {r['citation_support']}, language {r['language_match']}, refusal recall "
              f"{r['refusal_recall_answers']}, false refusals {r['false_refusal_rate_answers']}")
    if "baseline" in r:
        b = r["baseline"]
        print(f"baseline, the article pasted into the chat ({b['answered_n']}): facts {b['fact_accuracy']} "
              f"({'/'.join(str(b['by_language'].get(l)) for l in LANGS)}), language {b['language_match']}, "
              f"refusal recall {b['refusal_recall_answers']}, false refusals {b['false_refusal_rate_answers']}")


def append_markdown(path: Path, r: dict) -> None:
    lines = [f"\n### {r['date']}: {r['machine']}, model {r['model']}, layout {r['layout']}\n",
             "| variant | ev@1 | ev@5 | MRR | p50 ms | p50 ms (en) | ev@5 zh-Hans | ev@5 zh-Hant | ev@5 en |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, v in r["variants"].items():
        b = v["by_language"]
        lines.append(f"| {name} | {v['evidence_at_1']:.2f} | {v['evidence_at_5']:.2f} | {v['mrr']:.2f} | "
                     f"{v['retrieve_p50_ms']:.1f} | {v.get('p50_ms_en') or 0:.1f} | {b.get('zh-Hans', 0):.2f} | "
                     f"{b.get('zh-Hant', 0):.2f} | {b.get('en', 0):.2f} |")
    lines.append(f"\nRefusal from the retrieval signal: recall {r['refusal_recall']:.2f}, "
                 f"false refusals {r['false_refusal_rate']:.2f}.")
    if "fact_accuracy" in r:
        lines.append("\n| answers | n | facts | citation validity | citation support | language | refusal recall | false refusals |")
        lines.append("|---|---|---|---|---|---|---|---|")
        lines.append(f"| all | {r['answered_n']} | {r['fact_accuracy']} | {r['citation_validity']} | {r['citation_support']} | "
                     f"{r['language_match']} | {r['refusal_recall_answers']} | {r['false_refusal_rate_answers']} |")
        for lang in LANGS:
            b = r["by_language"].get(lang, {})
            if "fact_accuracy" in b:
                lines.append(f"| {lang} | {b['n']} | {b['fact_accuracy']} | | {b['citation_support']} | {b['language_match']} | | |")
    if "baseline" in r:
        b = r["baseline"]
        lines.append(f"| baseline: the article pasted into the chat | {b['answered_n']} | {b['fact_accuracy']} | | | "
                     f"{b['language_match']} | {b['refusal_recall_answers']} | {b['false_refusal_rate_answers']} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
