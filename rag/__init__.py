"""Offline multilingual question answering over a corpus of documents (the shipped one is described by corpus/profile.json).

The package reads top to bottom as the data flows: sources -> chunk -> embed -> store
-> retrieve -> prompt -> generate -> cite -> chat, with ui and __main__ as thin shells.
"""
__version__ = "0.1.0"
