-- A circuit breaker per site (the key of its SCHEDULER_SITES__LIMITS entry: a pattern such
-- as "*.nicovideo.jp", or a host). Throttling or blocking errors open it: no instance sends
-- the site a request until probe_at, then one instance takes the probe ('probing', with
-- probe_at as the probe's own deadline); the probe's success closes it, a throttle
-- reopens it with twice the cool-down. Shared by every instance, kept across restarts.
CREATE TABLE site_breakers (
    site        text PRIMARY KEY CHECK (site <> ''),
    state       text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'probing')),
    reason      text NOT NULL DEFAULT '',
    -- Openings since it last closed: the cool-down is min x 2^(openings - 1), at most max.
    openings    integer NOT NULL DEFAULT 0 CHECK (openings >= 0),
    opened_at   timestamptz,
    probe_at    timestamptz,
    probe_owner text,  -- the holder (<instance>:video:<id>) whose request is the probe
    -- The site has served us: a 403 from it now means we are blocked, not a private video.
    served      boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'closed') = (probe_at IS NULL))
);

-- Whether a website (a host) falls under a site key: the host itself, or "*.domain" for the
-- domain and every host under it (scheduler/site_limits.py decides which key governs; this
-- only finds a key's work, for an operator's reset).
CREATE FUNCTION website_in_site(website text, site text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN site LIKE '*.%'
                THEN website = substr(site, 3) OR website LIKE '%.' || substr(site, 3)
                ELSE website = site END
$$;
