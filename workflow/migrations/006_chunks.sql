-- backstop schema, version 6: large messages in sealed chunks. A message
-- larger than one chunk (workflow.ChunkSize) is stored in message_chunks
-- instead of messages.raw (then NULL), so that neither writing nor reading
-- it holds the whole message in memory. Each chunk is sealed on its own;
-- its associated data names the message row, the chunk's index and the
-- chunk count, so that a chunk swapped, dropped or added no longer opens.
-- Messages stored before this version keep their raw column.
ALTER TABLE messages ADD COLUMN raw_chunks INTEGER NOT NULL DEFAULT 0;

CREATE TABLE message_chunks (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE, -- purged with its message (retention.audit)
    idx        INTEGER NOT NULL,           -- 0, 1, … raw_chunks-1
    data       BLOB    NOT NULL,           -- sealed
    UNIQUE (message_id, idx)
);

-- Purging a message's raw (retention) sets raw_chunks to 0: its chunks go
-- with it, whichever statement purged it.
CREATE TRIGGER message_chunks_purge AFTER UPDATE OF raw_chunks ON messages
WHEN NEW.raw_chunks = 0 AND OLD.raw_chunks > 0
BEGIN
    DELETE FROM message_chunks WHERE message_id = NEW.id;
END;
