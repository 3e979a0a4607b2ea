"""Identity: find people registered twice, faces filed under the wrong name, and subjects shared by splits.

`search` joins face vectors with FAISS into identity pairs, merges and label checks;
`link_support` explains a link by its strongest face pairs; `thresholds` names each
embedder's match threshold; `store` writes the identity tables; `run` orchestrates `dedup`.

May import: `etl.lake`, `etl.config`, `etl.errors`, `schemas`.
"""
