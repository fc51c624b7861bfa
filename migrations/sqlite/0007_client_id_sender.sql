-- Idempotency keys belong to their sender (shared/DESIGN.md, invariant 8): a repeated client_id is recognised
-- per room AND sender, so one person's client_id can never swallow another's message. sender_key is set beside
-- every client_id: 'u:<account id>' for a signed-in user, 'g:<guest id>' for a guest (the chatweb_guest
-- cookie), 'import' for the imports (client ids 'django:<id>' and 'import:<room>:<id>').
ALTER TABLE messages ADD COLUMN sender_key TEXT;

-- Rows from before: (room, client_id) was unique, so any sender_key keeps them unique. The imports' get
-- 'import' (a second run must still find them), the others their author's account, or for a guest the name
-- ('n:' keeps it apart from any guest id).
UPDATE messages SET sender_key = CASE
    WHEN client_id LIKE 'django:%' OR client_id LIKE 'import:%' THEN 'import'
    WHEN author_id IS NOT NULL THEN 'u:' || author_id
    ELSE 'n:' || author
END
WHERE client_id IS NOT NULL;

DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_sender_client_id ON messages (room_id, sender_key, client_id)
    WHERE client_id IS NOT NULL;
