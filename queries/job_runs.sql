-- Run history (newest first): status, duration and the counts each run recorded in counts_json.
-- seconds is NULL while a run has no end (running, or its driver died); counts missing from counts_json are NULL.
-- Parameters: $job (only runs of this job, e.g. 'ingest'; default NULL = every job).
SELECT
    run_id,
    job,
    status,
    started_at,
    ended_at,
    date_diff('microsecond', started_at, ended_at) / 1e6          AS seconds,
    TRY_CAST(counts_json->>'videos_processed' AS INTEGER)         AS videos_processed,
    TRY_CAST(counts_json->>'frames' AS INTEGER)                   AS frames,
    TRY_CAST(counts_json->>'frames_ok' AS INTEGER)                AS frames_ok,
    error
FROM runs
WHERE $job IS NULL OR job = $job
ORDER BY started_at DESC NULLS LAST, run_id;
