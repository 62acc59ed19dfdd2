"""Documents tab feedback: uploads named by their own file names, failed inputs kept for a
retry, over-size files caught with their names."""
from rag.ui import upload_outcome, within_size_limit


def test_report_names_uploads_by_file_name_and_keeps_only_what_failed(tmp_path):
    upload = tmp_path / "gradio" / "3f9a0c" / "notes.md"
    bad = tmp_path / "gradio" / "77aa01" / "empty.txt"
    report = (f"added 1, updated 0, unchanged 0, removed 0, failed 2\n\n⚠️ {bad}: the file is empty; add text to it"
              f"\n\n⚠️ https://bad.example/x: could not be fetched (ConnectError)")
    text, files, urls = upload_outcome(report, [str(upload), str(bad)],
                                       "https://ok.example/a\nhttps://bad.example/x\n")
    assert str(tmp_path) not in text and "⚠️ empty.txt: the file is empty" in text
    assert files == [str(bad)]
    assert urls == "https://bad.example/x"
    text, files, urls = upload_outcome("added 1", [str(upload)], "https://ok.example/a")
    assert files is None and urls == ""


def test_a_failure_of_the_whole_run_keeps_every_input(tmp_path):
    upload = str(tmp_path / "a.md")
    text, files, urls = upload_outcome("⚠️ another ingest is running; try again when it finishes", [upload],
                                       "https://ok.example/a")
    assert files == [upload] and urls == "https://ok.example/a"


def test_over_size_uploads_are_named(tmp_path):
    small, big = tmp_path / "small.md", tmp_path / "big.html"
    small.write_text("x")
    big.write_bytes(b"x" * 3_000_000)
    kept, too_big = within_size_limit([str(small), str(big)], 2.0)
    assert kept == [str(small)] and [(n, round(mb, 1)) for n, mb in too_big] == [("big.html", 3.0)]
