//! SQL for what the HTTP API layer adds (migration `0003_api`): webhook management, delivery
//! history and manual redelivery, named event-log cursors, and the cheap read-only queries the
//! operations endpoints need.
//!
//! Why a child module of `sql`: it reuses the backend dispatch (`db!`) and the row types, and
//! keeps the API's queries in one place apart from the runtime's.

use super::*;

impl SqlStore {
    pub(super) async fn api_webhook(&self, id: i64) -> Result<Option<Webhook>> {
        let sql = format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = $1");
        let row: Option<WebhookRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    pub(super) async fn api_update_webhook(
        &self,
        id: i64,
        u: WebhookUpdate,
    ) -> Result<Option<Webhook>> {
        let now = now_ms();
        // COALESCE keeps a field when no new value is given; the description has a separate
        // "set" flag since NULL is a legal new value.
        let (set_description, description) = match u.description {
            Some(d) => (true, d),
            None => (false, None),
        };
        let sql = format!(
            "UPDATE webhooks SET url = COALESCE($1, url), event_filter = COALESCE($2, event_filter), \
             enabled = COALESCE($3, enabled), \
             description = CASE WHEN $4 THEN $5 ELSE description END, updated_at = $6 \
             WHERE id = $7 RETURNING {WEBHOOK_COLS}"
        );
        let row: Option<WebhookRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(u.url)
            .bind(u.event_filter)
            .bind(u.enabled)
            .bind(set_description)
            .bind(description)
            .bind(now)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    pub(super) async fn api_delete_webhook(&self, id: i64, actor: &str) -> Result<bool> {
        let now = now_ms();
        db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let account: Option<Option<i64>> =
                sqlx::query_scalar("SELECT account_id FROM webhooks WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(account) = account else {
                tx.rollback().await?;
                return Ok(false);
            };
            // Attempts and deliveries go with it (ON DELETE CASCADE; SQLite needs the foreign
            // keys pragma, so delete explicitly to be sure on both).
            sqlx::query(
                "DELETE FROM webhook_attempts WHERE delivery_id IN \
                 (SELECT id FROM webhook_deliveries WHERE webhook_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(account)
            .bind(actor)
            .bind(AuditAction::WebhookDeleted.as_str())
            .bind(json_text(&serde_json::json!({ "webhook_id": id })))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    pub(super) async fn api_enqueue_deliveries(
        &self,
        deliveries: &[(i64, i64)],
        cursor: &str,
        position: i64,
        now: i64,
    ) -> Result<u64> {
        let n = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut n = 0;
            for chunk in deliveries.chunks(200) {
                let sql = values_sql(
                    p.numbered_params(),
                    "INSERT INTO webhook_deliveries (webhook_id, event_id, state, next_attempt_at, \
                     created_at, window_started_at)",
                    6,
                    chunk.len(),
                    " ON CONFLICT (webhook_id, event_id) DO NOTHING",
                );
                let mut q = sqlx::query(&sql);
                for (webhook, event) in chunk {
                    q = q
                        .bind(*webhook)
                        .bind(*event)
                        .bind("pending")
                        .bind(now)
                        .bind(now)
                        .bind(now);
                }
                n += q.execute(&mut *tx).await?.rows_affected();
            }
            sqlx::query(
                "INSERT INTO event_cursors (name, position, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                 updated_at = excluded.updated_at",
            )
            .bind(cursor)
            .bind(position)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })?;
        Ok(n)
    }

    pub(super) async fn api_event_cursor(&self, name: &str) -> Result<Option<i64>> {
        Ok(db!(self, |p| sqlx::query_scalar(
            "SELECT position FROM event_cursors WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await)?)
    }

    pub(super) async fn api_webhook_deliveries(
        &self,
        q: DeliveryQuery,
    ) -> Result<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE webhook_id = $1 \
             AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<DeliveryRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(q.webhook_id)
            .bind(&q.state)
            .bind(q.before_id)
            .bind(q.limit as i64)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub(super) async fn api_webhook_delivery(&self, id: i64) -> Result<Option<WebhookDelivery>> {
        let sql = format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE id = $1");
        let row: Option<DeliveryRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    pub(super) async fn api_delivery_attempts(
        &self,
        delivery_id: i64,
    ) -> Result<Vec<DeliveryAttempt>> {
        type AttemptRow = (i64, i64, i64, Option<i32>, Option<String>, i64);
        let rows: Vec<AttemptRow> = db!(self, |p| sqlx::query_as(
            "SELECT id, delivery_id, attempted_at, status, error, duration_ms \
                 FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id"
        )
        .bind(delivery_id)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, delivery_id, attempted_at, status, error, duration_ms)| DeliveryAttempt {
                    id,
                    delivery_id,
                    attempted_at,
                    status,
                    error,
                    duration_ms,
                },
            )
            .collect())
    }

    pub(super) async fn api_record_delivery_attempt(
        &self,
        id: i64,
        outcome: DeliveryOutcome,
        duration_ms: i64,
        now: i64,
    ) -> Result<()> {
        let (state, status, error, next, delivered) = match outcome {
            DeliveryOutcome::Delivered { status } => {
                ("delivered", Some(status), None, now, Some(now))
            }
            DeliveryOutcome::Retry {
                status,
                error,
                next_attempt_at,
            } => ("pending", status, Some(error), next_attempt_at, None),
            DeliveryOutcome::Dead { status, error } => ("dead", status, Some(error), now, None),
        };
        db!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "INSERT INTO webhook_attempts (delivery_id, attempted_at, status, error, \
                 duration_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(now)
            .bind(status)
            .bind(&error)
            .bind(duration_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, \
                 last_status = $2, last_error = $3, next_attempt_at = $4, delivered_at = $5, \
                 last_attempt_at = $6 WHERE id = $7",
            )
            .bind(state)
            .bind(status)
            .bind(&error)
            .bind(next)
            .bind(delivered)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    pub(super) async fn api_redeliver(&self, id: i64, now: i64) -> Result<bool> {
        let n = db!(self, |p| {
            sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, \
             window_started_at = $1, delivered_at = NULL WHERE id = $2"
        )
        .bind(now)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub(super) async fn api_account_state_counts(&self) -> Result<Vec<(AccountState, u64)>> {
        let rows: Vec<(String, i64)> = db!(self, |p| sqlx::query_as(
            "SELECT state, COUNT(*) FROM accounts GROUP BY state ORDER BY state"
        )
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|(s, n)| Ok((s.parse()?, n as u64)))
            .collect()
    }

    pub(super) async fn api_ping(&self) -> Result<()> {
        let _: i32 = db!(self, |p| sqlx::query_scalar("SELECT 1").fetch_one(p).await)?;
        Ok(())
    }
}
