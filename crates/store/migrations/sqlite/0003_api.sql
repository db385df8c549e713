-- telegate store: what the HTTP API layer adds (sqlite). Never edit an applied migration.
-- Timestamps are Unix epoch milliseconds.

-- Webhooks: a description for operators, and the event log position at creation, so that a new
-- webhook receives the events appended after it was created, not the whole history.
ALTER TABLE webhooks ADD COLUMN description TEXT;
ALTER TABLE webhooks ADD COLUMN start_after_event_id BIGINT NOT NULL DEFAULT 0;

-- Deliveries: when the current retry window started (enqueue or manual redelivery; a delivery
-- still failing a day after it is dead-lettered) and when it was last tried.
ALTER TABLE webhook_deliveries ADD COLUMN window_started_at BIGINT;
ALTER TABLE webhook_deliveries ADD COLUMN last_attempt_at BIGINT;
CREATE INDEX webhook_deliveries_history ON webhook_deliveries (webhook_id, id);

-- Every delivery attempt, for the delivery history (status or transport error, duration).
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at BIGINT NOT NULL,
    status      INTEGER,                         -- HTTP status, NULL when no response arrived
    error       TEXT,                            -- why it failed (never a secret)
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Named positions in the event log for background consumers (the webhook dispatcher), so a
-- restart resumes where it stopped.
CREATE TABLE event_cursors (
    name        TEXT PRIMARY KEY,
    position    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
