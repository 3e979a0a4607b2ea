-- Runs of the jobs that write the lake (ingest, register, embed, dedup, forget, maintain, train), newest first.
-- status, duration and ingest's counts (NULL for the other jobs: `SELECT job, counts_json FROM runs` shows every job's counts).
-- seconds is NULL while a run has no end (running, or its driver died). Read-only jobs (audit, sql, report) record no run.
-- Parameters:
--   $job = NULL: only runs of this job (e.g. 'ingest'); NULL lists every job's runs
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
