"""Train: the live/spoof classifier on the lake's frames, under SiW's protocols, with ISO/IEC 30107-3 metrics.

`protocols` splits frames by SiW protocol, `data` reads the training frames, `input` builds
batches, `model` defines the network, `loop` is the Ray Train worker loop, `evaluate` scores
the held-out parts, `metrics` computes APCER/BPCER/ACER/EER, `export` writes the model folder,
`plots` and `forecast` draw and extrapolate the curves, `predict` scores new files with an
exported model, `run` orchestrates the job.

May import: `etl.lake`, `etl.faces`, `etl.sources`, `etl.ingest` (to score files as ingest
would), `etl.config`, `etl.errors`, `schemas`.
"""
