"""Set-up, run once by `make setup`: the chat model assembled and verified (`models`,
`python -m rag.setup.models`) and the float32 reference embedder built (`embedder_build`).
Nothing here runs while a question is answered, except `models.verify_model`'s stamp check."""
