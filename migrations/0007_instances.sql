-- Instances register themselves: `scheduler stats` lists who is alive, and ListDownloads
-- says whether the instance holding a video still beats. A row is written at start and
-- renewed by the instance's heartbeat (every SCHEDULER_SCHEDULE__LEASE_S / 3); its
-- expires_at is one lease ahead, so an instance counts as dead from the moment its
-- leases start to expire. A clean stop stamps stopped_at. Rows expired for a day go.
CREATE TABLE instances (
    id           text PRIMARY KEY CHECK (id <> ''),  -- the owner of the leases it takes
    host         text NOT NULL,
    pid          integer NOT NULL,
    version      text NOT NULL,
    workers      integer NOT NULL CHECK (workers >= 0),  -- SCHEDULER_DOWNLOADER__WORKERS
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    stopped_at   timestamptz
);
CREATE INDEX instances_expiry ON instances (expires_at);

-- '' for an owner that never registered (a release before this one, during an upgrade).
CREATE FUNCTION instance_state(i instances) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN i.id IS NULL THEN ''
                WHEN i.stopped_at IS NOT NULL THEN 'stopped'
                WHEN i.expires_at < now() THEN 'dead'
                ELSE 'alive' END
$$;
