-- Download profiles (scheduler/profiles): what each category archives. The profile is
-- the JSON of scheduler.profiles.to_json ("{}": everything, as the service is set up).
ALTER TABLE categories ADD COLUMN profile jsonb NOT NULL DEFAULT '{}';

-- Why a skipped video is skipped ("uploaded 2023-05-01, before 2024-01-01"): set exactly
-- when it is.
ALTER TABLE videos ADD COLUMN skip_reason text;
ALTER TABLE videos ADD CONSTRAINT videos_skip_reason_check CHECK ((status = 'skipped') = (skip_reason IS NOT NULL));

-- Skipped videos have their own count: neither archived nor undownloadable.
ALTER TABLE category_counts ADD COLUMN skipped_videos bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION count_added_videos() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO category_counts AS n (category_id, total_videos, archived_videos, undownloadable_videos,
                                      skipped_videos)
    SELECT category_id, count(*), count(*) FILTER (WHERE archived), count(*) FILTER (WHERE undownloadable),
           count(*) FILTER (WHERE skipped)
    FROM (
        SELECT a.category_id, v.status = 'done' AS archived,
               v.status = 'failed' OR v.approval = 'rejected' AS undownloadable,
               v.status = 'skipped' AS skipped
        FROM added a JOIN videos v ON v.id = a.video_id
        ORDER BY v.id
        FOR NO KEY UPDATE OF v
    ) listed
    GROUP BY category_id
    ORDER BY category_id
    ON CONFLICT (category_id) DO UPDATE
        SET total_videos = n.total_videos + EXCLUDED.total_videos,
            archived_videos = n.archived_videos + EXCLUDED.archived_videos,
            undownloadable_videos = n.undownloadable_videos + EXCLUDED.undownloadable_videos,
            skipped_videos = n.skipped_videos + EXCLUDED.skipped_videos;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION count_changed_videos() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO category_counts AS n (category_id, archived_videos, undownloadable_videos, skipped_videos)
    SELECT cv.category_id, sum(c.archived), sum(c.undownloadable), sum(c.skipped)
    FROM (
        SELECT id,
               (a.status = 'done')::int - (b.status = 'done')::int AS archived,
               (a.status = 'failed' OR a.approval = 'rejected')::int
                   - (b.status = 'failed' OR b.approval = 'rejected')::int AS undownloadable,
               (a.status = 'skipped')::int - (b.status = 'skipped')::int AS skipped
        FROM new_rows a JOIN old_rows b USING (id)
    ) c
    JOIN category_videos cv ON cv.video_id = c.id
    WHERE c.archived <> 0 OR c.undownloadable <> 0 OR c.skipped <> 0
    GROUP BY cv.category_id
    ORDER BY cv.category_id
    ON CONFLICT (category_id) DO UPDATE
        SET archived_videos = n.archived_videos + EXCLUDED.archived_videos,
            undownloadable_videos = n.undownloadable_videos + EXCLUDED.undownloadable_videos,
            skipped_videos = n.skipped_videos + EXCLUDED.skipped_videos;
    RETURN NULL;
END
$$;
