-- The claim reads only the rows it takes: each video carries its claim order (its
-- categories' most subscribers, its position there, the category its delivery is
-- recorded under), kept by every statement that changes subscriptions or listings,
-- and an index holds the pending ones in that order. (Before: a LATERAL lookup per
-- pending row and a sort of the whole queue, every claim; benchmarks/claims.py.)
ALTER TABLE videos ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN claim_position bigint NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN delivery_category_id bigint REFERENCES categories (id) ON DELETE SET NULL;

UPDATE videos v
SET priority = p.subscriber_count, claim_position = p.position, delivery_category_id = p.category_id
FROM (
    SELECT DISTINCT ON (cv.video_id) cv.video_id, c.subscriber_count, cv.position, cv.category_id
    FROM category_videos cv JOIN categories c ON c.id = cv.category_id
    ORDER BY cv.video_id, c.subscriber_count DESC, cv.position
) p
WHERE p.video_id = v.id;

CREATE INDEX videos_claim_order ON videos (priority DESC, claim_position, id) WHERE status = 'pending';
