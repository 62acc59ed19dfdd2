"""A corpus prompt that grew by a document is read from where the old one ends (the old
version's saved cache carried in as a seed, or the prefix in memory), and answers exactly as
the same prompt read from the start."""
import os

import pytest

from conftest import requires_real
from rag.generate import GenStats

pytestmark = [pytest.mark.integration, requires_real]

OLD = ("Answer from the passages only, citing [n].\nPassages:\n"
       "[1] The Greenfield orchard has 14 pear trees and 6 apple trees.\n"
       "[2] The orchard's well is 23 metres deep.")
NEW = OLD + "\n[3] The barn next to the orchard holds 9 goats and 2 horses."
ASK = [{"role": "system", "content": NEW}, {"role": "user", "content": "How many goats does the barn hold?"}]


def _answer(llm) -> str:
    return "".join(llm.stream_messages(ASK, 24, GenStats()))


def test_a_grown_prompt_reads_only_its_new_end_and_answers_as_if_read_whole(assistant, tmp_path):
    llm = assistant.llm
    try:
        v1, v2, v3 = (tmp_path / v for v in ("v1", "v2", "v3"))
        llm.forget_prefix()
        assert llm.warm_prefix(OLD, v1) == "computed"
        seed = next(v1.glob("prefix-*.state"))
        v2.mkdir()
        os.link(seed, v2 / seed.name)                          # what store.write_index carries over
        llm.forget_prefix()                                    # not from memory: from the seed file
        how = llm.warm_prefix(NEW, v2)
        assert how.startswith("computed (") and "the rest kept" in how, how
        read = int(how.split("(")[1].split(" of ")[0])
        assert 0 < read < 40, how                              # only passage [3] and the turn's end
        assert [p.name for p in v2.glob("prefix-*.state")] != [seed.name]   # the seed made way for the new state
        grown = _answer(llm)
        llm.forget_prefix()
        assert llm.warm_prefix(NEW, v3) == "computed"          # nothing to start from: read whole
        assert _answer(llm) == grown and "9" in grown
    finally:
        llm.forget_prefix()
        assistant.warm()                                       # the shipped corpus back for later tests
