"""facelake's library: one package per stage of the pipeline, the lake at the bottom.

    lake/       Delta tables, storage, DuckDB catalog and queries, runs, maintenance
    sources/    SiW trees and photo trees: names, .face files, decoding, scanning
    faces/      detection, location, alignment, sharpness, image encoding
    ingest/     videos and photos into the `videos`, `frames` and `photos` tables
    embed/      face vectors into `embeddings`
    identity/   duplicate identities, label checks, split leakage
    erasure/    forgetting a person
    train/      the live/spoof model, its protocols and metrics, prediction
    report/     the HTML report
    synthetic/  sample data made from real shipped face photos

Each stage's `run` module is the orchestration layer (docs/architecture.md): it opens the
run's record, starts Ray, and commits. The modules under it transform data and never start a
job. `config` holds the jobs' typed configurations and `errors` the one error hierarchy.
"""
