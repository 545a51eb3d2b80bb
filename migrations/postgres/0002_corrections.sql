-- Corrections on the PostgreSQL registry (`files retire`, `scorers set`,
-- `rename`, `merge`), and a scorer's settings as they were at each point,
-- so `export --as-of` uses the name, scale and direction then in force, as
-- SQLite's `scorer_revisions` (migrations/0007) does.
--
-- SQLite stamps a revision with the newest point, because every change
-- writes its point first. Here a change learns its point only as it
-- commits (`registry_clock`, 0001): a revision is written pending (no
-- seq), marked with its transaction, and stamped by the `changes` row the
-- same transaction writes just before it commits. A revision whose
-- transaction never writes a point (a dry run, a refused file) rolls back
-- with it.

CREATE TABLE scorer_revisions (
    scorer_id        BIGINT NOT NULL REFERENCES scorers (id),
    seq              BIGINT,                     -- NULL until its change commits
    xact             xid8 NOT NULL,              -- the transaction that wrote it
    name             TEXT COLLATE "C" NOT NULL,
    slug             TEXT COLLATE "C" NOT NULL,
    scale_min        DOUBLE PRECISION,
    scale_max        DOUBLE PRECISION,
    higher_is_better BOOLEAN,
    typical_min      DOUBLE PRECISION,
    typical_max      DOUBLE PRECISION,
    version          TEXT,
    merged_into      BIGINT
);
CREATE UNIQUE INDEX scorer_revisions_scorer_seq ON scorer_revisions (scorer_id, seq);
CREATE INDEX scorer_revisions_pending ON scorer_revisions (xact) WHERE seq IS NULL;

-- Settings from before this step are in force from point 0.
INSERT INTO scorer_revisions
    SELECT id, 0, pg_current_xact_id(), name, slug, scale_min, scale_max, higher_is_better,
           typical_min, typical_max, version, merged_into
    FROM scorers;

-- One pending revision per scorer and transaction: the last settings it
-- wrote (an earlier pending one of the same transaction was never in force).
CREATE FUNCTION scorer_revision_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM scorer_revisions
        WHERE scorer_id = NEW.id AND seq IS NULL AND xact = pg_current_xact_id();
    INSERT INTO scorer_revisions VALUES (
        NEW.id, NULL, pg_current_xact_id(), NEW.name, NEW.slug, NEW.scale_min, NEW.scale_max,
        NEW.higher_is_better, NEW.typical_min, NEW.typical_max, NEW.version, NEW.merged_into);
    RETURN NULL;
END $$;
CREATE TRIGGER scorer_revision_on_change AFTER INSERT OR UPDATE ON scorers
    FOR EACH ROW EXECUTE FUNCTION scorer_revision_pending();

CREATE FUNCTION scorer_revision_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE scorer_revisions SET seq = NEW.seq
        WHERE seq IS NULL AND xact = pg_current_xact_id();
    RETURN NULL;
END $$;
CREATE TRIGGER scorer_revision_stamp AFTER INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION scorer_revision_stamp();
