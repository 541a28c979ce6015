-- ListCategories reads each category's counts from one row instead of counting its videos
-- on every call (one user with 1,000 categories over 170,000 videos: ~200 ms a call;
-- benchmarks/api_load.py). Triggers keep the counts in the same transaction as every
-- change to what they count: a category's videos (memberships are only ever added: no
-- statement deletes a category or a video) and a video's status or approval.
--
-- A table of its own, not columns of categories: a subscription change or a sync locks
-- its category row and then videos, while a delivery locks its video and then the counts;
-- on one row the two would wait for each other.
CREATE TABLE category_counts (
    category_id           bigint PRIMARY KEY REFERENCES categories (id) ON DELETE CASCADE,
    total_videos          bigint NOT NULL DEFAULT 0,
    archived_videos       bigint NOT NULL DEFAULT 0,  -- status 'done'
    undownloadable_videos bigint NOT NULL DEFAULT 0   -- status 'failed' or approval 'rejected'
);

-- Videos added to categories. Each added video is locked before it is read, so a change of
-- its status running at the same time is either committed and read here, or waits for
-- this transaction and then sees (and counts) the new membership. Videos are locked in id
-- order, and both triggers lock counts in category order, after the videos.
CREATE FUNCTION count_added_videos() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO category_counts AS n (category_id, total_videos, archived_videos, undownloadable_videos)
    SELECT category_id, count(*), count(*) FILTER (WHERE archived), count(*) FILTER (WHERE undownloadable)
    FROM (
        SELECT a.category_id, v.status = 'done' AS archived,
               v.status = 'failed' OR v.approval = 'rejected' AS undownloadable
        FROM added a JOIN videos v ON v.id = a.video_id
        ORDER BY v.id
        FOR NO KEY UPDATE OF v
    ) listed
    GROUP BY category_id
    ORDER BY category_id
    ON CONFLICT (category_id) DO UPDATE
        SET total_videos = n.total_videos + EXCLUDED.total_videos,
            archived_videos = n.archived_videos + EXCLUDED.archived_videos,
            undownloadable_videos = n.undownloadable_videos + EXCLUDED.undownloadable_videos;
    RETURN NULL;
END
$$;

-- A video's status or approval changed: every category listing it follows. (A trigger
-- with transition tables cannot name columns: it runs after every UPDATE of videos, and
-- finds nothing to do unless a counted state changed.)
CREATE FUNCTION count_changed_videos() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO category_counts AS n (category_id, archived_videos, undownloadable_videos)
    SELECT cv.category_id, sum(c.archived), sum(c.undownloadable)
    FROM (
        SELECT id,
               (a.status = 'done')::int - (b.status = 'done')::int AS archived,
               (a.status = 'failed' OR a.approval = 'rejected')::int
                   - (b.status = 'failed' OR b.approval = 'rejected')::int AS undownloadable
        FROM new_rows a JOIN old_rows b USING (id)
    ) c
    JOIN category_videos cv ON cv.video_id = c.id
    WHERE c.archived <> 0 OR c.undownloadable <> 0
    GROUP BY cv.category_id
    ORDER BY cv.category_id
    ON CONFLICT (category_id) DO UPDATE
        SET archived_videos = n.archived_videos + EXCLUDED.archived_videos,
            undownloadable_videos = n.undownloadable_videos + EXCLUDED.undownloadable_videos;
    RETURN NULL;
END
$$;

-- The triggers first: creating them locks both tables against writers until this
-- migration commits, so the counts below miss no change made while it runs.
CREATE TRIGGER category_videos_counted AFTER INSERT ON category_videos
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION count_added_videos();

CREATE TRIGGER videos_counted AFTER UPDATE ON videos
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_changed_videos();

INSERT INTO category_counts (category_id, total_videos, archived_videos, undownloadable_videos)
SELECT cv.category_id, count(*), count(*) FILTER (WHERE v.status = 'done'),
       count(*) FILTER (WHERE v.status = 'failed' OR v.approval = 'rejected')
FROM category_videos cv JOIN videos v ON v.id = cv.video_id
GROUP BY cv.category_id;
