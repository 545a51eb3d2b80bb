-- An export is recorded before its output is renamed into place, and
-- confirmed once it is: a crash in between leaves a 'pending' record,
-- which the next export settles by looking at the output. 'published':
-- the output was put in place (exports recorded before this step were
-- recorded after publishing, so they are published). 'abandoned': the run
-- stopped before its output was in place; the record stays (nothing is
-- deleted), and says so.
ALTER TABLE exports ADD COLUMN state TEXT NOT NULL DEFAULT 'published'
    CHECK (state IN ('pending', 'published', 'abandoned'));
-- The process that recorded a pending export, as `pid@host`: a later run
-- settles the record only when that process is gone.
ALTER TABLE exports ADD COLUMN recorded_by TEXT;
-- When a pending record was settled, by whom.
ALTER TABLE exports ADD COLUMN settled_at TEXT;

CREATE INDEX exports_pending ON exports (id) WHERE state = 'pending';
