-- The work and the record: categories, who subscribes to them, their videos, what
-- was delivered and what happened. PostgreSQL is the queue: claims take due rows
-- FOR UPDATE SKIP LOCKED and stamp a lease (owner + expiry); an expired lease makes
-- the row due again, which is how a crashed instance's work is picked up.

CREATE TYPE video_status AS ENUM ('pending', 'queued', 'downloading', 'uploading', 'done', 'failed');
CREATE TYPE approval_state AS ENUM ('unreviewed', 'approved', 'rejected');
CREATE TYPE category_kind AS ENUM ('url', 'tag', 'channel', 'playlist');

CREATE TABLE categories (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url                    text NOT NULL UNIQUE CHECK (url <> ''),
    website                text NOT NULL CHECK (website <> ''),
    kind                   category_kind NOT NULL,
    disable_download_cache boolean NOT NULL DEFAULT false,
    -- Kept in the same transaction as every subscription change; claims order by it.
    subscriber_count       integer NOT NULL DEFAULT 0 CHECK (subscriber_count >= 0),
    last_synced            timestamptz,
    -- Doubles (up to a maximum) after a sync that finds nothing new, resets to 1 otherwise.
    backoff_factor         integer NOT NULL DEFAULT 1 CHECK (backoff_factor >= 1),
    next_sync_at           timestamptz NOT NULL DEFAULT now(),
    lease_owner            text,
    lease_expires_at       timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);

-- Syncers claim subscribed categories that are due or whose lease expired.
CREATE INDEX categories_due ON categories (next_sync_at) WHERE subscriber_count > 0;
CREATE INDEX categories_leased ON categories (lease_expires_at) WHERE lease_owner IS NOT NULL;

CREATE TABLE subscriptions (
    user_id     bigint NOT NULL CHECK (user_id > 0),
    category_id bigint NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, category_id)
);
CREATE INDEX subscriptions_category ON subscriptions (category_id);

CREATE TABLE videos (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    website          text NOT NULL CHECK (website <> ''),
    foreign_id       text NOT NULL CHECK (foreign_id <> ''),
    url              text NOT NULL CHECK (url <> ''),
    title            text NOT NULL DEFAULT '',
    status           video_status NOT NULL DEFAULT 'pending',
    approval         approval_state NOT NULL DEFAULT 'unreviewed',
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    bytes_done       bigint NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
    bytes_total      bigint NOT NULL DEFAULT 0 CHECK (bytes_total >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (website, foreign_id),
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
    -- A video in flight always has an owner; one at rest never has.
    CHECK ((status IN ('queued', 'downloading', 'uploading')) = (lease_owner IS NOT NULL))
);

-- The claim: pending videos whose next attempt is due (partial: only claimable rows)...
CREATE INDEX videos_claimable ON videos (next_attempt_at) WHERE status = 'pending';
-- ...and videos in flight whose lease expired (a crashed instance); also ListDownloads.
CREATE INDEX videos_in_flight ON videos (lease_expires_at)
    WHERE status IN ('queued', 'downloading', 'uploading');
CREATE INDEX videos_unreviewed ON videos (id) WHERE approval = 'unreviewed' AND status = 'pending';
CREATE INDEX videos_failed ON videos (id) WHERE status = 'failed';

CREATE TABLE category_videos (
    category_id bigint NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    video_id    bigint NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    -- 0 is the category's oldest video: downloads go oldest first.
    position    bigint NOT NULL,
    PRIMARY KEY (category_id, video_id)
);
CREATE INDEX category_videos_order ON category_videos (category_id, position);
CREATE INDEX category_videos_video ON category_videos (video_id);

CREATE TABLE previous_downloads (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_id         bigint NOT NULL UNIQUE REFERENCES videos (id),
    category_id      bigint REFERENCES categories (id) ON DELETE SET NULL,
    -- The id the Video Service gave the upload.
    video_service_id text NOT NULL,
    downloaded_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE archival_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    category_id bigint REFERENCES categories (id) ON DELETE CASCADE,
    video_id    bigint REFERENCES videos (id) ON DELETE CASCADE,
    message     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- ListEvents: newest first, per category or across all.
CREATE INDEX archival_events_category ON archival_events (category_id, id DESC);

CREATE TABLE inference_categories (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tag        text NOT NULL CHECK (tag <> ''),
    category   text NOT NULL CHECK (category <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Tags match case-insensitively: one rule per lower-cased tag.
CREATE UNIQUE INDEX inference_categories_tag ON inference_categories (lower(tag));
