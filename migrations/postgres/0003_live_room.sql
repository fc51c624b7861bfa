-- The live room (issue 9). kind 3 is the edit of message `target`, its `body` the new text; `edited` marks a
-- message whose text an edit replaced.
ALTER TABLE messages ADD COLUMN edited BOOLEAN NOT NULL DEFAULT false;

-- Each signed-in user's last-read id per room. It only moves forward.
CREATE TABLE read_marks (
    user_id    BIGINT NOT NULL REFERENCES users (id),
    room_id    BIGINT NOT NULL REFERENCES rooms (id),
    last_read  BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
