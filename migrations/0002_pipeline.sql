-- What the pipeline needs beyond the first schema.

-- Every Nth sync of a category is a full listing; the others read its first entries.
ALTER TABLE categories ADD COLUMN sync_count integer NOT NULL DEFAULT 0 CHECK (sync_count >= 0);

-- The listed entry's own metadata (title, description, uploader, thumbnail), used where
-- the downloaded video's info only repeats its id or file name.
ALTER TABLE videos ADD COLUMN listed jsonb NOT NULL DEFAULT '{}';

-- The claim orders a video by its categories' subscribers and its position in them.
CREATE INDEX category_videos_video_category ON category_videos (video_id, category_id);
