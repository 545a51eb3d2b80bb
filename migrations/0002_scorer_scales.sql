-- Scales and direction, once a scorer's are known (declared with --scale at
-- ingest). A value outside a declared scale is stored as a bad row.

ALTER TABLE scorers ADD COLUMN scale_min REAL;
ALTER TABLE scorers ADD COLUMN scale_max REAL;
ALTER TABLE scorers ADD COLUMN higher_is_better INTEGER CHECK (higher_is_better IN (0, 1));
