-- Fair scheduling: the claim order is (claim_class, claim_key, id).
--
-- - claim_class 0: new uploads, entries a later sync of an archived category found; they
--   go ahead of every backfill, newest first (upload_rank 0 is the newest of its sync).
-- - claim_class 1: backfill, a category's first listing, oldest first.
-- - claim_key interleaves categories, weighted by subscribers (stride scheduling): the
--   n-th video of a category with s subscribers is at base + n / s, so a category with
--   twice the subscribers moves twice as fast, and a 10-video category scheduled beside a
--   50,000-video one is done after about 20 downloads, not 50,010. base is where the
--   queue's head stood when the category's first listing was stored, so a new category
--   takes turns with the others from then on instead of starving them with its own head.
ALTER TABLE category_videos ADD COLUMN upload_rank bigint;  -- NULL: backfill
ALTER TABLE categories ADD COLUMN claim_base double precision NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN claim_class smallint NOT NULL DEFAULT 1;
ALTER TABLE videos ADD COLUMN claim_key double precision NOT NULL DEFAULT 0;

CREATE FUNCTION fair_claim_key(base double precision, place bigint, upload_rank bigint, subscribers integer)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN upload_rank IS NULL THEN base + place::float8 / greatest(subscribers, 1)
                ELSE upload_rank::float8 / greatest(subscribers, 1) END
$$;

-- Which of a video's categories orders it (and records its delivery): a subscribed one,
-- then the one that would take it soonest (on a tie, the one with more subscribers).
CREATE VIEW video_claim_orders AS
SELECT DISTINCT ON (cv.video_id)
       cv.video_id, cv.category_id, cv.position, c.subscriber_count,
       (CASE WHEN cv.upload_rank IS NULL THEN 1 ELSE 0 END)::smallint AS claim_class,
       fair_claim_key(c.claim_base, cv.position, cv.upload_rank, c.subscriber_count) AS claim_key
FROM category_videos cv JOIN categories c ON c.id = cv.category_id
ORDER BY cv.video_id, c.subscriber_count > 0 DESC,
         cv.upload_rank IS NOT NULL DESC,
         fair_claim_key(c.claim_base, cv.position, cv.upload_rank, c.subscriber_count),
         c.subscriber_count DESC, cv.category_id;

UPDATE videos v SET claim_class = o.claim_class, claim_key = o.claim_key
FROM video_claim_orders o WHERE o.video_id = v.id;

DROP INDEX videos_claim_order;
CREATE INDEX videos_fair_order ON videos (claim_class, claim_key, id) WHERE status = 'pending';
