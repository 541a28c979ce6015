-- Every statement the API runs, by name (`-- name: x`); scheduler/db/store.py runs them.

-- name: upsert_category
-- One row per normalised URL. disable_download_cache is sticky: once a subscriber
-- asks to bypass the download cache, the category keeps doing so. The profile $5 is a
-- new category's; an existing one keeps its own (returned).
INSERT INTO categories (url, website, kind, disable_download_cache, profile)
VALUES ($1, $2, $3::category_kind, $4, $5::jsonb)
ON CONFLICT (url) DO UPDATE
    SET disable_download_cache = categories.disable_download_cache OR EXCLUDED.disable_download_cache
RETURNING id, (xmax = 0) AS created, profile::text;

-- name: subscribe
-- Adds the subscription if it is new and counts it on the category, in one statement.
WITH added AS (
    INSERT INTO subscriptions (user_id, category_id) VALUES ($1, $2)
    ON CONFLICT DO NOTHING
    RETURNING category_id
)
UPDATE categories SET subscriber_count = subscriber_count + 1
WHERE id = (SELECT category_id FROM added)
RETURNING subscriber_count;

-- name: unsubscribe
WITH removed AS (
    DELETE FROM subscriptions WHERE user_id = $1 AND category_id = $2
    RETURNING category_id
)
UPDATE categories SET subscriber_count = subscriber_count - 1
WHERE id = (SELECT category_id FROM removed)
RETURNING subscriber_count;

-- name: add_event
INSERT INTO archival_events (category_id, video_id, message) VALUES ($1, $2, $3);

-- name: add_video_event
-- One event on every category that lists the video.
INSERT INTO archival_events (category_id, video_id, message)
SELECT category_id, video_id, $2 FROM category_videos WHERE video_id = $1;

-- name: list_categories
-- A user's categories with their counts, kept by triggers (migrations/0006): one row read
-- per category, however many videos it has. A category without videos has no counts yet.
SELECT c.id, c.url, c.website, c.last_synced, c.next_sync_at, c.backoff_factor,
       c.subscriber_count AS subscribers, c.disable_download_cache, c.profile::text,
       coalesce(n.total_videos, 0) AS total_videos,
       coalesce(n.archived_videos, 0) AS archived_videos,
       coalesce(n.undownloadable_videos, 0) AS undownloadable_videos,
       coalesce(n.skipped_videos, 0) AS skipped_videos
FROM subscriptions s
JOIN categories c ON c.id = s.category_id
LEFT JOIN category_counts n ON n.category_id = c.id
WHERE s.user_id = $1 AND ($2::bigint IS NULL OR c.id = $2)
ORDER BY c.id;

-- name: import_categories
-- An import's batch of categories ($6: each line's place in the batch), created where
-- new as upsert_category does one at a time: each URL once (its first line's profile),
-- in URL order, so that imports running at once lock the same rows in the same order.
INSERT INTO categories (url, website, kind, disable_download_cache, profile)
SELECT DISTINCT ON (i.url) i.url, i.website, i.kind::category_kind, i.cache, i.profile::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::int[])
    AS i(url, website, kind, cache, profile, n)
ORDER BY i.url, i.n
ON CONFLICT (url) DO UPDATE
    SET disable_download_cache = categories.disable_download_cache OR EXCLUDED.disable_download_cache
RETURNING id, url, (xmax = 0) AS created;

-- name: import_subscriptions
-- An import's batch of subscriptions, each (user, category) once, counted on their
-- categories and each told by an event, as subscribe does one; returns the new ones.
WITH added AS (
    INSERT INTO subscriptions (user_id, category_id)
    SELECT DISTINCT s.user_id, s.category_id FROM unnest($1::bigint[], $2::bigint[]) AS s(user_id, category_id)
    ORDER BY s.user_id, s.category_id
    ON CONFLICT DO NOTHING
    RETURNING user_id, category_id
), counted AS (
    UPDATE categories c SET subscriber_count = c.subscriber_count + a.added
    FROM (SELECT category_id, count(*)::int AS added FROM added GROUP BY category_id) a
    WHERE c.id = a.category_id
), told AS (
    INSERT INTO archival_events (category_id, message)
    SELECT category_id, 'user ' || user_id || ' subscribed' FROM added
)
SELECT user_id, category_id FROM added;

-- name: add_events
INSERT INTO archival_events (category_id, message) SELECT * FROM unnest($1::bigint[], $2::text[]);

-- name: export_subscriptions
-- Every subscription ($1 NULL) or a user's, with its category's URL and profile.
SELECT s.user_id, c.id AS category_id, c.url, c.profile::text, c.disable_download_cache,
       s.created_at AS subscribed_at
FROM subscriptions s JOIN categories c ON c.id = s.category_id
WHERE $1::bigint IS NULL OR s.user_id = $1
ORDER BY s.user_id, c.id;

-- name: set_profile
-- Locks the category (as a sync's store does first) and returns its profile before.
WITH old AS (SELECT id, profile FROM categories WHERE id = $1 FOR NO KEY UPDATE)
UPDATE categories c SET profile = $2::jsonb FROM old WHERE c.id = old.id
RETURNING old.profile::text AS before;

-- name: undecided_videos
-- A category's pending and skipped videos, oldest first, with what is known of them and
-- the profiles of every subscribed category listing them (this one's just changed), for
-- the filters to decide again. Locked, so a claim waits for the decision (or is decided
-- on: a claimed video is no longer pending and is left to its download's decision).
SELECT v.id, v.status::text, v.url, v.title, v.listed::text,
       (SELECT array_agg(c.profile::text ORDER BY c.id)
        FROM category_videos o JOIN categories c ON c.id = o.category_id
        WHERE o.video_id = v.id AND (c.subscriber_count > 0 OR c.id = $1)) AS profiles
FROM category_videos cv JOIN videos v ON v.id = cv.video_id
WHERE cv.category_id = $1 AND v.status IN ('pending', 'skipped')
ORDER BY cv.position, v.id
FOR NO KEY UPDATE OF v;

-- name: skip_videos
-- Pending videos no category wants any more, each with its reason.
UPDATE videos v SET status = 'skipped', skip_reason = d.reason, updated_at = now()
FROM unnest($1::bigint[], $2::text[]) AS d(id, reason)
WHERE v.id = d.id AND v.status = 'pending';

-- name: move_to_backfill
-- Skipped videos wanted again wait in the category's backfill lane (oldest first): their
-- places move before restore_videos makes them pending, so the queues' triggers (which
-- follow the status) take them in that lane.
UPDATE category_videos SET upload_rank = NULL
WHERE category_id = $1 AND video_id = ANY($2::bigint[]) AND upload_rank IS NOT NULL;

-- name: restore_videos
UPDATE videos SET status = 'pending', skip_reason = NULL, attempts = 0, next_attempt_at = now(),
    deferred = false, updated_at = now()
WHERE id = ANY($1::bigint[]) AND status = 'skipped';

-- name: list_events
-- Newest first; $1 NULL lists every category's events.
SELECT e.id, e.category_id, coalesce(c.url, '') AS category_url, e.video_id,
       coalesce(v.url, '') AS video_url, e.message, e.created_at
FROM archival_events e
LEFT JOIN categories c ON c.id = e.category_id
LEFT JOIN videos v ON v.id = e.video_id
WHERE $1::bigint IS NULL OR e.category_id = $1
ORDER BY e.id DESC
LIMIT $2;

-- name: category_exists
SELECT EXISTS (SELECT FROM categories WHERE id = $1);

-- name: is_subscribed
SELECT EXISTS (SELECT FROM subscriptions WHERE user_id = $1 AND category_id = $2);

-- name: retry_failed
-- Failed videos back to pending: a category's ($1), a website's ($2), or a website's in a
-- category. One event per category whose videos came back ($1 given: that one only),
-- reading "<$3><how many><$4>".
WITH retried AS (
    UPDATE videos v
    SET status = 'pending', attempts = 0, last_error = NULL, next_attempt_at = now(),
        updated_at = now()
    WHERE v.status = 'failed'
      AND ($1::bigint IS NULL
           OR EXISTS (SELECT FROM category_videos cv WHERE cv.video_id = v.id AND cv.category_id = $1))
      AND ($2::text IS NULL OR v.website = $2)
    RETURNING v.id
), told AS (
    INSERT INTO archival_events (category_id, message)
    SELECT cv.category_id, $3 || count(*) || $4
    FROM retried r JOIN category_videos cv ON cv.video_id = r.id
    WHERE $1::bigint IS NULL OR cv.category_id = $1
    GROUP BY cv.category_id
)
SELECT count(*) FROM retried;

-- name: list_downloads
-- With the state of the instance holding each lease (alive, dead, stopped; '' unregistered).
SELECT v.id AS video_id, v.website, v.foreign_id, v.url, v.status::text, v.bytes_done, v.bytes_total,
       coalesce(v.lease_owner, '') AS instance, v.attempts, instance_state(i) AS instance_state,
       v.content_category AS category
FROM videos v
LEFT JOIN instances i ON i.id = v.lease_owner
WHERE v.status IN ('queued', 'downloading', 'uploading')
ORDER BY v.lease_expires_at, v.id
LIMIT $1;

-- name: downloads_by_id
SELECT v.id AS video_id, v.website, v.foreign_id, v.url, v.status::text, v.bytes_done, v.bytes_total,
       coalesce(v.lease_owner, '') AS instance, v.attempts, instance_state(i) AS instance_state,
       v.content_category AS category
FROM videos v
LEFT JOIN instances i ON i.id = v.lease_owner
WHERE v.id = ANY($1::bigint[])
ORDER BY v.id;

-- name: video_exists
SELECT EXISTS (SELECT FROM videos WHERE id = $1);

-- name: request_cancel
-- The instance holding the video hears it through NOTIFY (and, failing that, its heartbeat).
WITH requested AS (
    UPDATE videos SET cancel_request = $2::video_status
    WHERE id = $1 AND status IN ('queued', 'downloading', 'uploading')
    RETURNING id
)
SELECT id, pg_notify('scheduler_cancel', id || ':' || $2) FROM requested;

-- name: list_unapproved_videos
-- $1 NULL lists every category's unreviewed videos; oldest first, or newest first ($3).
SELECT v.id, v.website, v.foreign_id, v.url, v.title, v.status::text, v.approval::text,
       v.content_category AS category
FROM videos v
WHERE v.approval = 'unreviewed' AND v.status = 'pending'
  AND ($1::bigint IS NULL
       OR EXISTS (SELECT FROM category_videos cv WHERE cv.video_id = v.id AND cv.category_id = $1))
ORDER BY CASE WHEN $3 THEN -v.id ELSE v.id END
LIMIT $2;

-- name: set_approval
UPDATE videos SET approval = $2::approval_state, updated_at = now()
WHERE id = $1
RETURNING id, website, foreign_id, url, title, status::text, approval::text, content_category AS category;

-- name: list_inference_categories
SELECT id, tag, category FROM inference_categories ORDER BY lower(tag);

-- name: add_inference_category
INSERT INTO inference_categories (tag, category) VALUES ($1, $2)
ON CONFLICT (lower(tag)) DO UPDATE SET category = EXCLUDED.category
RETURNING id, tag, category, (xmax = 0) AS created;

-- name: claim_category
-- A syncer takes one subscribed category that is due (or whose syncer died), with a lease;
-- not one of the websites $3 (their listing limit is reached: scheduler/sites/limiter.py).
WITH due AS MATERIALIZED (
    SELECT id FROM categories
    WHERE subscriber_count > 0
      AND ((lease_owner IS NULL AND next_sync_at <= now()) OR lease_expires_at < now())
      AND website <> ALL($3::text[])
    ORDER BY next_sync_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE categories c
SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2)
FROM due WHERE c.id = due.id
RETURNING c.id, c.url, c.website, c.backoff_factor, c.sync_count, c.disable_download_cache, c.profile::text;

-- name: newest_in_category
-- The category's newest entries, for a re-sync to stop at (ytdlp.KNOWN_RUN).
SELECT v.website, v.foreign_id
FROM category_videos cv JOIN videos v ON v.id = cv.video_id
WHERE cv.category_id = $1
ORDER BY cv.position DESC
LIMIT $2;

-- name: entries_new_to_category
-- The places (1-based) of a listing's entries that its category does not hold yet: a
-- re-sync sends the keys of what it listed, then the rest of the new entries only.
SELECT coalesce(array_agg(l.n ORDER BY l.n), '{}')
FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS l(website, foreign_id, n)
WHERE NOT EXISTS (
    SELECT FROM videos v JOIN category_videos cv ON cv.video_id = v.id AND cv.category_id = $1
    WHERE v.website = l.website AND v.foreign_id = l.foreign_id
);

-- name: store_listing
-- Listed entries (oldest first, one per video) into their category, in one statement that
-- writes only what is new to the category. A re-sync's new entries ($7 false) get the
-- places after its newest, ranked as new uploads, newest first; a first listing's ($7
-- true: backfill) the places before its oldest, as it is stored page by page, newest
-- page first (pipeline._sync). The unknown (website, foreign id) pairs become videos (one
-- video whichever categories list it) and take their places, waiting to be claimed (the
-- category's queue follows: migrations/0013). Returns how many, and the entries (1-based)
-- and places of the videos that exist already (other categories list them, or another
-- sync inserted them just now), for add_known_videos, and the entries it stored as
-- skipped: $8 gives each entry's reason to skip it under the category's profile ('' when
-- the profile wants it, or its metadata must decide). Nothing reads the videos of other
-- categories: the unique index finds the known ones. Locking the category row first
-- orders this after a concurrent subscription change.
WITH category AS MATERIALIZED (
    SELECT (SELECT min(position) FROM category_videos WHERE category_id = $1) AS oldest,
           (SELECT max(position) FROM category_videos WHERE category_id = $1) AS newest
    FROM categories WHERE id = $1
    FOR NO KEY UPDATE
), fresh AS MATERIALIZED (
    SELECT l.*,
           CASE WHEN $7 THEN coalesce(c.oldest, 0) - count(*) OVER () + row_number() OVER (ORDER BY l.n) - 1
                ELSE coalesce(c.newest, -1) + row_number() OVER (ORDER BY l.n) END AS position,
           CASE WHEN NOT $7 THEN count(*) OVER () - row_number() OVER (ORDER BY l.n) END AS upload_rank
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $8::text[])
        WITH ORDINALITY AS l(website, foreign_id, url, title, meta, reason, n)
    CROSS JOIN category c
    WHERE NOT EXISTS (
        SELECT FROM category_videos cv JOIN videos v ON v.id = cv.video_id
        WHERE cv.category_id = $1 AND v.website = l.website AND v.foreign_id = l.foreign_id
    )
), created AS (
    INSERT INTO videos (website, foreign_id, url, title, listed, delivery_category_id, tags, content_category,
                        status, skip_reason)
    SELECT f.website, f.foreign_id, f.url, f.title, f.meta::jsonb - 'tags', $1, t.tags, inferred_category(t.tags),
           CASE WHEN f.reason = '' THEN 'pending' ELSE 'skipped' END::video_status, nullif(f.reason, '')
    FROM fresh f
    CROSS JOIN LATERAL (SELECT ARRAY(SELECT jsonb_array_elements_text(
        coalesce(f.meta::jsonb -> 'tags', '[]'))) AS tags) t
    ORDER BY f.n
    ON CONFLICT (website, foreign_id) DO NOTHING
    RETURNING id, website, foreign_id, status
), added AS (
    INSERT INTO category_videos (category_id, video_id, position, upload_rank, waiting)
    SELECT $1, c.id, f.position, f.upload_rank, c.status = 'pending'
    FROM created c JOIN fresh f ON f.website = c.website AND f.foreign_id = c.foreign_id
    RETURNING video_id
)
SELECT (SELECT count(*) FROM added) AS created,
       coalesce(array_agg(f.n ORDER BY f.n), '{}') AS known,
       coalesce(array_agg(f.position ORDER BY f.n), '{}') AS positions,
       coalesce(array_agg(f.upload_rank ORDER BY f.n), '{}') AS upload_ranks,
       (SELECT coalesce(array_agg(f.n ORDER BY f.n), '{}') FROM created c
        JOIN fresh f ON f.website = c.website AND f.foreign_id = c.foreign_id
        WHERE c.status = 'skipped') AS skipped
FROM fresh f
WHERE NOT EXISTS (SELECT FROM created c WHERE c.website = f.website AND c.foreign_id = f.foreign_id);

-- name: add_known_videos
-- Listed videos that exist already into the category, at the places store_listing gave
-- them (its snapshot may predate a video another sync has just inserted: this one's does
-- not), in their queues if they are pending or in flight and not deferred (checked again
-- under lock: migrations/0014).
INSERT INTO category_videos (category_id, video_id, position, upload_rank, waiting)
SELECT $1, v.id, k.position, k.upload_rank, video_in_queue(v.status, v.deferred)
FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS k(website, foreign_id, position, upload_rank)
JOIN videos v ON v.website = k.website AND v.foreign_id = k.foreign_id
RETURNING video_id;

-- name: want_skipped_videos
-- Listed videos that exist already, skipped by the other categories listing them, that
-- this category's profile wants (or whose metadata must decide): pending again.
UPDATE videos v SET status = 'pending', skip_reason = NULL, attempts = 0, next_attempt_at = now(),
    deferred = false, updated_at = now()
FROM unnest($1::text[], $2::text[]) AS k(website, foreign_id)
WHERE v.website = k.website AND v.foreign_id = k.foreign_id AND v.status = 'skipped';

-- name: recheck_delivered
-- The seed's disabled download cache: delivered videos of the listing go back to pending,
-- so that a downloader asks the Video Service again instead of trusting the record.
UPDATE videos v
SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
FROM unnest($1::text[], $2::text[]) AS l(website, foreign_id)
WHERE v.website = l.website AND v.foreign_id = l.foreign_id AND v.status = 'done';

-- name: finish_sync
-- Found something new: backoff back to 1; nothing: doubled, up to the maximum.
UPDATE categories
SET last_synced = now(),
    sync_count = sync_count + 1,
    backoff_factor = CASE WHEN $3 THEN 1 ELSE least(backoff_factor * 2, $4) END,
    next_sync_at = now() + make_interval(
        secs => $5 * CASE WHEN $3 THEN 1 ELSE least(backoff_factor * 2, $4) END),
    lease_owner = NULL, lease_expires_at = NULL, failed_listings = 0
WHERE id = $1 AND lease_owner = $2
RETURNING backoff_factor, next_sync_at;

-- name: count_failed_listing
-- One more listing of the category failed in a row: how many now.
UPDATE categories SET failed_listings = failed_listings + 1 WHERE id = $1
RETURNING failed_listings;

-- name: renew_sync_lease
-- A first listing stored page by page keeps its category while it goes on.
UPDATE categories SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND lease_owner = $2
RETURNING id;

-- name: give_back_category
-- Given back, due again in $3 seconds: after a failed listing, or when the site's listing
-- limit is reached.
UPDATE categories
SET next_sync_at = now() + make_interval(secs => $3), lease_owner = NULL, lease_expires_at = NULL
WHERE id = $1 AND lease_owner = $2
RETURNING id;

-- name: undefer_due_videos
-- Videos deferred to a later attempt (fail_attempt, release_video) whose time has come
-- wait in their categories' queues again (migrations/0013), before a claim; a few at a time.
UPDATE videos SET deferred = false
WHERE id IN (
    SELECT id FROM videos WHERE deferred AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
);

-- name: claim_videos
-- Due videos, with a lease: in-flight ones whose lease expired (their instance died),
-- then pending ones whose next attempt has come, in the fair order (migrations/0013): new
-- uploads first, then backfill; within a lane, the k-th due video of a category whose
-- pass is p and weight w takes its turn at p + (k - 1) / w, a tie going to the older
-- video. The categories are read in pass order (walking the queues' index a category at
-- a time, as far as this statement needs: 2 x $3 of them at most), each for the due videos
-- whose turns come before the $3-th category's pass (at most $3), until $3 x ($3 + 4) are
-- found: the first $3 categories that have due work hold the $3 earliest turns. Each gives
-- 4 more for the claimers running at the same time, which read the same turns: only the
-- videos taken are locked, in turn order, SKIP LOCKED, so each claimer takes the earliest
-- turns the others have not (and never queues on a video). A claimed video's places stay
-- in their queues until it is finished (migrations/0014): the scan steps over those in
-- flight. A video several categories list goes with the one whose turn is next (the least
-- pass; on a tie, more subscribers): its delivery is recorded there, and the claim's
-- trigger moves that category on by a turn.
-- Not the websites $5: their download limit is reached (scheduler/sites/limiter.py).
WITH RECURSIVE expired AS MATERIALIZED (
    SELECT id FROM videos
    WHERE status IN ('queued', 'downloading', 'uploading') AND lease_expires_at < now()
      AND website <> ALL($5::text[])
    ORDER BY lease_expires_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), uploads_order AS (  -- the categories waiting in a lane, in pass order, one index step at a time
    (SELECT category_id, upload_pass AS pass, weight FROM category_queues
     WHERE weight > 0 AND waiting_uploads > 0 ORDER BY upload_pass, category_id LIMIT 1)
    UNION ALL
    SELECT n.* FROM uploads_order o CROSS JOIN LATERAL (
        SELECT category_id, upload_pass, weight FROM category_queues
        WHERE weight > 0 AND waiting_uploads > 0 AND (upload_pass, category_id) > (o.pass, o.category_id)
        ORDER BY upload_pass, category_id LIMIT 1
    ) n
), backfill_order AS (
    (SELECT category_id, backfill_pass AS pass, weight FROM category_queues
     WHERE weight > 0 AND waiting_backfill > 0 ORDER BY backfill_pass, category_id LIMIT 1)
    UNION ALL
    SELECT n.* FROM backfill_order o CROSS JOIN LATERAL (
        SELECT category_id, backfill_pass, weight FROM category_queues
        WHERE weight > 0 AND waiting_backfill > 0 AND (backfill_pass, category_id) > (o.pass, o.category_id)
        ORDER BY backfill_pass, category_id LIMIT 1
    ) n
), walk AS (
    SELECT category_id, 0::smallint AS lane, pass, weight FROM uploads_order
    UNION ALL
    SELECT category_id, 1::smallint, pass, weight FROM backfill_order
), horizon AS MATERIALIZED (  -- the $3-th category's lane and pass: no turn after it is needed
    SELECT lane, pass FROM walk OFFSET $3 - 1 LIMIT 1
), turns AS MATERIALIZED (
    SELECT q.category_id, q.lane, d.video_id, q.pass + (d.k - 1)::float8 / q.weight AS turn
    FROM (SELECT * FROM walk LIMIT 2 * $3) q
    CROSS JOIN LATERAL (
        SELECT cv.video_id, row_number() OVER (ORDER BY cv.place) AS k
        FROM category_videos cv JOIN videos v ON v.id = cv.video_id
        WHERE cv.category_id = q.category_id AND cv.lane = q.lane AND cv.waiting
          AND v.status = 'pending' AND v.next_attempt_at <= now()
          AND v.approval <> 'rejected' AND (NOT $4 OR v.approval = 'approved')
          AND v.website <> ALL($5::text[])
        ORDER BY cv.place
        LIMIT 4 + least($3, greatest(0, 1 + coalesce(
            (SELECT CASE WHEN h.lane = q.lane THEN floor((h.pass - q.pass) * q.weight) ELSE $3 END FROM horizon h),
            $3)))::int
    ) d
    LIMIT $3 * ($3 + 4)
), pending AS MATERIALIZED (  -- in turn order before reading the videos: only those tried are read
    SELECT v.id
    FROM (SELECT * FROM (SELECT DISTINCT ON (video_id) video_id, lane, turn FROM turns
                         ORDER BY video_id, lane, turn) first_turns
          ORDER BY lane, turn, video_id) t
    JOIN videos v ON v.id = t.video_id
    WHERE v.status = 'pending'
    ORDER BY t.lane, t.turn, t.video_id
    LIMIT $3
    FOR UPDATE OF v SKIP LOCKED
), due AS (
    SELECT id, NULL::bigint AS category_id FROM expired
    UNION ALL
    SELECT p.id, next.category_id
    FROM pending p
    CROSS JOIN LATERAL (
        SELECT cv.category_id
        FROM category_videos cv JOIN category_queues q ON q.category_id = cv.category_id
        WHERE cv.video_id = p.id AND cv.waiting AND q.weight > 0
        ORDER BY cv.lane, CASE WHEN cv.lane = 0 THEN q.upload_pass ELSE q.backfill_pass END,
                 q.weight DESC, cv.category_id
        LIMIT 1
    ) next
    LIMIT $3
)
UPDATE videos v
SET status = 'queued', lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2),
    delivery_category_id = coalesce(due.category_id, v.delivery_category_id),
    bytes_done = 0, bytes_total = 0, cancel_request = NULL, updated_at = now()
FROM due
CROSS JOIN LATERAL (  -- the categories listing the video, read once: what its download needs
    SELECT bool_or(c.disable_download_cache) AS disable_download_cache,
           array_agg(c.profile::text ORDER BY c.id) FILTER (WHERE c.subscriber_count > 0) AS profiles
    FROM category_videos cv JOIN categories c ON c.id = cv.category_id
    WHERE cv.video_id = due.id
) listing
WHERE v.id = due.id
RETURNING v.id, v.website, v.foreign_id, v.url, v.title, v.listed, v.attempts,
          v.delivery_category_id AS category_id, listing.disable_download_cache, listing.profiles;

-- name: renew_leases
-- The heartbeat: one statement renews every lease this instance holds; an id missing
-- from the result was lost (expired and claimed by another instance).
-- A CancelDownload for one of them comes back with it, should its NOTIFY have been missed.
UPDATE videos SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = ANY($1::bigint[]) AND lease_owner = $2
RETURNING id, cancel_request::text;

-- name: set_progress
UPDATE videos
SET status = $3::video_status, bytes_done = $4, bytes_total = $5, updated_at = now()
WHERE id = $1 AND lease_owner = $2
RETURNING id;

-- name: classify_video
-- The video's category from its listed tags, or from $2 (its metadata's) when the listing
-- gave none; returns it.
UPDATE videos
SET tags = CASE WHEN cardinality(tags) = 0 THEN $2::text[] ELSE tags END,
    content_category = inferred_category(CASE WHEN cardinality(tags) = 0 THEN $2::text[] ELSE tags END)
WHERE id = $1
RETURNING content_category;

-- name: take_untagged_video
-- One video awaiting approval whose listing gave no tags, not of the websites $1 (busy), to
-- fetch its metadata: marked as taken in the same statement, so it is fetched at most once.
UPDATE videos SET metadata_fetched = true
WHERE id = (
    SELECT id FROM videos
    WHERE approval = 'unreviewed' AND status = 'pending' AND NOT metadata_fetched AND cardinality(tags) = 0
      AND website <> ALL ($1::text[])
    ORDER BY id LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, website, url;

-- name: give_back_untagged_video
-- Its site had no room: another pass takes it.
UPDATE videos SET metadata_fetched = false WHERE id = $1;

-- name: set_fetched_tags
-- The fetched metadata's tags, and the category they give; returns it.
UPDATE videos SET tags = $2, content_category = inferred_category($2), updated_at = now()
WHERE id = $1 AND cardinality(tags) = 0
RETURNING content_category;

-- name: reclassify_videos
-- A new rule for tag $1: the videos not yet delivered that carry it follow the rules again.
UPDATE videos SET content_category = inferred_category(tags), updated_at = now()
WHERE status <> 'done' AND lower($1) IN (SELECT lower(t) FROM unnest(tags) AS t)
  AND content_category IS DISTINCT FROM inferred_category(tags);

-- name: finish_video
UPDATE videos
SET status = 'done', lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
    cancel_request = NULL, updated_at = now()
WHERE id = $1 AND lease_owner = $2
RETURNING id;

-- name: skip_video
-- The video's metadata says no category listing it wants it: skipped, with the reason,
-- and what the filters read kept with it (a profile's change is decided again from it).
UPDATE videos
SET status = 'skipped', skip_reason = $3, listed = listed || $4::jsonb, lease_owner = NULL,
    lease_expires_at = NULL, cancel_request = NULL, bytes_done = 0, bytes_total = 0, updated_at = now()
WHERE id = $1 AND lease_owner = $2
RETURNING id;

-- name: record_delivery
INSERT INTO previous_downloads (video_id, category_id, video_service_id) VALUES ($1, $2, $3)
ON CONFLICT (video_id) DO UPDATE
    SET category_id = EXCLUDED.category_id, video_service_id = EXCLUDED.video_service_id,
        downloaded_at = now();

-- name: fail_attempt
-- One more failed attempt: back to pending after a delay, or failed after the last one.
UPDATE videos
SET attempts = attempts + 1,
    status = CASE WHEN attempts + 1 >= $4 THEN 'failed' ELSE 'pending' END::video_status,
    next_attempt_at = now() + make_interval(secs => $5), deferred = attempts + 1 < $4 AND $5 > 0,
    last_error = $3, lease_owner = NULL, lease_expires_at = NULL, cancel_request = NULL, updated_at = now()
WHERE id = $1 AND lease_owner = $2
RETURNING status::text, attempts;

-- name: release_video
-- Back to pending without counting an attempt (the lock was held elsewhere, a shutdown,
-- the site's limit reached).
UPDATE videos
SET status = 'pending', next_attempt_at = now() + make_interval(secs => $3), deferred = $3 > 0,
    lease_owner = NULL, lease_expires_at = NULL, cancel_request = NULL, updated_at = now()
WHERE id = $1 AND lease_owner = $2
RETURNING id;

-- name: notify_work
SELECT pg_notify('scheduler_work', '');

-- name: ping
-- The health service's check: the database answers.
SELECT true;

-- name: count_by_status
-- The metrics' queue depth: one scan of videos, at most once every metrics.QUEUE_TTL_S
-- per instance however often it is scraped. Every status appears, 0 when none.
SELECT status::text AS status, count(v.id) AS videos
FROM unnest(enum_range(NULL::video_status)) AS status
LEFT JOIN videos v USING (status)
GROUP BY status;

-- name: beat_instance
-- Registration and heartbeat in one: the row is (re)written with a new expiry, so an
-- instance forgotten while it could not reach the database comes back on its next beat.
INSERT INTO instances AS i (id, host, pid, version, workers, expires_at)
VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
ON CONFLICT (id) DO UPDATE
    SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at, stopped_at = NULL;

-- name: forget_instances
-- Instances stopped or dead for a day leave the list.
DELETE FROM instances WHERE expires_at < now() - interval '1 day';

-- name: stop_instance
UPDATE instances SET stopped_at = now(), expires_at = now() WHERE id = $1;

-- name: list_instances
-- Every registered instance, with what it holds now; alive ones first.
WITH held AS (
    SELECT lease_owner, count(*) AS downloads FROM videos
    WHERE status IN ('queued', 'downloading', 'uploading')
    GROUP BY lease_owner
), listing AS (
    SELECT lease_owner, count(*) AS listings FROM categories
    WHERE lease_owner IS NOT NULL
    GROUP BY lease_owner
)
SELECT i.id, i.host, i.pid, i.version, i.workers, i.started_at, i.heartbeat_at,
       instance_state(i) AS state,
       coalesce(h.downloads, 0) AS downloads, coalesce(l.listings, 0) AS listings
FROM instances i
LEFT JOIN held h ON h.lease_owner = i.id
LEFT JOIN listing l ON l.lease_owner = i.id
ORDER BY i.stopped_at IS NOT NULL, i.expires_at < now(), i.started_at, i.id;

-- name: video_stats
-- Videos by website and status, with the oldest pending one's listing time: one scan of
-- videos, for an operator's `scheduler stats` (not a hot path).
SELECT website, status::text AS status, count(*) AS videos,
       min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending
FROM videos
GROUP BY website, status;

-- name: subscribed_categories
SELECT count(*) FROM categories WHERE subscriber_count > 0;

-- name: now
SELECT now();

-- name: website_has_videos
SELECT EXISTS (SELECT FROM videos WHERE website = $1);

-- name: tripped_breakers
-- The sites whose breaker is not closed, and how long until each may be probed (<= 0: now).
SELECT site, state, reason, extract(epoch FROM probe_at - now())::float8 AS probe_in_s
FROM site_breakers WHERE state <> 'closed';

-- name: site_served
SELECT coalesce((SELECT served FROM site_breakers WHERE site = $1), false);

-- name: mark_served
INSERT INTO site_breakers (site, served) VALUES ($1, true)
ON CONFLICT (site) DO UPDATE SET served = true, updated_at = now() WHERE NOT site_breakers.served;

-- name: open_breaker
-- Opens the site's breaker for min($3 x 2^openings, $4) seconds, or reopens it after a failed
-- probe; a breaker open already stays as it is (another request of the same burst).
-- Returns a row only when this call opened it.
INSERT INTO site_breakers AS b (site, state, reason, openings, opened_at, probe_at)
VALUES ($1, 'open', $2, 1, now(), now() + make_interval(secs => least($3::float8, $4::float8)))
ON CONFLICT (site) DO UPDATE
    SET state = 'open', reason = $2, openings = b.openings + 1, opened_at = now(),
        probe_at = now() + make_interval(secs => least($3::float8 * 2 ^ b.openings, $4::float8)),
        probe_owner = NULL, updated_at = now()
    WHERE b.state <> 'open'
RETURNING openings, extract(epoch FROM probe_at - now())::float8 AS probe_in_s;

-- name: breaker_probe_in_s
SELECT greatest(0, extract(epoch FROM probe_at - now()))::float8 FROM site_breakers WHERE site = $1;

-- name: take_probe
-- One instance, one request: the first to ask once probe_at has passed takes the probe;
-- should it never report back, the probe lapses at the new probe_at ($3 s from now).
UPDATE site_breakers
SET state = 'probing', probe_owner = $2, probe_at = now() + make_interval(secs => $3::float8),
    updated_at = now()
WHERE site = $1 AND state <> 'closed' AND probe_at <= now()
RETURNING site;

-- name: close_breaker
-- The probe got through ($2: its holder), or an operator closes it ($2 NULL). Returns the
-- probe time it had: the work put off until then.
WITH tripped AS (
    SELECT site, probe_at FROM site_breakers
    WHERE site = $1 AND state <> 'closed' AND ($2::text IS NULL OR probe_owner = $2)
    FOR UPDATE
)
UPDATE site_breakers b
SET state = 'closed', reason = '', openings = 0, probe_at = NULL, probe_owner = NULL,
    served = served OR $2 IS NOT NULL, updated_at = now()
FROM tripped WHERE b.site = tripped.site
RETURNING tripped.probe_at;

-- name: resume_site
-- A breaker closed by hand: the site's work put off until its probe ($2) is due now (not
-- the work that waits longer for its own reasons: a backoff, a sync's schedule). A minute's
-- margin: work is put off by the seconds to the probe as read a moment before.
WITH due AS (
    UPDATE videos SET next_attempt_at = now()
    WHERE status = 'pending' AND next_attempt_at > now()
      AND next_attempt_at <= $2::timestamptz + interval '1 minute' AND website_in_site(website, $1)
)
UPDATE categories SET next_sync_at = now()
WHERE lease_owner IS NULL AND next_sync_at > now()
  AND next_sync_at <= $2::timestamptz + interval '1 minute' AND website_in_site(website, $1);

-- name: give_probe_back
-- The probe never reached the site: the next request to come along may probe at once.
UPDATE site_breakers SET state = 'open', probe_at = now(), probe_owner = NULL, updated_at = now()
WHERE site = $1 AND probe_owner = $2;

-- name: list_breakers
SELECT site, state, reason, openings, opened_at, probe_at, served FROM site_breakers ORDER BY site;

-- name: add_site_event
-- An event of no category or video: a site's breaker changed.
INSERT INTO archival_events (category_id, video_id, message) VALUES (NULL, NULL, $1);

-- name: add_site_event_daily
-- A site event that stays true for a while (cookies about to expire): recorded unless the
-- same one was, by any instance, within the last day. Returns whether it was.
INSERT INTO archival_events (category_id, video_id, message)
SELECT NULL, NULL, $1
WHERE NOT EXISTS (
    SELECT FROM archival_events
    WHERE category_id IS NULL AND video_id IS NULL AND message = $1 AND created_at > now() - interval '1 day'
)
RETURNING id;

-- Notifications (scheduler/notify, migrations/0017).

-- name: add_notice
-- An event to tell, in the transaction of what it tells; only while a cursor wants its kind.
INSERT INTO notify_events (kind, subject)
SELECT $1, $2 WHERE EXISTS (SELECT FROM notify_cursors WHERE kind = $1);

-- name: tell_dead_instances
-- Instances whose heartbeat stopped without a clean stop, each told once (by whichever
-- instance beats first after it expired).
UPDATE instances SET death_told = true
WHERE expires_at < now() AND stopped_at IS NULL AND NOT death_told
RETURNING id, heartbeat_at;

-- name: register_cursors
-- This instance's URLs ($1, their keys) and kinds ($2): a new cursor starts at the newest
-- event (what happened before it was set up is not told); a known one is seen now.
INSERT INTO notify_cursors AS c (target, kind, last_event_id)
SELECT t.target, t.kind, coalesce((SELECT max(id) FROM notify_events), 0)
FROM unnest($1::text[], $2::text[]) AS t(target, kind)
ON CONFLICT (target, kind) DO UPDATE SET seen_at = now();

-- name: claim_digests
-- The digests due of this instance's URLs ($2), leased to $1 for $4 s: the oldest event
-- not yet told of the cursor's kind is $3 s old (a digest gathers that long), the retry
-- time has come, and no other instance holds it.
WITH due AS (
    SELECT c.target, c.kind FROM notify_cursors c
    WHERE c.target = ANY($2::text[]) AND c.next_at <= now()
      AND (c.lease_expires_at IS NULL OR c.lease_expires_at < now())
      AND EXISTS (SELECT FROM notify_events e WHERE e.kind = c.kind AND e.id > c.last_event_id
                  AND e.created_at <= now() - make_interval(secs => $3))
    ORDER BY c.next_at
    LIMIT 20
    FOR UPDATE SKIP LOCKED
)
UPDATE notify_cursors c SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $4)
FROM due WHERE c.target = due.target AND c.kind = due.kind
RETURNING c.target, c.kind, c.last_event_id, c.attempts;

-- name: digest_events
-- A digest's events of kind $1 after $2, settled for $3 s (a transaction still open may
-- yet commit an event of a lower id): how many, the newest id, the first $4 subjects.
SELECT count(*) AS events, max(id) AS last_id, (array_agg(subject ORDER BY id))[1:$4] AS first
FROM notify_events
WHERE kind = $1 AND id > $2 AND created_at <= now() - make_interval(secs => $3);

-- name: digest_sent
-- Told (or given up on: dropped): the cursor moves past the digest's events.
UPDATE notify_cursors SET last_event_id = greatest(last_event_id, $4), attempts = 0, next_at = now(),
    lease_owner = NULL, lease_expires_at = NULL
WHERE target = $1 AND kind = $2 AND lease_owner = $3
RETURNING target;

-- name: digest_failed
-- Not sent: tried again in $4 s.
UPDATE notify_cursors SET attempts = attempts + 1, next_at = now() + make_interval(secs => $4),
    lease_owner = NULL, lease_expires_at = NULL
WHERE target = $1 AND kind = $2 AND lease_owner = $3
RETURNING attempts;

-- name: prune_notices
-- Events older than every digest could still want (2 days), and cursors no instance has
-- set up for as long (their URL left the settings).
WITH events AS (DELETE FROM notify_events WHERE created_at < now() - interval '2 days')
DELETE FROM notify_cursors WHERE seen_at < now() - interval '2 days';
