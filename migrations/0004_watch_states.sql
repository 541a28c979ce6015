-- WatchDownloads must see every state a video passes through, even one that lasts a
-- moment (uploading a small file): the notification carries each row's status at the
-- time of the change ("id:status,..."), not just its id.
CREATE OR REPLACE FUNCTION notify_video_changes() RETURNS trigger LANGUAGE plpgsql AS $$
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
$$;
