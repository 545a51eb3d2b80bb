-- An export's cost follows its table, not the registry (issue 18). An
-- export records, per scorer, a digest of every live score it could read
-- (`registry_state`, compared by `exports replay`): an order-independent
-- sum of one sha256 per score, per source file (src/digest.rs). Summed per
-- (file, scorer) in advance, it is read here instead of from millions of
-- score rows, so an export that probes the live index with its table's
-- keys still records exactly the digest a full read would.
--
-- `digest_sum`: the 256-bit sum (32 bytes, four little-endian u64 words)
-- of the hashes of the (file, scorer)'s live rows; NULL while not known.
-- Ingest writes it for the rows a file adds. Anything that changes which
-- rows are live makes it unknown — the trigger below for whatever
-- supersedes a row, a correction's copy where it counts the copy — and
-- whoever then needs it sums that file's live rows again (the write that
-- changed them, before it commits, or a read meanwhile). Rows counted
-- before this step start unknown.

ALTER TABLE live_row_counts ADD COLUMN digest_sum BLOB;

DROP TRIGGER live_row_counts_on_supersede;
CREATE TRIGGER live_row_counts_on_supersede AFTER UPDATE OF superseded_at ON scores
    WHEN OLD.superseded_at IS NULL AND NEW.superseded_at IS NOT NULL
BEGIN
    INSERT INTO live_row_counts (source_file_id, scorer_id, ok_rows, bad_rows, superseded_rows)
        VALUES (OLD.source_file_id, OLD.scorer_id, -(OLD.status = 'ok'), -(OLD.status = 'bad'), 1)
        ON CONFLICT (source_file_id, scorer_id) DO UPDATE SET
            ok_rows = ok_rows + excluded.ok_rows,
            bad_rows = bad_rows + excluded.bad_rows,
            superseded_rows = superseded_rows + 1,
            digest_sum = NULL;
END;

-- A live row edited or deleted by hand (SQL behind the tool's back) no
-- longer matches its sum: the sum becomes unknown, so the next export
-- reads the rows and its digest shows the edit (`exports replay` says the
-- scores differ). The tool itself never does either.
CREATE TRIGGER live_digests_on_edit AFTER UPDATE OF scorer_id, key, score, status, source_file_id
    ON scores WHEN OLD.superseded_at IS NULL
BEGIN
    UPDATE live_row_counts SET digest_sum = NULL
        WHERE (source_file_id = OLD.source_file_id AND scorer_id = OLD.scorer_id)
           OR (source_file_id = NEW.source_file_id AND scorer_id = NEW.scorer_id);
END;
CREATE TRIGGER live_digests_on_delete AFTER DELETE ON scores WHEN OLD.superseded_at IS NULL
BEGIN
    UPDATE live_row_counts SET digest_sum = NULL
        WHERE source_file_id = OLD.source_file_id AND scorer_id = OLD.scorer_id;
END;
