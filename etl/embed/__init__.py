"""Embed: face vectors for photos and frames into the `embeddings` table.

`backends` holds the face embedders (dlib, insightface ONNX, a Keras file), `stage` runs one
in a Ray actor over batches of faces, `plan` finds the faces not yet embedded, `run`
orchestrates the job.

May import: `etl.lake`, `etl.faces`, `etl.config`, `etl.errors`, `schemas`; `run` alone also
`etl.ray_runtime` (it starts Ray).
"""
