-- With approval required, a video whose listing gave no tags has its metadata fetched once
-- (no download) so that its content category is known before an administrator decides
-- (scheduler/pipeline/tagger.py). metadata_fetched marks it taken: at most once.
ALTER TABLE videos ADD COLUMN metadata_fetched boolean NOT NULL DEFAULT false;

-- The tagger's claim walks only the videos still waiting for it.
CREATE INDEX videos_awaiting_metadata ON videos (id)
    WHERE approval = 'unreviewed' AND status = 'pending' AND NOT metadata_fetched AND cardinality(tags) = 0;
