"""Thin Gradio entry: `python app.py` is `rag serve` (127.0.0.1:7860 unless RAG_HOST/RAG_PORT say otherwise)."""
import sys

from rag.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
