-- Every statement the API runs, by name (`-- name: x`); scheduler/db/store.py runs them.

-- name: upsert_category
-- One row per normalised URL. disable_download_cache is sticky: once a subscriber
-- asks to bypass the download cache, the category keeps doing so.
INSERT INTO categories (url, website, kind, disable_download_cache)
VALUES ($1, $2, $3::category_kind, $4)
ON CONFLICT (url) DO UPDATE
    SET disable_download_cache = categories.disable_download_cache OR EXCLUDED.disable_download_cache
RETURNING id, (xmax = 0) AS created;

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
-- One query for all of a user's categories and their counts.
SELECT c.id, c.url, c.website, c.last_synced, c.next_sync_at, c.backoff_factor,
       c.subscriber_count, c.disable_download_cache,
       count(v.id) AS total_videos,
       count(v.id) FILTER (WHERE v.status = 'done') AS archived_videos,
       count(v.id) FILTER (WHERE v.status = 'failed' OR v.approval = 'rejected')
           AS undownloadable_videos
FROM subscriptions s
JOIN categories c ON c.id = s.category_id
LEFT JOIN category_videos cv ON cv.category_id = c.id
LEFT JOIN videos v ON v.id = cv.video_id
WHERE s.user_id = $1
GROUP BY c.id
ORDER BY c.id;

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
UPDATE videos v
SET status = 'pending', attempts = 0, last_error = NULL, next_attempt_at = now(),
    updated_at = now()
FROM category_videos cv
WHERE cv.category_id = $1 AND cv.video_id = v.id AND v.status = 'failed'
RETURNING v.id;

-- name: list_downloads
SELECT id, website, foreign_id, url, status::text, bytes_done, bytes_total,
       coalesce(lease_owner, '') AS lease_owner, attempts
FROM videos
WHERE status IN ('queued', 'downloading', 'uploading')
ORDER BY lease_expires_at, id
LIMIT $1;

-- name: list_unapproved_videos
-- $1 NULL lists every category's unreviewed videos.
SELECT v.id, v.website, v.foreign_id, v.url, v.title, v.status::text, v.approval::text
FROM videos v
WHERE v.approval = 'unreviewed' AND v.status = 'pending'
  AND ($1::bigint IS NULL
       OR EXISTS (SELECT FROM category_videos cv WHERE cv.video_id = v.id AND cv.category_id = $1))
ORDER BY v.id
LIMIT $2;

-- name: set_approval
UPDATE videos SET approval = $2::approval_state, updated_at = now()
WHERE id = $1
RETURNING id, website, foreign_id, url, title, status::text, approval::text;

-- name: list_inference_categories
SELECT id, tag, category FROM inference_categories ORDER BY lower(tag);

-- name: add_inference_category
INSERT INTO inference_categories (tag, category) VALUES ($1, $2)
ON CONFLICT (lower(tag)) DO UPDATE SET category = EXCLUDED.category
RETURNING id, tag, category, (xmax = 0) AS created;
