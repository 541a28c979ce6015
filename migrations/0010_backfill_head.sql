-- Where the backfill queue stands: the smallest key of a backfill video waiting for a
-- download (0 when none). A category's first listing, and a change of its subscribers,
-- start it from here (migrations/0009); one definition for both.
CREATE FUNCTION backfill_head() RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT claim_key FROM videos
                     WHERE status = 'pending' AND claim_class = 1 AND priority > 0
                     ORDER BY claim_class, claim_key LIMIT 1), 0)
$$;
