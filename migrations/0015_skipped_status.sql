-- A video every category listing it filters out (its profile: migrations/0016) is
-- `skipped`: never claimed, counted apart. Alone in its migration: a new enum value
-- cannot be used in the transaction that adds it.
ALTER TYPE video_status ADD VALUE 'skipped';
