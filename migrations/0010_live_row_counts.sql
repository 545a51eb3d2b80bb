-- `scorers` and `files` answer at any registry size (issue 18): they read
-- counts kept as rows change instead of counting millions of score rows.
--
-- One row per (file, scorer): of the score rows that came from the file
-- (its own, and the copies corrections made of them) and now belong to the
-- scorer, how many are live and ok, live and bad, and superseded. Kept in
-- the transaction of every change:
--
-- * an ingest adds its file's new live rows when the file is read (the
--   pipeline counts them; a trigger per inserted row would cost the
--   ingest what it costs SQLite to run it);
-- * a correction's copy of a row adds it (`COUNT_COPIED_ROW`);
-- * whatever supersedes a live row — `--replace`, a retire, a correction —
--   moves it from live to superseded, through the trigger below, so no
--   path that supersedes can forget it. Rows never become live again
--   (history is never rewritten): a restore or a correction copies.
--
-- Counts are per live state now; `--as-of` questions still read the rows.

CREATE TABLE live_row_counts (
    source_file_id  INTEGER NOT NULL REFERENCES source_files (id),
    scorer_id       INTEGER NOT NULL REFERENCES scorers (id),
    ok_rows         INTEGER NOT NULL DEFAULT 0,
    bad_rows        INTEGER NOT NULL DEFAULT 0,
    superseded_rows INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source_file_id, scorer_id)
) WITHOUT ROWID;

INSERT INTO live_row_counts (source_file_id, scorer_id, ok_rows, bad_rows, superseded_rows)
    SELECT source_file_id, scorer_id,
           SUM(superseded_at IS NULL AND status = 'ok'),
           SUM(superseded_at IS NULL AND status = 'bad'),
           SUM(superseded_at IS NOT NULL)
    FROM scores GROUP BY source_file_id, scorer_id;

CREATE TRIGGER live_row_counts_on_supersede AFTER UPDATE OF superseded_at ON scores
    WHEN OLD.superseded_at IS NULL AND NEW.superseded_at IS NOT NULL
BEGIN
    INSERT INTO live_row_counts (source_file_id, scorer_id, ok_rows, bad_rows, superseded_rows)
        VALUES (OLD.source_file_id, OLD.scorer_id, -(OLD.status = 'ok'), -(OLD.status = 'bad'), 1)
        ON CONFLICT (source_file_id, scorer_id) DO UPDATE SET
            ok_rows = ok_rows + excluded.ok_rows,
            bad_rows = bad_rows + excluded.bad_rows,
            superseded_rows = superseded_rows + 1;
END;
