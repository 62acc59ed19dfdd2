"""Every error the package raises on purpose, each with a message that says what to do.

RagError
 +-- SetupError       models missing or damaged, set-up not run
 +-- IngestError      a source could not be read, fetched or parsed
 +-- IndexStoreError  the index is missing, stale or damaged
 |    +-- StaleIndexError  written in another format or with other embedder/chunker settings (ingest rebuilds it)
 +-- ModelError       the language model failed to load or answer
 +-- QuestionError    the question itself is unusable (empty, too long)
"""


class RagError(Exception):
    """Base class: the message is one line a person can act on."""


class SetupError(RagError):
    pass


class IngestError(RagError):
    pass


class IndexStoreError(RagError):
    pass


class StaleIndexError(IndexStoreError):
    pass


class ModelError(RagError):
    pass


class QuestionError(RagError):
    pass
