-- What `registry copy` needs beyond 0002, which already makes every table
-- a whole registry holds (scorers' settings history, signal families,
-- audit runs): a family's patterns and candidate metrics compare as bytes,
-- as SQLite's TEXT does and as every other name of this schema does, so a
-- copy reads them in the same order from either backend.

ALTER TABLE family_patterns ALTER COLUMN pattern TYPE TEXT COLLATE "C";
ALTER TABLE family_candidates ALTER COLUMN metric TYPE TEXT COLLATE "C";
