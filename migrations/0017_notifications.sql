-- Notifications (scheduler/notify): what happened, told in digests through Apprise URLs.
--
-- notify_events is an outbox: each event is written in the transaction of the change it
-- tells (a delivery, a failure for good, a breaker...), and only while a cursor wants its
-- kind (add_notice), so a service without notification URLs writes none.
CREATE TABLE notify_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL CHECK (kind <> ''),
    subject    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notify_events_kind ON notify_events (kind, id);

-- One cursor per notification URL (its SHA-256: the URL itself is a secret and is never
-- stored) and kind of event: the last event told, when it may be tried again, and the
-- lease of the instance sending its digest, so that one instance alone sends each.
CREATE TABLE notify_cursors (
    target           text NOT NULL CHECK (target <> ''),
    kind             text NOT NULL CHECK (kind <> ''),
    last_event_id    bigint NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at          timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    seen_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, kind),
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);
CREATE INDEX notify_cursors_kind ON notify_cursors (kind);

-- A category's listings that failed in a row (a success sets it back to 0): the third is
-- told ("a category whose listing keeps failing").
ALTER TABLE categories ADD COLUMN failed_listings integer NOT NULL DEFAULT 0 CHECK (failed_listings >= 0);

-- Whether an instance's death (its heartbeat stopped without a clean stop) was told.
ALTER TABLE instances ADD COLUMN death_told boolean NOT NULL DEFAULT false;
