"""Report: one HTML page about a lake (counts, detection, sharpness, identities, runs, a scored model).

`contents` gathers the numbers and pictures from the lake's queries, `model` the model section
(from the `scores` table) and the shortcut audit, `figures` draws the model's PNG plots
(matplotlib), `html` renders them; `run.run_report` is the `report` job's run (writes the file).

May import: `etl.lake`, `etl.faces`, `etl.errors`, `etl.train.metrics` (PAD metrics, plain numpy),
`etl.train.plots` (the ROC/DET drawing),
`schemas`.
"""
