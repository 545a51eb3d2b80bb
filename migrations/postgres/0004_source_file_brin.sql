-- A score's file is found through a BRIN index, not a B-tree (issue #17's
-- ingest speed). An ingest writes a file's rows together, at the end of
-- the table, so the block ranges of `scores` hold few files each, and a
-- BRIN index (a file-id range per 128 pages) finds a file's rows as well
-- as a B-tree for what asks by file: `files retire`, `provenance`'s live
-- count per file, a `--replace` of the same bytes, an ingest reading back
-- the rows its move wrote. Inserting into it costs next to nothing, while
-- the B-tree was a third of the server's work per row of a bulk ingest
-- (one of three index insertions, a fifth of the write-ahead log).
-- `autosummarize`: a range is summarised as soon as the table has grown
-- past it (until then a scan reads the unsummarised tail whole).

DROP INDEX scores_source_file;
CREATE INDEX scores_source_file ON scores USING brin (source_file_id) WITH (autosummarize = on);
