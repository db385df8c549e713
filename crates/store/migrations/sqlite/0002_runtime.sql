-- The account runtime's additions (issue 6). Never edit 0001; new changes get new files.

-- Outcomes of operations that carried an idempotency key (sends, chat creation, …): a retry
-- with the same key and request gets the recorded outcome back; the same key with another
-- request is refused. `fingerprint` is a hash of the request, `outcome` its JSON result.
CREATE TABLE idempotency_keys (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Mirror pages sorted like chat lists (see Store::chats_page).
CREATE INDEX chats_page ON chats (account_id, (COALESCE(last_message_at, -1)) DESC, peer_id);
