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
-- with it. A writer that brings the revisions themselves (a copy of a
-- whole registry) sets `second_opinion.revisions_given` to 'on' for its
-- transaction: then no revision is made from its writes to `scorers`.

CREATE TABLE scorer_revisions (
    scorer_id        BIGINT NOT NULL REFERENCES scorers (id),
    seq              BIGINT,                     -- NULL until its change commits
    xact             xid8 DEFAULT pg_current_xact_id(), -- the transaction that wrote it
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
    IF current_setting('second_opinion.revisions_given', true) = 'on' THEN
        RETURN NULL;
    END IF;
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

-- The audit's signal families and its recorded runs (SQLite's
-- migrations/0005 and 0009), seeded with the same 13 families, patterns
-- and candidate metrics, verbatim, so `families` and `audit` answer the
-- same on either backend.

CREATE TABLE signal_families (
    id             BIGSERIAL PRIMARY KEY,
    key            TEXT COLLATE "C" NOT NULL UNIQUE,
    label          TEXT NOT NULL,
    question       TEXT NOT NULL DEFAULT '',
    recommendation TEXT NOT NULL DEFAULT '',
    position       BIGINT NOT NULL UNIQUE      -- classification order: first match wins
);

CREATE TABLE family_patterns (
    family_id BIGINT NOT NULL REFERENCES signal_families (id),
    pattern   TEXT NOT NULL,
    position  BIGINT NOT NULL,
    PRIMARY KEY (family_id, pattern)
);

CREATE TABLE family_candidates (
    family_id BIGINT NOT NULL REFERENCES signal_families (id),
    metric    TEXT NOT NULL,
    position  BIGINT NOT NULL,
    PRIMARY KEY (family_id, metric)
);

CREATE TABLE audit_runs (
    id           BIGSERIAL PRIMARY KEY,
    created_at   TEXT NOT NULL,
    options      TEXT NOT NULL,
    outputs      TEXT NOT NULL,
    tool_version TEXT NOT NULL
);

CREATE TABLE audit_inputs (
    id            BIGSERIAL PRIMARY KEY,
    run_id        BIGINT NOT NULL REFERENCES audit_runs (id),
    label         TEXT NOT NULL,
    path          TEXT NOT NULL,
    absolute_path TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    rows          BIGINT NOT NULL,
    summary       TEXT NOT NULL
);
CREATE INDEX audit_inputs_label ON audit_inputs (label, run_id);

INSERT INTO signal_families (id, key, label, question, recommendation, position) VALUES
(1, 'canonical_fr', 'FR detail and motion baseline',
 'Does the table carry the VMAF core (ADM, VIF, motion) that a VMAF-style retrain starts from?',
 'Keep these as the anchor of every retrain; judge each second opinion by what it adds on top of them, not as a replacement.',
 1),
(2, 'error_energy', 'Error energy and HVS-weighted PSNR',
 'Is there a plain pixel-error axis (PSNR, MSE) to check richer metrics against?',
 'Export libvmaf''s psnr/mse components (they come with a libvmaf second opinion): cheap, and a redundancy check for everything else.',
 2),
(3, 'structural_similarity', 'Local structural similarity',
 'Are local luminance, contrast and structure (SSIM, MS-SSIM) measured?',
 'Pair with texture metrics: plain SSIM saturates on modern encodes, exactly where second opinions are needed.',
 3),
(4, 'texture_deep_perceptual', 'Texture and deep perceptual similarity',
 'Does the table see texture loss and hallucinated detail (SSIMULACRA2, LPIPS, DISTS)?',
 'Add a learned FR metric here when VMAF-core gains flatten, and look at it next to the disagreement rows.',
 4),
(5, 'color_chroma', 'Color and chroma fidelity',
 'Are chroma shifts and colour-difference errors measured at all?',
 'Add CIEDE2000 or chroma PSNR: luma-only features, and most no-reference scorers, are blind to chroma damage.',
 5),
(6, 'banding_tone_mapping', 'Banding and tone-mapping artifacts',
 'Does the table see banding, quantisation steps, PQ/HLG tone-map damage or clipping?',
 'Add CAMBI before training on HDR or dark content; a missing or flat family here blocks any HDR claim.',
 6),
(7, 'temporal_flicker', 'Temporal instability, flicker, and scene structure',
 'Does the table see motion, flicker, scene cuts and how frames were pooled (p10, p90, std)?',
 'Export per-frame pooling statistics: a clip mean hides temporal failures that video NR scorers may catch.',
 7),
(8, 'saliency_roi', 'Saliency and ROI weighting',
 'Does the table know where viewers look?',
 'Add saliency or ROI weights before trusting clip means on content with small regions of interest.',
 8),
(9, 'hdr_display_panel', 'HDR display and panel context',
 'Does the table know bit depth, EOTF, peak luminance and the display the clip was judged on?',
 'Record display context before mixing SDR and HDR clips: subjective MOS and no-reference scores are not panel-aware.',
 9),
(10, 'source_geometry_content', 'Source geometry and content metadata',
 'Does the table know resolution, duration, frame rate, orientation and content class?',
 'Keep as conditioning metadata for the model, never as quality evidence.',
 10),
(11, 'codec_encoder', 'Codec, rate-control, and hardware context',
 'Does the table know which encoder, preset and rate produced each clip?',
 'Keep codec context apart from perceptual signals, so a retrain can explain encoder-specific disagreements.',
 11),
(12, 'no_reference_ugc', 'No-reference UGC and subjective MOS context',
 'Is there evidence that needs no reference: subjective MOS, or no-reference scorers such as DOVER and Q-Align?',
 'Ingest and export second-opinion scorers: they are the check on FR metrics where VMAF saturates or disagrees with viewers.',
 12),
(13, 'noise_grain_blur', 'Noise, grain, blur, and sharpening',
 'Does the table tell artistic grain from destructive noise, blur or oversharpening?',
 'Add explicit noise and blur features (or VMAF NEG) before changing denoise or sharpening defaults.',
 13);

INSERT INTO family_patterns (family_id, position, pattern) VALUES
(1, 1, '^adm2(_(mean|p10|p90|std))?$'),
(1, 2, '^adm_scale[0-3](_(mean|p10|p90|std))?$'),
(1, 3, '^vif_scale[0-3](_(mean|p10|p90|std))?$'),
(1, 4, '^motion[23]?(_(mean|p10|p90|std))?$'),
(1, 5, 'vmaf'),
(2, 1, 'psnr'), (2, 2, 'mse'), (2, 3, 'rmse'), (2, 4, 'error_energy'),
(3, 1, '(^|_)ssim($|_)'), (3, 2, 'ms_ssim'), (3, 3, 'msssim'), (3, 4, 'iw_ssim'),
(4, 1, 'ssimulacra2'), (4, 2, 'lpips'), (4, 3, 'dists'), (4, 4, 'deep'), (4, 5, 'texture'),
(4, 6, 'vgg'),
(5, 1, 'ciede'), (5, 2, 'deltae'), (5, 3, 'chroma'), (5, 4, '_cb$'), (5, 5, '_cr$'),
(5, 6, 'color'), (5, 7, 'primaries'),
(6, 1, 'cambi'), (6, 2, 'band'), (6, 3, 'pq'), (6, 4, 'hlg'), (6, 5, 'tone'), (6, 6, 'transfer'),
(6, 7, 'maxcll'), (6, 8, 'maxfall'), (6, 9, 'clip'),
(7, 1, 'motion'), (7, 2, 'speed_temporal'), (7, 3, 'flicker'), (7, 4, 'exposure'), (7, 5, 'shot'),
(7, 6, 'transnet'), (7, 7, 'scene'), (7, 8, '_p10$'), (7, 9, '_p90$'), (7, 10, '_std$'),
(8, 1, 'saliency'), (8, 2, 'mobilesal'), (8, 3, 'u2net'), (8, 4, 'roi'), (8, 5, 'attention'),
(8, 6, 'mask'),
(9, 1, 'hdr'), (9, 2, 'bitdepth'), (9, 3, 'pix_fmt'), (9, 4, 'eotf'), (9, 5, 'bt2020'),
(9, 6, 'bt2100'), (9, 7, 'luminance'), (9, 8, 'nit'), (9, 9, 'panel'), (9, 10, 'display'),
(9, 11, 'mastering'), (9, 12, 'peak'),
(10, 1, '(^|_)width$'), (10, 2, '(^|_)height$'), (10, 3, 'resolution'), (10, 4, 'duration'),
(10, 5, 'framerate'), (10, 6, 'frame_count'), (10, 7, 'orientation'), (10, 8, 'category'),
(10, 9, 'content'),
(11, 1, 'codec'), (11, 2, 'encoder'), (11, 3, 'preset'), (11, 4, 'tune'), (11, 5, 'crf'),
(11, 6, 'qp'), (11, 7, 'bitrate'), (11, 8, 'rc_mode'), (11, 9, 'qsv'), (11, 10, 'nvenc'),
(11, 11, 'amf'), (11, 12, 'svt'), (11, 13, 'x26[45]'),
(12, 1, 'mos'), (12, 2, 'dmos'), (12, 3, 'n_ratings'), (12, 4, 'std_dev'), (12, 5, 'ugc'),
(12, 6, 'content'), (12, 7, 'category'), (12, 8, 'orientation'), (12, 9, 'brisque'),
(12, 10, 'niqe'), (12, 11, 'piqe'), (12, 12, 'nima'), (12, 13, 'second_opinion'),
(12, 14, 'dover'), (12, 15, 'q[_-]?align'), (12, 16, 'fast[_-]?vqa'), (12, 17, 'musiq'),
(12, 18, 'clip[_-]?iqa'), (12, 19, 'maniqa'),
(13, 1, 'noise'), (13, 2, 'grain'), (13, 3, 'blur'), (13, 4, 'sharp'), (13, 5, 'edge'),
(13, 6, 'laplacian'), (13, 7, 'denoise');

INSERT INTO family_candidates (family_id, position, metric) VALUES
(1, 1, 'Netflix HDR VMAF'), (1, 2, 'VMAF NEG'),
(2, 1, 'WS-PSNR'), (2, 2, 'xPSNR'),
(3, 1, 'IW-SSIM'), (3, 2, 'FSIM'), (3, 3, 'GMSD'),
(4, 1, 'DISTS'), (4, 2, 'LPIPS'), (4, 3, 'PieAPP'), (4, 4, 'ST-LPIPS'),
(5, 1, 'CIEDE2000'), (5, 2, 'HDR-VDP color terms'), (5, 3, 'ICtCp delta'),
(6, 1, 'HDR-VDP-3'), (6, 2, 'PU-PSNR'), (6, 3, 'PU-SSIM'), (6, 4, 'VMAF HDR'),
(7, 1, 'ST-RRED'), (7, 2, 'SpEED-QA'), (7, 3, 'FovVideoVDP temporal terms'),
(8, 1, 'U2NetP'), (8, 2, 'MobileSal'), (8, 3, 'VMAF ROI sidecars'), (8, 4, 'SAM-derived ROI'),
(9, 1, 'panel calibration metadata'), (9, 2, 'HDR10+ metadata'), (9, 3, 'Dolby Vision metadata'),
(10, 1, 'SI/TI complexity'), (10, 2, 'content-class labels'), (10, 3, 'camera/device metadata'),
(11, 1, 'encoder delay/B-frame structure'), (11, 2, 'AQ/psy knobs'), (11, 3, 'VBV pressure'),
(12, 1, 'DOVER'), (12, 2, 'Q-Align'), (12, 3, 'FAST-VQA'), (12, 4, 'MUSIQ'), (12, 5, 'CLIP-IQA'),
(12, 6, 'MANIQA'), (12, 7, 'NIQE'),
(13, 1, 'VMAF NEG'), (13, 2, 'VIDEVAL noise features'), (13, 3, 'BRISQUE naturalness');
-- The seed gave its ids; new families take the next ones.
SELECT setval('signal_families_id_seq', (SELECT MAX(id) FROM signal_families));
