-- The content hash a client announces when it initiates an upload
-- (UploadInitiated.content_hash); completion checks the parts against it.
ALTER TABLE files ADD COLUMN expected_hash CHAR(64) CHARACTER SET ascii NULL AFTER thumb_key;
