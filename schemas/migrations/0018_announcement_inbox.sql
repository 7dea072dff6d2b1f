-- Announcements the operator also put in every user's inbox
-- (`beaver-admin announce --inbox`; docs/services.md, "System").
ALTER TABLE announcements ADD COLUMN inbox BOOLEAN NOT NULL DEFAULT FALSE;
