-- telegate store: what the media checks of uploads add. Never edit an applied migration.

-- The verdict of the content checks an upload passed through once its bytes were complete
-- (the spool file is gone by the time it is sent): `image WxH` for a decodable image, or
-- `invalid: <reason>`. NULL: not an image, or not checked.
ALTER TABLE uploads ADD COLUMN media_check TEXT;
