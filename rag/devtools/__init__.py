"""Measurement: `rag eval` (`evaluate`, `eval_turns` for conversation sets, `eval_report` for
its tables) and `rag bench` (`bench`, `bench_grown` for a corpus beyond the context, `bench_pdf`
for PDF extraction). They drive the runtime package from outside; nothing in it imports them."""
