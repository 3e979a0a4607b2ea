"""The Ray Data actor of `facelake score`: one model load per actor, batches of aligned faces in,
scores and decisions out (the aligned bytes stay in the worker)."""

from __future__ import annotations

import pyarrow as pa

from etl.faces.encode import decode_image


class ScoreStage:
    """Scores batches of (key columns..., aligned PNG) with the model predict uses (`Predictor`):
    the same preprocessing, the same decision rule, so a face gets the score predict gives it."""

    def __init__(self, model_dir: str, model_format: str) -> None:
        from etl.train.predict import Predictor

        self.predictor = Predictor(model_dir, model_format=model_format)

    def __call__(self, batch: pa.Table) -> pa.Table:
        aligned = batch.column("aligned").to_pylist()
        if any(png is None for png in aligned):
            raise ValueError("an ok frame has no aligned face; the frames table breaks its contract")
        scores = self.predictor([decode_image(png) for png in aligned])
        decisions = [str(self.predictor.decide(float(s))) for s in scores]
        out = batch.drop_columns(["aligned"])
        out = out.append_column("score", pa.array(scores, pa.float32()))
        return out.append_column("decision", pa.array(decisions, pa.string()))
