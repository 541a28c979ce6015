-- Content categories (issue 16): every video is classified from its tags by the inference
-- rules, as Horahora's scheduler did. Tags come from the listing entry when it carries
-- them, else from the downloaded video's metadata. The category follows the rules until
-- the video is delivered: a rule added later re-classifies the videos not yet done.
ALTER TABLE videos
    ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
    ADD COLUMN content_category text NOT NULL DEFAULT 'General';

-- The newest rule whose tag is one of the tags (case-insensitively) names the category;
-- none: General. One definition for the listing, the download and a new rule.
CREATE FUNCTION inferred_category(tags text[]) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN cardinality(tags) = 0 THEN 'General' ELSE coalesce(
        (SELECT r.category FROM inference_categories r
         WHERE lower(r.tag) IN (SELECT lower(t) FROM unnest(tags) AS t)
         ORDER BY r.id DESC LIMIT 1),
        'General') END
$$;
