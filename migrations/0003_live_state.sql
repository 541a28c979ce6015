-- Live state across instances: WatchDownloads and CancelDownload.

-- A CancelDownload waiting for the instance that holds the video: back to 'pending' or to 'failed'.
ALTER TABLE videos ADD COLUMN cancel_request video_status
    CHECK (cancel_request IS NULL OR cancel_request IN ('pending', 'failed'));

-- Every statement that changes videos tells the watchers which ones, in one NOTIFY per
-- statement (not per row); a large change says "*": reload everything in flight.
CREATE FUNCTION notify_video_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed_ids text;
    changed_count integer;
BEGIN
    SELECT count(*), string_agg(id::text, ',') INTO changed_count, changed_ids FROM changed;
    IF changed_count > 0 THEN
        PERFORM pg_notify('scheduler_videos', CASE WHEN changed_count > 200 THEN '*' ELSE changed_ids END);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER videos_changed AFTER UPDATE ON videos
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION notify_video_changes();
