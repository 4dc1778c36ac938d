//! The `key_releases` table: the release outbox. Each release is written before its
//! envelope leaves, `unconfirmed`; once decided again (if a newer block came meanwhile)
//! it becomes `pending` and only then leaves, or it is deleted, unsent. The recorder
//! reads `pending` rows only, so a release taken back is never recorded, whichever
//! replica wrote it; `recorded` or `refused` is what the chain made of it.

use super::columns::{parse, to_i64, unsigned, IndexError, Statement};
use super::database::Index;
use super::group_commit::Write;
use datamgmt_abi::{AccountId, ShareId, Timestamp};
use sqlx::Row;

/// A key release to another node, as the outbox keeps it until the chain has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRelease {
    /// The share.
    pub share_id: ShareId,
    /// The node that got the key.
    pub recipient: AccountId,
    /// Block time of the chain state the release was decided on (ms).
    pub released_at: Timestamp,
    /// For a priced share, the paid receipt it used (the receipt's `paid_at`).
    pub receipt_paid_at: Option<Timestamp>,
}

/// A key release in the outbox, as `/admin/releases` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRelease {
    /// Its row.
    pub id: i64,
    /// The release.
    pub release: KeyRelease,
    /// `pending`, `recorded` or `refused`.
    pub state: String,
    /// Attempts to record it so far.
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was written (ms, relay clock).
    pub written_at: Timestamp,
    /// When it last changed (ms, relay clock).
    pub updated_at: Timestamp,
}

/// A key release waiting for its chain record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRelease {
    /// Its row.
    pub id: i64,
    /// The release.
    pub release: KeyRelease,
}

impl Index {
    /// Writes a key release down before its envelope leaves, unconfirmed (see
    /// [`confirm_release`](Self::confirm_release)); its row id. A release that uses a
    /// paid receipt (`receipt_paid_at`) is refused with `None` when another release
    /// already used the same receipt (or holds it, unconfirmed).
    pub async fn insert_release(
        &self,
        release: &KeyRelease,
        now: Timestamp,
    ) -> Result<Option<i64>, IndexError> {
        let write = Write::Release {
            share_id: release.share_id,
            recipient: release.recipient,
            released_at: release.released_at,
            receipt_paid_at: release.receipt_paid_at,
            now,
        };
        self.hot_writes.write(write).await
    }

    /// Confirms release `id`: it may leave, and waits for its chain record from now on.
    /// `false` when it is no longer there to confirm (forgotten as abandoned): then it
    /// must not leave.
    pub async fn confirm_release(&self, id: i64, now: Timestamp) -> Result<bool, IndexError> {
        Ok(self.hot_writes.write(Write::Confirm { id, now }).await?.is_some())
    }

    /// Takes back a release written but not sent (row `id`, while unconfirmed).
    pub async fn cancel_release(&self, id: i64) -> Result<bool, IndexError> {
        let deleted =
            sqlx::query("DELETE FROM key_releases WHERE id = $1 AND state = 'unconfirmed'")
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// How many releases wait for their chain record, and when the oldest of them was
    /// written (ms).
    pub async fn pending_releases(&self) -> Result<(u64, Option<Timestamp>), IndexError> {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(written_at) FROM key_releases WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((count.max(0) as u64, oldest.map(|at| at.max(0) as u64)))
    }

    /// Whether a release used the paid receipt of `recipient` for `share_id` paid at
    /// `paid_at` (recorded on chain or not).
    pub async fn receipt_released(
        &self,
        share_id: ShareId,
        recipient: &AccountId,
        paid_at: Timestamp,
    ) -> Result<bool, IndexError> {
        let found = sqlx::query(
            "SELECT 1 FROM key_releases \
             WHERE share_id = $1 AND recipient = $2 AND receipt_paid_at = $3 LIMIT 1",
        )
        .bind(share_id.to_string())
        .bind(recipient.to_string())
        .bind(to_i64(paid_at))
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Confirmed releases still to record whose next attempt is due at `now`, oldest
    /// first, leaving out `skip` (those being recorded already).
    pub async fn due_releases(
        &self,
        now: Timestamp,
        skip: &std::collections::HashSet<i64>,
        limit: usize,
    ) -> Result<Vec<PendingRelease>, IndexError> {
        let rows = sqlx::query(
            "SELECT id, share_id, recipient, released_at, receipt_paid_at FROM key_releases \
             WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind(to_i64(now))
        .bind(i64::try_from(skip.len() + limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut due = Vec::with_capacity(limit);
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            if skip.contains(&id) {
                continue;
            }
            let receipt_paid_at: Option<i64> = row.try_get("receipt_paid_at")?;
            due.push(PendingRelease {
                id,
                release: KeyRelease {
                    share_id: parse(row, "share_id")?,
                    recipient: parse(row, "recipient")?,
                    released_at: unsigned(row, "released_at")?,
                    receipt_paid_at: receipt_paid_at.map(|v| v.max(0) as u64),
                },
            });
            if due.len() == limit {
                break;
            }
        }
        Ok(due)
    }

    /// Marks releases as recorded on chain by the transaction `tx_hash` in block
    /// `block_number`.
    pub async fn mark_releases_recorded(
        &self,
        ids: &[i64],
        tx_hash: &str,
        block_number: u64,
        now: Timestamp,
    ) -> Result<(), IndexError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut sql = Statement::new("UPDATE key_releases SET state = 'recorded', tx_hash = ");
        sql.bind(tx_hash.to_owned()).push(", block_number = ").bind(to_i64(block_number));
        sql.push(", attempts = attempts + 1, last_error = NULL, updated_at = ").bind(to_i64(now));
        sql.push(" WHERE state = 'pending' AND id IN (").bind_list(ids).push(")");
        sql.execute(&self.pool).await?;
        Ok(())
    }

    /// Notes a failed attempt to record releases: tried again from `retry_at` (ms), or
    /// never when `retry_at` is `None` (the contract refused them).
    pub async fn mark_releases_failed(
        &self,
        ids: &[i64],
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), IndexError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut sql = Statement::new("UPDATE key_releases SET ");
        match retry_at {
            Some(at) => sql.push("next_attempt_at = ").bind(to_i64(at)),
            None => sql.push("state = 'refused'"),
        };
        sql.push(", attempts = attempts + 1, last_error = ").bind(error.to_owned());
        sql.push(", updated_at = ").bind(to_i64(now));
        sql.push(" WHERE state = 'pending' AND id IN (").bind_list(ids).push(")");
        sql.execute(&self.pool).await?;
        Ok(())
    }

    /// Releases by state: `(pending, recorded, refused)`.
    pub async fn count_releases(&self) -> Result<(u64, u64, u64), IndexError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM key_releases GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = (0, 0, 0);
        for row in &rows {
            let state: String = row.try_get("state")?;
            let n = unsigned(row, "n")?;
            match state.as_str() {
                "pending" => counts.0 = n,
                "recorded" => counts.1 = n,
                "refused" => counts.2 = n,
                // Unconfirmed: still being decided, not yet released.
                _ => {}
            }
        }
        Ok(counts)
    }

    /// How many refused records no operator has acknowledged yet.
    pub async fn unacknowledged_refusals(&self) -> Result<u64, IndexError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_releases WHERE state = 'refused' AND acknowledged_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }

    /// Marks the refused records up to row `up_to_id` as acknowledged at `now` (ms); how
    /// many were not yet.
    pub async fn acknowledge_refusals(
        &self,
        up_to_id: i64,
        now: Timestamp,
    ) -> Result<u64, IndexError> {
        let updated = sqlx::query(
            "UPDATE key_releases SET acknowledged_at = $1 \
             WHERE state = 'refused' AND acknowledged_at IS NULL AND id <= $2",
        )
        .bind(to_i64(now))
        .bind(up_to_id)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected())
    }

    /// Up to `limit` releases in `state` (`pending` or `refused`), oldest first, with
    /// their row ids.
    pub async fn releases_in_state(
        &self,
        state: &str,
        limit: u32,
    ) -> Result<Vec<OutboxRelease>, IndexError> {
        let rows = sqlx::query(
            "SELECT id, share_id, recipient, released_at, receipt_paid_at, state, attempts, \
             last_error, written_at, updated_at FROM key_releases WHERE state = $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(state)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let receipt_paid_at: Option<i64> = row.try_get("receipt_paid_at")?;
                Ok(OutboxRelease {
                    id: row.try_get("id")?,
                    release: KeyRelease {
                        share_id: parse(row, "share_id")?,
                        recipient: parse(row, "recipient")?,
                        released_at: unsigned(row, "released_at")?,
                        receipt_paid_at: receipt_paid_at.map(|v| v.max(0) as u64),
                    },
                    state: row.try_get("state")?,
                    attempts: u32::try_from(unsigned(row, "attempts")?).unwrap_or(u32::MAX),
                    last_error: row.try_get("last_error")?,
                    written_at: unsigned(row, "written_at")?,
                    updated_at: unsigned(row, "updated_at")?,
                })
            })
            .collect()
    }

    /// Forgets free releases the contract refused before `before` (ms), once they have
    /// been acknowledged and listed long enough. A refused paid release is kept: its
    /// receipt was never consumed on chain, and the row is what stops it buying a second
    /// key.
    pub async fn prune_refused_releases(&self, before: Timestamp) -> Result<u64, IndexError> {
        let deleted = sqlx::query(
            "DELETE FROM key_releases WHERE state = 'refused' AND receipt_paid_at IS NULL \
             AND acknowledged_at IS NOT NULL AND updated_at < $1",
        )
        .bind(to_i64(before))
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }

    /// Forgets releases written before `before` (ms) and never confirmed nor taken back
    /// (their relay died while deciding): none of them left, and a receipt one held is
    /// free again.
    pub async fn forget_abandoned_releases(&self, before: Timestamp) -> Result<u64, IndexError> {
        let deleted =
            sqlx::query("DELETE FROM key_releases WHERE state = 'unconfirmed' AND written_at < $1")
                .bind(to_i64(before))
                .execute(&self.pool)
                .await?;
        Ok(deleted.rows_affected())
    }

    /// The extrinsic hash and block of an indexed paid `KeyReleased` of `share_id` to
    /// `recipient` at release time `released_at`, if there is one: the record of a paid
    /// release, whoever sent it.
    pub async fn paid_release_record(
        &self,
        share_id: ShareId,
        recipient: &AccountId,
        released_at: Timestamp,
    ) -> Result<Option<(String, u64)>, IndexError> {
        let row = sqlx::query(
            "SELECT extrinsic_hash, block_number FROM share_events WHERE share_id = $1 \
             AND kind = 'key_released' AND recipient = $2 AND at = $3 \
             AND paid IS NOT NULL AND paid <> '0' ORDER BY block_number LIMIT 1",
        )
        .bind(share_id.to_string())
        .bind(recipient.to_string())
        .bind(to_i64(released_at))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let block: i64 = row.try_get("block_number")?;
            Ok((row.try_get("extrinsic_hash")?, block.max(0) as u64))
        })
        .transpose()
    }

    /// Forgets releases recorded before `before` (ms): the chain holds them, and its
    /// state shows their receipts used.
    pub async fn prune_recorded_releases(&self, before: Timestamp) -> Result<u64, IndexError> {
        let deleted =
            sqlx::query("DELETE FROM key_releases WHERE state = 'recorded' AND updated_at < $1")
                .bind(to_i64(before))
                .execute(&self.pool)
                .await?;
        Ok(deleted.rows_affected())
    }
}
