-- Fair scheduling without per-video keys (stride scheduling). Before, each pending video
-- carried its claim key (base + place / subscribers), so a subscription change re-keyed
-- every pending video of its category: 2-3 s at 50,000 pending, held under lock.
--
-- Now each category has a queue row: its weight (its subscribers) and, per lane, its
-- virtual time (pass) and how many of its videos wait. Lane 0 holds new uploads (a later
-- sync's finds), newest first; lane 1 the backfill (a first listing), oldest first; every
-- new upload goes before every backfill. The claim takes, in a lane, the category with the
-- least pass that has due work, then that category's next video in its own order, and its
-- pass moves on by 1 / weight: a category with twice the subscribers takes turns twice as
-- often. A subscription change writes one queue row; a claim, one per category it took from.
--
-- A category that starts waiting again (its first page listed, a video back to pending)
-- joins at the lane's head, the least pass of the others waiting: it takes turns from where
-- the queue stands, neither catching up on what it missed nor waiting behind them. A change
-- of subscribers puts it at the head too (or leaves it there, if it was behind).
--
-- A video deferred to a later attempt (a failed attempt's backoff, a site's limit or breaker)
-- leaves the queues until its time comes (undefer_due_videos, before each claim): a claim
-- never steps over videos that are not due yet, however many a broken site has left.
--
-- Its own table, not columns of categories, for the reason of category_counts (0006): a
-- claim locks videos and then the queues; a sync locks its category, then videos.

CREATE TABLE category_queues (
    category_id      bigint PRIMARY KEY REFERENCES categories (id) ON DELETE CASCADE,
    weight           integer NOT NULL DEFAULT 0 CHECK (weight >= 0),  -- its subscribers
    upload_pass      double precision NOT NULL DEFAULT 0,
    backfill_pass    double precision NOT NULL DEFAULT 0,
    waiting_uploads  bigint NOT NULL DEFAULT 0 CHECK (waiting_uploads >= 0),
    waiting_backfill bigint NOT NULL DEFAULT 0 CHECK (waiting_backfill >= 0)
);
-- Every claim rewrites a few of these rows, and a claim's scan starts at the lowest pass,
-- where the old versions' index entries gather: vacuumed after every 1,000 dead rows
-- rather than after a fifth of the table.
ALTER TABLE category_queues SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
-- The claim's scan: the subscribed categories with waiting work, in turn order.
CREATE INDEX category_queues_uploads ON category_queues (upload_pass, category_id)
    WHERE weight > 0 AND waiting_uploads > 0;
CREATE INDEX category_queues_backfill ON category_queues (backfill_pass, category_id)
    WHERE weight > 0 AND waiting_backfill > 0;

ALTER TABLE videos ADD COLUMN deferred boolean NOT NULL DEFAULT false;
CREATE INDEX videos_deferred ON videos (next_attempt_at) WHERE deferred;

-- A category's own order: lane, then place (backfill oldest first, new uploads newest
-- first); waiting: the video is pending and not deferred. A video listed by two
-- categories waits in both and is taken by whichever reaches it first.
ALTER TABLE category_videos
    ADD COLUMN lane smallint GENERATED ALWAYS AS (CASE WHEN upload_rank IS NULL THEN 1 ELSE 0 END) STORED,
    ADD COLUMN place bigint GENERATED ALWAYS AS (CASE WHEN upload_rank IS NULL THEN position ELSE -position END) STORED,
    ADD COLUMN waiting boolean NOT NULL DEFAULT false;

-- Whether a video waits in its categories' queues: one rule for every statement and trigger.
CREATE FUNCTION video_waits(status video_status, deferred boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT status = 'pending' AND NOT deferred
$$;

-- The lane's head: the least pass of the subscribed categories waiting in it.
CREATE FUNCTION queue_head(lane smallint) RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN lane = 0
                THEN (SELECT min(upload_pass) FROM category_queues WHERE weight > 0 AND waiting_uploads > 0)
                ELSE (SELECT min(backfill_pass) FROM category_queues WHERE weight > 0 AND waiting_backfill > 0)
           END
$$;

-- Queues follow: category[i]'s waiting videos change by (uploads[i], backfill[i]), and it
-- was taken from (taken_uploads[i], taken_backfill[i]) times, each a turn of 1 / weight. A
-- lane that starts waiting joins at the head. The rows are locked in category order first,
-- so that no two transactions wait for each other's queues.
CREATE FUNCTION follow_queues(category bigint[], uploads bigint[], backfill bigint[],
                              taken_uploads bigint[], taken_backfill bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM category_queues WHERE category_id = ANY (category) ORDER BY category_id FOR NO KEY UPDATE;
    UPDATE category_queues q
    SET waiting_uploads = q.waiting_uploads + m.more_uploads,
        waiting_backfill = q.waiting_backfill + m.more_backfill,
        upload_pass = CASE WHEN q.waiting_uploads = 0 AND m.more_uploads > 0
                           THEN coalesce(queue_head(0::smallint), q.upload_pass)
                           ELSE q.upload_pass + m.turns_uploads::float8 / greatest(q.weight, 1) END,
        backfill_pass = CASE WHEN q.waiting_backfill = 0 AND m.more_backfill > 0
                             THEN coalesce(queue_head(1::smallint), q.backfill_pass)
                             ELSE q.backfill_pass + m.turns_backfill::float8 / greatest(q.weight, 1) END
    FROM unnest(category, uploads, backfill, taken_uploads, taken_backfill)
        AS m(id, more_uploads, more_backfill, turns_uploads, turns_backfill)
    WHERE q.category_id = m.id;
END
$$;

-- Videos added to categories: the pending ones wait there. The inserting statement sets
-- waiting from its snapshot; each video is locked (in id order, as count_added_videos does)
-- and read again, so a status changed meanwhile is corrected here, and a change after this
-- waits for the lock and then sees the new place. Queues are locked in category order.
CREATE FUNCTION queue_added_videos() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    queues bigint[];
    more_uploads bigint[];
    more_backfill bigint[];
BEGIN
    WITH locked AS MATERIALIZED (
        SELECT a.category_id, a.video_id, a.lane, a.waiting AS assumed,
               video_waits(v.status, v.deferred) AS pending
        FROM added a JOIN videos v ON v.id = a.video_id
        ORDER BY v.id
        FOR NO KEY UPDATE OF v
    ), corrected AS (
        UPDATE category_videos cv SET waiting = l.pending
        FROM locked l
        WHERE l.assumed <> l.pending AND cv.category_id = l.category_id AND cv.video_id = l.video_id
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

-- A video became pending (and not deferred), or stopped being: it waits, or no longer
-- does, in every category listing it; the category whose claim took it
-- (delivery_category_id, set by the claim) advances by one turn.
CREATE FUNCTION queue_changed_videos() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    queues bigint[];
    more_uploads bigint[];
    more_backfill bigint[];
    turns_uploads bigint[];
    turns_backfill bigint[];
BEGIN
    WITH changed AS (
        SELECT a.id, video_waits(a.status, a.deferred) AS waiting,
               CASE WHEN a.status = 'queued' THEN a.delivery_category_id END AS taken_by
        FROM new_rows a JOIN old_rows b USING (id)
        WHERE video_waits(a.status, a.deferred) <> video_waits(b.status, b.deferred)
    ), places AS (
        UPDATE category_videos cv SET waiting = c.waiting
        FROM changed c
        WHERE cv.video_id = c.id AND cv.waiting <> c.waiting
        RETURNING cv.category_id, cv.lane, c.waiting, cv.category_id = c.taken_by AS taken
    ), moves AS (
        SELECT category_id,
               sum(CASE WHEN lane = 0 THEN CASE WHEN waiting THEN 1 ELSE -1 END ELSE 0 END)::bigint AS uploads,
               sum(CASE WHEN lane = 1 THEN CASE WHEN waiting THEN 1 ELSE -1 END ELSE 0 END)::bigint AS backfill,
               count(*) FILTER (WHERE taken AND lane = 0) AS taken_uploads,
               count(*) FILTER (WHERE taken AND lane = 1) AS taken_backfill
        FROM places
        GROUP BY category_id
    )
    SELECT array_agg(category_id), array_agg(uploads), array_agg(backfill),
           array_agg(taken_uploads), array_agg(taken_backfill)
    INTO queues, more_uploads, more_backfill, turns_uploads, turns_backfill
    FROM moves;
    IF queues IS NOT NULL THEN
        PERFORM follow_queues(queues, more_uploads, more_backfill, turns_uploads, turns_backfill);
    END IF;
    RETURN NULL;
END
$$;

-- Every category has its queue; a change of subscribers is its new weight, and puts its
-- lanes at their heads (or leaves a lane behind the head where it is).
CREATE FUNCTION queue_new_category() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO category_queues (category_id, weight) VALUES (NEW.id, NEW.subscriber_count);
    RETURN NULL;
END
$$;

CREATE FUNCTION queue_reweighed_category() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE category_queues
    SET weight = NEW.subscriber_count,
        upload_pass = coalesce(queue_head(0::smallint), upload_pass),
        backfill_pass = coalesce(queue_head(1::smallint), backfill_pass)
    WHERE category_id = NEW.id;
    RETURN NULL;
END
$$;

-- Triggers first, as in 0006: this migration's locks keep writers out until it commits.
CREATE TRIGGER category_videos_queued AFTER INSERT ON category_videos
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION queue_added_videos();
CREATE TRIGGER videos_queued AFTER UPDATE ON videos
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_changed_videos();
CREATE TRIGGER categories_queued AFTER INSERT ON categories
    FOR EACH ROW EXECUTE FUNCTION queue_new_category();
CREATE TRIGGER categories_reweighed AFTER UPDATE OF subscriber_count ON categories
    FOR EACH ROW WHEN (OLD.subscriber_count IS DISTINCT FROM NEW.subscriber_count)
    EXECUTE FUNCTION queue_reweighed_category();

-- The queues of the categories there are, from the claim keys they replace.
UPDATE videos SET deferred = true WHERE status = 'pending' AND next_attempt_at > now();
UPDATE category_videos cv SET waiting = true
FROM videos v WHERE v.id = cv.video_id AND video_waits(v.status, v.deferred);
INSERT INTO category_queues (category_id, weight, backfill_pass, waiting_uploads, waiting_backfill)
SELECT c.id, c.subscriber_count,
       c.claim_base + coalesce(min(cv.position) FILTER (WHERE cv.waiting AND cv.lane = 1), 0)::float8
                      / greatest(c.subscriber_count, 1),
       count(*) FILTER (WHERE cv.waiting AND cv.lane = 0),
       count(*) FILTER (WHERE cv.waiting AND cv.lane = 1)
FROM categories c LEFT JOIN category_videos cv ON cv.category_id = c.id
GROUP BY c.id;

CREATE INDEX category_videos_waiting ON category_videos (category_id, lane, place) WHERE waiting;

COMMENT ON COLUMN videos.delivery_category_id IS 'the category whose claim took it: its delivery is recorded there';

-- The per-video keys of 0009 (videos.priority, claim_position, claim_class, claim_key and
-- the index videos_fair_order, categories.claim_base, video_claim_orders, fair_claim_key(),
-- backfill_head()) are no longer read or written by this release. They stay until no
-- replica of an earlier release runs (docs/deploy.md, "Upgrades": migrations add, a later
-- one drops): such a replica still claims the videos it keyed, and its subscription
-- changes still re-key them, while the triggers above keep the queues right for both.
