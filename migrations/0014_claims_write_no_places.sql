-- A claim rewrites no place (category_videos row). Under 0013 a claimed video stopped
-- waiting in every category listing it: each claim rewrote those rows and, as `waiting` is
-- in the predicate of an index, each rewrite added an entry to every index of the table.
-- That was a quarter of a claim's time at 5,000,000 videos.
--
-- Now a place stays in its queue (`waiting`) from the moment its video is pending until it
-- is finished (delivered, failed for good) or deferred: a claim, a lost lease or a retry
-- that is due at once leaves it where it is. The claim's scan of a category steps over
-- the few of its places whose videos are in flight (it reads each video's status anyway).
-- The queue counts (waiting_uploads, waiting_backfill) still count pending videos only, so
-- that a category whose videos are all in flight leaves the walk and joins at the head
-- when one comes back: a claim writes the queue rows of the categories listing the video,
-- as before.

-- Whether a video's places stay in their queues: pending or in flight, not deferred.
CREATE FUNCTION video_in_queue(status video_status, deferred boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT status IN ('pending', 'queued', 'downloading', 'uploading') AND NOT deferred
$$;

COMMENT ON COLUMN category_videos.waiting IS
    'in its category''s queue: the video is pending or in flight, not deferred (video_in_queue)';

-- Videos added to categories: their places join the queues (in_queue), and the queues
-- count the pending ones (video_waits). The inserting statement sets `waiting` from its
-- snapshot; each video is locked (in id order, as count_added_videos does) and read again,
-- so a status changed meanwhile is corrected here, and a change after this waits for the
-- lock and then sees the new place.
CREATE OR REPLACE FUNCTION queue_added_videos() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    queues bigint[];
    more_uploads bigint[];
    more_backfill bigint[];
BEGIN
    WITH locked AS MATERIALIZED (
        SELECT a.category_id, a.video_id, a.lane, a.waiting AS assumed,
               video_in_queue(v.status, v.deferred) AS in_queue, video_waits(v.status, v.deferred) AS pending
        FROM added a JOIN videos v ON v.id = a.video_id
        ORDER BY v.id
        FOR NO KEY UPDATE OF v
    ), corrected AS (
        UPDATE category_videos cv SET waiting = l.in_queue
        FROM locked l
        WHERE l.assumed <> l.in_queue AND cv.category_id = l.category_id AND cv.video_id = l.video_id
    ), moves AS (
        SELECT category_id, count(*) FILTER (WHERE pending AND lane = 0) AS uploads,
               count(*) FILTER (WHERE pending AND lane = 1) AS backfill
        FROM locked
        GROUP BY category_id
        HAVING count(*) FILTER (WHERE pending) > 0
    )
    SELECT array_agg(category_id), array_agg(uploads), array_agg(backfill)
    INTO queues, more_uploads, more_backfill
    FROM moves;
    IF queues IS NOT NULL THEN
        PERFORM follow_queues(queues, more_uploads, more_backfill, array_fill(0::bigint, ARRAY[cardinality(queues)]),
                              array_fill(0::bigint, ARRAY[cardinality(queues)]));
    END IF;
    RETURN NULL;
END
$$;

-- A video's status changed: its places leave their queues when it is finished or
-- deferred, and come back when it is pending again (video_in_queue); every category
-- listing it counts one pending video more or less (video_waits); and the category whose
-- claim took it (delivery_category_id, set by the claim) advances by one turn.
CREATE OR REPLACE FUNCTION queue_changed_videos() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    queues bigint[];
    more_uploads bigint[];
    more_backfill bigint[];
    turns_uploads bigint[];
    turns_backfill bigint[];
BEGIN
    WITH changed AS MATERIALIZED (
        SELECT a.id, video_in_queue(a.status, a.deferred) AS in_queue,
               video_waits(a.status, a.deferred)::int - video_waits(b.status, b.deferred)::int AS delta,
               CASE WHEN a.status = 'queued' AND b.status = 'pending' THEN a.delivery_category_id END AS taken_by
        FROM new_rows a JOIN old_rows b USING (id)
        WHERE video_in_queue(a.status, a.deferred) <> video_in_queue(b.status, b.deferred)
           OR video_waits(a.status, a.deferred) <> video_waits(b.status, b.deferred)
    ), places AS (
        UPDATE category_videos cv SET waiting = c.in_queue
        FROM changed c
        WHERE cv.video_id = c.id AND cv.waiting <> c.in_queue
    ), moves AS (
        SELECT cv.category_id,
               sum(c.delta) FILTER (WHERE cv.lane = 0)::bigint AS uploads,
               sum(c.delta) FILTER (WHERE cv.lane = 1)::bigint AS backfill,
               count(*) FILTER (WHERE cv.category_id = c.taken_by AND cv.lane = 0) AS taken_uploads,
               count(*) FILTER (WHERE cv.category_id = c.taken_by AND cv.lane = 1) AS taken_backfill
        FROM changed c JOIN category_videos cv ON cv.video_id = c.id
        WHERE c.delta <> 0
        GROUP BY cv.category_id
    )
    SELECT array_agg(category_id), array_agg(coalesce(uploads, 0)), array_agg(coalesce(backfill, 0)),
           array_agg(taken_uploads), array_agg(taken_backfill)
    INTO queues, more_uploads, more_backfill, turns_uploads, turns_backfill
    FROM moves;
    IF queues IS NOT NULL THEN
        PERFORM follow_queues(queues, more_uploads, more_backfill, turns_uploads, turns_backfill);
    END IF;
    RETURN NULL;
END
$$;

-- The queues follow in one statement: the rows are locked in category order (so that no
-- two transactions wait for each other's queues) by the subquery the update joins.
CREATE OR REPLACE FUNCTION follow_queues(category bigint[], uploads bigint[], backfill bigint[],
                                         taken_uploads bigint[], taken_backfill bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE category_queues q
    SET waiting_uploads = q.waiting_uploads + m.more_uploads,
        waiting_backfill = q.waiting_backfill + m.more_backfill,
        upload_pass = CASE WHEN q.waiting_uploads = 0 AND m.more_uploads > 0
                           THEN coalesce(queue_head(0::smallint), q.upload_pass)
                           ELSE q.upload_pass + m.turns_uploads::float8 / greatest(q.weight, 1) END,
        backfill_pass = CASE WHEN q.waiting_backfill = 0 AND m.more_backfill > 0
                             THEN coalesce(queue_head(1::smallint), q.backfill_pass)
                             ELSE q.backfill_pass + m.turns_backfill::float8 / greatest(q.weight, 1) END
    FROM (SELECT category_id FROM category_queues WHERE category_id = ANY (category)
          ORDER BY category_id FOR NO KEY UPDATE) l,
         unnest(category, uploads, backfill, taken_uploads, taken_backfill)
             AS m(id, more_uploads, more_backfill, turns_uploads, turns_backfill)
    WHERE q.category_id = l.category_id AND m.id = l.category_id;
END
$$;

-- The places of videos in flight go back into their queues (the counts do not change: they
-- count pending videos).
UPDATE category_videos cv SET waiting = true
FROM videos v
WHERE v.id = cv.video_id AND NOT cv.waiting AND v.status IN ('queued', 'downloading', 'uploading')
  AND video_in_queue(v.status, v.deferred);

-- Covered by category_videos_video_category (video_id, category_id): one index fewer to
-- write for every place.
DROP INDEX category_videos_video;
