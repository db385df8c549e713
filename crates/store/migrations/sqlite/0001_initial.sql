-- telegate store, initial schema (SQLite). Never edit an applied migration: add a new file.
-- Timestamps are Unix epoch milliseconds (BIGINT) on both backends.
-- Secret columns are sealed by the vault (see src/vault.rs) and carry the sealing key id next to them.

CREATE TABLE vault_keys (
    id          INTEGER PRIMARY KEY,             -- data key id (> 0), in every sealed header
    wrapped     BLOB,                            -- data key sealed under the master key; NULL once retired
    master_fp   TEXT NOT NULL,                   -- fingerprint of the master key that wrapped it
    state       TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

CREATE TABLE vault_rotations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    target_key_id INTEGER NOT NULL REFERENCES vault_keys (id),
    state         TEXT NOT NULL CHECK (state IN ('running', 'done')),
    rows_done     BIGINT NOT NULL DEFAULT 0,
    batches_done  BIGINT NOT NULL DEFAULT 0,
    started_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT
);

CREATE TABLE accounts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT NOT NULL CHECK (kind IN ('user', 'bot')),
    phone             TEXT,
    bot_id            BIGINT,
    user_id           BIGINT,
    label             TEXT,
    state             TEXT NOT NULL,
    state_reason      TEXT,
    home_dc           INTEGER NOT NULL DEFAULT 2,
    api_id            INTEGER,
    test_mode         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    last_used_at      BIGINT,
    last_connected_at BIGINT,
    revoked_at        BIGINT
);
CREATE INDEX accounts_user_id ON accounts (user_id);
CREATE INDEX accounts_phone ON accounts (phone);

-- One row per (account, DC): grammers' DcOption. auth_key is sealed (AD row = "account_id:dc_id").
CREATE TABLE dc_sessions (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    dc_id       INTEGER NOT NULL,
    ipv4        TEXT,
    ipv6        TEXT,
    auth_key    BLOB,
    key_id      INTEGER,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    PRIMARY KEY (account_id, dc_id)
);
CREATE INDEX dc_sessions_key_id ON dc_sessions (key_id);
CREATE INDEX dc_sessions_revoked ON dc_sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Peer cache: what grammers' Session::peer needs, plus resolvable names.
-- peer_id is the Bot API dialog id (users > 0, chats < 0, channels -100…).
CREATE TABLE peers (
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    peer_id      BIGINT NOT NULL,
    kind         INTEGER NOT NULL,               -- 1 user, 2 chat, 3 channel
    access_hash  BIGINT,
    is_bot       BOOLEAN,
    is_self      BOOLEAN NOT NULL DEFAULT FALSE,
    channel_kind INTEGER,
    username     TEXT,
    phone        TEXT,
    display_name TEXT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, peer_id)
) WITHOUT ROWID;                                 -- clustered by account: one account's peers are contiguous
CREATE INDEX peers_username ON peers (account_id, username) WHERE username IS NOT NULL;
CREATE INDEX peers_self ON peers (account_id) WHERE is_self;

CREATE TABLE update_states (
    account_id  BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    pts         INTEGER NOT NULL,
    qts         INTEGER NOT NULL,
    date        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE channel_states (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    channel_id  BIGINT NOT NULL,
    pts         INTEGER NOT NULL,
    PRIMARY KEY (account_id, channel_id)
);

CREATE TABLE chats (
    account_id      BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    peer_id         BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    title           TEXT,
    username        TEXT,
    unread_count    INTEGER NOT NULL DEFAULT 0,
    last_message_id INTEGER,
    last_message_at BIGINT,
    pinned          BOOLEAN NOT NULL DEFAULT FALSE,
    archived        BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, peer_id)
);
CREATE INDEX chats_recent ON chats (account_id, last_message_at DESC);

CREATE TABLE messages (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    peer_id     BIGINT NOT NULL,
    message_id  INTEGER NOT NULL,
    sender_id   BIGINT,
    date        BIGINT NOT NULL,
    text        TEXT,
    entities    TEXT,                            -- JSON
    media       TEXT,                            -- JSON media reference
    reply_to_id INTEGER,
    outgoing    BOOLEAN NOT NULL DEFAULT FALSE,
    edit_date   BIGINT,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at  BIGINT,
    PRIMARY KEY (account_id, peer_id, message_id)
);
CREATE INDEX messages_by_id ON messages (account_id, message_id);

CREATE TABLE contacts (
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL,
    access_hash BIGINT,
    phone       TEXT,
    first_name  TEXT,
    last_name   TEXT,
    username    TEXT,
    mutual      BOOLEAN NOT NULL DEFAULT FALSE,
    job_title   TEXT,                            -- app fields: never sent to Telegram
    company     TEXT,
    notes       TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);

CREATE TABLE invite_links (
    account_id     BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    link           TEXT NOT NULL,
    peer_id        BIGINT NOT NULL,
    title          TEXT,
    admin_id       BIGINT,
    usage_limit    INTEGER,
    current_uses   INTEGER NOT NULL DEFAULT 0,
    request_needed BOOLEAN NOT NULL DEFAULT FALSE,
    expire_at      BIGINT,
    revoked        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, link)
);
CREATE INDEX invite_links_peer ON invite_links (account_id, peer_id);

CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    file_id     BIGINT NOT NULL,                 -- Telegram's random file id for saveFilePart
    name        TEXT NOT NULL,
    mime_type   TEXT,
    total_size  BIGINT NOT NULL,
    part_size   INTEGER NOT NULL,
    total_parts INTEGER NOT NULL,
    big         BOOLEAN NOT NULL,
    parts_done  BLOB NOT NULL,                   -- bitmap, bit i = part i saved
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,           -- SHA-256 of the token; the token is never stored
    prefix       TEXT NOT NULL,                  -- first characters, to recognise a token in lists
    scopes       TEXT NOT NULL,
    account_id   BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE webhooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    url          TEXT NOT NULL,
    secret       BLOB,                           -- sealed signing secret
    key_id       INTEGER,
    event_filter TEXT NOT NULL,
    enabled      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX webhooks_key_id ON webhooks (key_id);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);

-- Durable event log. Ids come from event_seq, bumped inside the appending transaction, so ids
-- become visible in commit order and "read after id N" never skips a late commit.
CREATE TABLE event_seq (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    last  BIGINT NOT NULL
);
INSERT INTO event_seq (id, last) VALUES (1, 0);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,             -- rowid alias, assigned from event_seq
    account_id  BIGINT,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,                   -- JSON
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_account ON events (account_id, id);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    details     TEXT NOT NULL,                   -- JSON, never secrets
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);

-- A half-finished login (at most one per account); secret_state is sealed.
CREATE TABLE pending_logins (
    account_id   BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    flow         TEXT NOT NULL,
    step         TEXT NOT NULL,
    dc_id        INTEGER NOT NULL,
    phone        TEXT,
    secret_state BLOB,
    key_id       INTEGER,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX pending_logins_expiry ON pending_logins (expires_at);
CREATE INDEX pending_logins_key_id ON pending_logins (key_id);

-- The original text of an imported session string / file, sealed, for audited re-export.
CREATE TABLE session_imports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    format      TEXT NOT NULL,
    source      BLOB,
    key_id      INTEGER,
    created_at  BIGINT NOT NULL
);
CREATE INDEX session_imports_key_id ON session_imports (key_id);
