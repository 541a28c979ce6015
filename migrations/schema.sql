-- The schema migrations/NNNN_*.sql build, written by `nox -s schema` from a migrated
-- database (scheduler/db/snapshot.py). Read it; do not edit it: tests/test_migrations.py
-- fails when it and the migrations differ.


CREATE TYPE approval_state AS ENUM ('unreviewed', 'approved', 'rejected');

CREATE TYPE category_kind AS ENUM ('url', 'tag', 'channel', 'playlist');

CREATE TYPE video_status AS ENUM ('pending', 'queued', 'downloading', 'uploading', 'done', 'failed', 'skipped');

CREATE TABLE archival_events (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    category_id bigint,
    video_id bigint,
    message text NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE categories (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    url text NOT NULL,
    website text NOT NULL,
    kind category_kind NOT NULL,
    disable_download_cache boolean NOT NULL DEFAULT false,
    subscriber_count integer NOT NULL DEFAULT 0,
    last_synced timestamp with time zone,
    backoff_factor integer NOT NULL DEFAULT 1,
    next_sync_at timestamp with time zone NOT NULL DEFAULT now(),
    lease_owner text,
    lease_expires_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    sync_count integer NOT NULL DEFAULT 0,
    claim_base double precision NOT NULL DEFAULT 0,
    profile jsonb NOT NULL DEFAULT '{}'::jsonb,
    failed_listings integer NOT NULL DEFAULT 0
);

CREATE TABLE category_counts (
    category_id bigint NOT NULL,
    total_videos bigint NOT NULL DEFAULT 0,
    archived_videos bigint NOT NULL DEFAULT 0,
    undownloadable_videos bigint NOT NULL DEFAULT 0,
    skipped_videos bigint NOT NULL DEFAULT 0
);

CREATE TABLE category_queues (
    category_id bigint NOT NULL,
    weight integer NOT NULL DEFAULT 0,
    upload_pass double precision NOT NULL DEFAULT 0,
    backfill_pass double precision NOT NULL DEFAULT 0,
    waiting_uploads bigint NOT NULL DEFAULT 0,
    waiting_backfill bigint NOT NULL DEFAULT 0
);

CREATE TABLE category_videos (
    category_id bigint NOT NULL,
    video_id bigint NOT NULL,
    position bigint NOT NULL,
    upload_rank bigint,
    lane smallint DEFAULT 
CASE
    WHEN (upload_rank IS NULL) THEN 1
    ELSE 0
END,
    place bigint DEFAULT 
CASE
    WHEN (upload_rank IS NULL) THEN "position"
    ELSE (- "position")
END,
    waiting boolean NOT NULL DEFAULT false
);

CREATE TABLE inference_categories (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    tag text NOT NULL,
    category text NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE instances (
    id text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    version text NOT NULL,
    workers integer NOT NULL,
    started_at timestamp with time zone NOT NULL DEFAULT now(),
    heartbeat_at timestamp with time zone NOT NULL DEFAULT now(),
    expires_at timestamp with time zone NOT NULL,
    stopped_at timestamp with time zone,
    death_told boolean NOT NULL DEFAULT false
);

CREATE TABLE notify_cursors (
    target text NOT NULL,
    kind text NOT NULL,
    last_event_id bigint NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0,
    next_at timestamp with time zone NOT NULL DEFAULT now(),
    lease_owner text,
    lease_expires_at timestamp with time zone,
    seen_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE notify_events (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE previous_downloads (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    video_id bigint NOT NULL,
    category_id bigint,
    video_service_id text NOT NULL,
    downloaded_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE site_breakers (
    site text NOT NULL,
    state text NOT NULL DEFAULT 'closed'::text,
    reason text NOT NULL DEFAULT ''::text,
    openings integer NOT NULL DEFAULT 0,
    opened_at timestamp with time zone,
    probe_at timestamp with time zone,
    probe_owner text,
    served boolean NOT NULL DEFAULT false,
    updated_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    user_id bigint NOT NULL,
    category_id bigint NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE videos (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    website text NOT NULL,
    foreign_id text NOT NULL,
    url text NOT NULL,
    title text NOT NULL DEFAULT ''::text,
    status video_status NOT NULL DEFAULT 'pending'::video_status,
    approval approval_state NOT NULL DEFAULT 'unreviewed'::approval_state,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    next_attempt_at timestamp with time zone NOT NULL DEFAULT now(),
    lease_owner text,
    lease_expires_at timestamp with time zone,
    bytes_done bigint NOT NULL DEFAULT 0,
    bytes_total bigint NOT NULL DEFAULT 0,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    listed jsonb NOT NULL DEFAULT '{}'::jsonb,
    cancel_request video_status,
    priority integer NOT NULL DEFAULT 0,
    claim_position bigint NOT NULL DEFAULT 0,
    delivery_category_id bigint,
    claim_class smallint NOT NULL DEFAULT 1,
    claim_key double precision NOT NULL DEFAULT 0,
    tags text[] NOT NULL DEFAULT '{}'::text[],
    content_category text NOT NULL DEFAULT 'General'::text,
    metadata_fetched boolean NOT NULL DEFAULT false,
    deferred boolean NOT NULL DEFAULT false,
    skip_reason text
);

ALTER TABLE archival_events ADD CONSTRAINT archival_events_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE CASCADE;

ALTER TABLE archival_events ADD CONSTRAINT archival_events_pkey PRIMARY KEY (id);

ALTER TABLE archival_events ADD CONSTRAINT archival_events_video_id_fkey FOREIGN KEY (video_id) REFERENCES videos(id) ON DELETE CASCADE;

ALTER TABLE categories ADD CONSTRAINT categories_backoff_factor_check CHECK ((backoff_factor >= 1));

ALTER TABLE categories ADD CONSTRAINT categories_check CHECK (((lease_owner IS NULL) = (lease_expires_at IS NULL)));

ALTER TABLE categories ADD CONSTRAINT categories_failed_listings_check CHECK ((failed_listings >= 0));

ALTER TABLE categories ADD CONSTRAINT categories_pkey PRIMARY KEY (id);

ALTER TABLE categories ADD CONSTRAINT categories_subscriber_count_check CHECK ((subscriber_count >= 0));

ALTER TABLE categories ADD CONSTRAINT categories_sync_count_check CHECK ((sync_count >= 0));

ALTER TABLE categories ADD CONSTRAINT categories_url_check CHECK ((url <> ''::text));

ALTER TABLE categories ADD CONSTRAINT categories_url_key UNIQUE (url);

ALTER TABLE categories ADD CONSTRAINT categories_website_check CHECK ((website <> ''::text));

ALTER TABLE category_counts ADD CONSTRAINT category_counts_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE CASCADE;

ALTER TABLE category_counts ADD CONSTRAINT category_counts_pkey PRIMARY KEY (category_id);

ALTER TABLE category_queues ADD CONSTRAINT category_queues_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE CASCADE;

ALTER TABLE category_queues ADD CONSTRAINT category_queues_pkey PRIMARY KEY (category_id);

ALTER TABLE category_queues ADD CONSTRAINT category_queues_waiting_backfill_check CHECK ((waiting_backfill >= 0));

ALTER TABLE category_queues ADD CONSTRAINT category_queues_waiting_uploads_check CHECK ((waiting_uploads >= 0));

ALTER TABLE category_queues ADD CONSTRAINT category_queues_weight_check CHECK ((weight >= 0));

ALTER TABLE category_videos ADD CONSTRAINT category_videos_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE CASCADE;

ALTER TABLE category_videos ADD CONSTRAINT category_videos_pkey PRIMARY KEY (category_id, video_id);

ALTER TABLE category_videos ADD CONSTRAINT category_videos_video_id_fkey FOREIGN KEY (video_id) REFERENCES videos(id) ON DELETE CASCADE;

ALTER TABLE inference_categories ADD CONSTRAINT inference_categories_category_check CHECK ((category <> ''::text));

ALTER TABLE inference_categories ADD CONSTRAINT inference_categories_pkey PRIMARY KEY (id);

ALTER TABLE inference_categories ADD CONSTRAINT inference_categories_tag_check CHECK ((tag <> ''::text));

ALTER TABLE instances ADD CONSTRAINT instances_id_check CHECK ((id <> ''::text));

ALTER TABLE instances ADD CONSTRAINT instances_pkey PRIMARY KEY (id);

ALTER TABLE instances ADD CONSTRAINT instances_workers_check CHECK ((workers >= 0));

ALTER TABLE notify_cursors ADD CONSTRAINT notify_cursors_attempts_check CHECK ((attempts >= 0));

ALTER TABLE notify_cursors ADD CONSTRAINT notify_cursors_check CHECK (((lease_owner IS NULL) = (lease_expires_at IS NULL)));

ALTER TABLE notify_cursors ADD CONSTRAINT notify_cursors_kind_check CHECK ((kind <> ''::text));

ALTER TABLE notify_cursors ADD CONSTRAINT notify_cursors_pkey PRIMARY KEY (target, kind);

ALTER TABLE notify_cursors ADD CONSTRAINT notify_cursors_target_check CHECK ((target <> ''::text));

ALTER TABLE notify_events ADD CONSTRAINT notify_events_kind_check CHECK ((kind <> ''::text));

ALTER TABLE notify_events ADD CONSTRAINT notify_events_pkey PRIMARY KEY (id);

ALTER TABLE previous_downloads ADD CONSTRAINT previous_downloads_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE SET NULL;

ALTER TABLE previous_downloads ADD CONSTRAINT previous_downloads_pkey PRIMARY KEY (id);

ALTER TABLE previous_downloads ADD CONSTRAINT previous_downloads_video_id_fkey FOREIGN KEY (video_id) REFERENCES videos(id);

ALTER TABLE previous_downloads ADD CONSTRAINT previous_downloads_video_id_key UNIQUE (video_id);

ALTER TABLE schema_migrations ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE site_breakers ADD CONSTRAINT site_breakers_check CHECK (((state = 'closed'::text) = (probe_at IS NULL)));

ALTER TABLE site_breakers ADD CONSTRAINT site_breakers_openings_check CHECK ((openings >= 0));

ALTER TABLE site_breakers ADD CONSTRAINT site_breakers_pkey PRIMARY KEY (site);

ALTER TABLE site_breakers ADD CONSTRAINT site_breakers_site_check CHECK ((site <> ''::text));

ALTER TABLE site_breakers ADD CONSTRAINT site_breakers_state_check CHECK ((state = ANY (ARRAY['closed'::text, 'open'::text, 'probing'::text])));

ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE CASCADE;

ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (user_id, category_id);

ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_user_id_check CHECK ((user_id > 0));

ALTER TABLE videos ADD CONSTRAINT videos_attempts_check CHECK ((attempts >= 0));

ALTER TABLE videos ADD CONSTRAINT videos_bytes_done_check CHECK ((bytes_done >= 0));

ALTER TABLE videos ADD CONSTRAINT videos_bytes_total_check CHECK ((bytes_total >= 0));

ALTER TABLE videos ADD CONSTRAINT videos_cancel_request_check CHECK (((cancel_request IS NULL) OR (cancel_request = ANY (ARRAY['pending'::video_status, 'failed'::video_status]))));

ALTER TABLE videos ADD CONSTRAINT videos_check CHECK (((lease_owner IS NULL) = (lease_expires_at IS NULL)));

ALTER TABLE videos ADD CONSTRAINT videos_check1 CHECK (((status = ANY (ARRAY['queued'::video_status, 'downloading'::video_status, 'uploading'::video_status])) = (lease_owner IS NOT NULL)));

ALTER TABLE videos ADD CONSTRAINT videos_delivery_category_id_fkey FOREIGN KEY (delivery_category_id) REFERENCES categories(id) ON DELETE SET NULL;

ALTER TABLE videos ADD CONSTRAINT videos_foreign_id_check CHECK ((foreign_id <> ''::text));

ALTER TABLE videos ADD CONSTRAINT videos_pkey PRIMARY KEY (id);

ALTER TABLE videos ADD CONSTRAINT videos_skip_reason_check CHECK (((status = 'skipped'::video_status) = (skip_reason IS NOT NULL)));

ALTER TABLE videos ADD CONSTRAINT videos_url_check CHECK ((url <> ''::text));

ALTER TABLE videos ADD CONSTRAINT videos_website_check CHECK ((website <> ''::text));

ALTER TABLE videos ADD CONSTRAINT videos_website_foreign_id_key UNIQUE (website, foreign_id);

CREATE INDEX archival_events_category ON public.archival_events USING btree (category_id, id DESC);

CREATE INDEX categories_due ON public.categories USING btree (next_sync_at) WHERE (subscriber_count > 0);

CREATE INDEX categories_leased ON public.categories USING btree (lease_expires_at) WHERE (lease_owner IS NOT NULL);

CREATE INDEX category_queues_backfill ON public.category_queues USING btree (backfill_pass, category_id) WHERE ((weight > 0) AND (waiting_backfill > 0));

CREATE INDEX category_queues_uploads ON public.category_queues USING btree (upload_pass, category_id) WHERE ((weight > 0) AND (waiting_uploads > 0));

CREATE INDEX category_videos_order ON public.category_videos USING btree (category_id, "position");

CREATE INDEX category_videos_video_category ON public.category_videos USING btree (video_id, category_id);

CREATE INDEX category_videos_waiting ON public.category_videos USING btree (category_id, lane, place) WHERE waiting;

CREATE UNIQUE INDEX inference_categories_tag ON public.inference_categories USING btree (lower(tag));

CREATE INDEX instances_expiry ON public.instances USING btree (expires_at);

CREATE INDEX notify_cursors_kind ON public.notify_cursors USING btree (kind);

CREATE INDEX notify_events_kind ON public.notify_events USING btree (kind, id);

CREATE INDEX subscriptions_category ON public.subscriptions USING btree (category_id);

CREATE INDEX videos_awaiting_metadata ON public.videos USING btree (id) WHERE ((approval = 'unreviewed'::approval_state) AND (status = 'pending'::video_status) AND (NOT metadata_fetched) AND (cardinality(tags) = 0));

CREATE INDEX videos_claimable ON public.videos USING btree (next_attempt_at) WHERE (status = 'pending'::video_status);

CREATE INDEX videos_deferred ON public.videos USING btree (next_attempt_at) WHERE deferred;

CREATE INDEX videos_failed ON public.videos USING btree (id) WHERE (status = 'failed'::video_status);

CREATE INDEX videos_fair_order ON public.videos USING btree (claim_class, claim_key, id) WHERE (status = 'pending'::video_status);

CREATE INDEX videos_in_flight ON public.videos USING btree (lease_expires_at) WHERE (status = ANY (ARRAY['queued'::video_status, 'downloading'::video_status, 'uploading'::video_status]));

CREATE INDEX videos_unreviewed ON public.videos USING btree (id) WHERE ((approval = 'unreviewed'::approval_state) AND (status = 'pending'::video_status));

CREATE VIEW video_claim_orders AS
SELECT DISTINCT ON (cv.video_id) cv.video_id,
    cv.category_id,
    cv."position",
    c.subscriber_count,
    (
        CASE
            WHEN (cv.upload_rank IS NULL) THEN 1
            ELSE 0
        END)::smallint AS claim_class,
    fair_claim_key(c.claim_base, cv."position", cv.upload_rank, c.subscriber_count) AS claim_key
   FROM (category_videos cv
     JOIN categories c ON ((c.id = cv.category_id)))
  ORDER BY cv.video_id, (c.subscriber_count > 0) DESC, (cv.upload_rank IS NOT NULL) DESC, (fair_claim_key(c.claim_base, cv."position", cv.upload_rank, c.subscriber_count)), c.subscriber_count DESC, cv.category_id;

CREATE OR REPLACE FUNCTION public.backfill_head()
 RETURNS double precision
 LANGUAGE sql
 STABLE
AS $function$
    SELECT coalesce((SELECT claim_key FROM videos
                     WHERE status = 'pending' AND claim_class = 1 AND priority > 0
                     ORDER BY claim_class, claim_key LIMIT 1), 0)
$function$;

CREATE OR REPLACE FUNCTION public.count_added_videos()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.count_changed_videos()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.fair_claim_key(base double precision, place bigint, upload_rank bigint, subscribers integer)
 RETURNS double precision
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT CASE WHEN upload_rank IS NULL THEN base + place::float8 / greatest(subscribers, 1)
                ELSE upload_rank::float8 / greatest(subscribers, 1) END
$function$;

CREATE OR REPLACE FUNCTION public.follow_queues(category bigint[], uploads bigint[], backfill bigint[], taken_uploads bigint[], taken_backfill bigint[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.inferred_category(tags text[])
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT CASE WHEN cardinality(tags) = 0 THEN 'General' ELSE coalesce(
        (SELECT r.category FROM inference_categories r
         WHERE lower(r.tag) IN (SELECT lower(t) FROM unnest(tags) AS t)
         ORDER BY r.id DESC LIMIT 1),
        'General') END
$function$;

CREATE OR REPLACE FUNCTION public.instance_state(i instances)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT CASE WHEN i.id IS NULL THEN ''
                WHEN i.stopped_at IS NOT NULL THEN 'stopped'
                WHEN i.expires_at < now() THEN 'dead'
                ELSE 'alive' END
$function$;

CREATE OR REPLACE FUNCTION public.notify_video_changes()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    changes text;
    changed_count integer;
BEGIN
    SELECT count(*), string_agg(id || ':' || status, ',') INTO changed_count, changes FROM changed;
    IF changed_count > 0 THEN
        PERFORM pg_notify('scheduler_videos', CASE WHEN changed_count > 200 THEN '*' ELSE changes END);
    END IF;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.queue_added_videos()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.queue_changed_videos()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.queue_head(lane smallint)
 RETURNS double precision
 LANGUAGE sql
 STABLE
AS $function$
    SELECT CASE WHEN lane = 0
                THEN (SELECT min(upload_pass) FROM category_queues WHERE weight > 0 AND waiting_uploads > 0)
                ELSE (SELECT min(backfill_pass) FROM category_queues WHERE weight > 0 AND waiting_backfill > 0)
           END
$function$;

CREATE OR REPLACE FUNCTION public.queue_new_category()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    INSERT INTO category_queues (category_id, weight) VALUES (NEW.id, NEW.subscriber_count);
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.queue_reweighed_category()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    UPDATE category_queues
    SET weight = NEW.subscriber_count,
        upload_pass = coalesce(queue_head(0::smallint), upload_pass),
        backfill_pass = coalesce(queue_head(1::smallint), backfill_pass)
    WHERE category_id = NEW.id;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.video_in_queue(status video_status, deferred boolean)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT status IN ('pending', 'queued', 'downloading', 'uploading') AND NOT deferred
$function$;

CREATE OR REPLACE FUNCTION public.video_waits(status video_status, deferred boolean)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT status = 'pending' AND NOT deferred
$function$;

CREATE OR REPLACE FUNCTION public.website_in_site(website text, site text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT CASE WHEN site LIKE '*.%'
                THEN website = substr(site, 3) OR website LIKE '%.' || substr(site, 3)
                ELSE website = site END
$function$;

CREATE TRIGGER categories_queued AFTER INSERT ON public.categories FOR EACH ROW EXECUTE FUNCTION queue_new_category();

CREATE TRIGGER categories_reweighed AFTER UPDATE OF subscriber_count ON public.categories FOR EACH ROW WHEN ((old.subscriber_count IS DISTINCT FROM new.subscriber_count)) EXECUTE FUNCTION queue_reweighed_category();

CREATE TRIGGER category_videos_counted AFTER INSERT ON public.category_videos REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION count_added_videos();

CREATE TRIGGER category_videos_queued AFTER INSERT ON public.category_videos REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION queue_added_videos();

CREATE TRIGGER videos_changed AFTER UPDATE ON public.videos REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_video_changes();

CREATE TRIGGER videos_counted AFTER UPDATE ON public.videos REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_changed_videos();

CREATE TRIGGER videos_queued AFTER UPDATE ON public.videos REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_changed_videos();
