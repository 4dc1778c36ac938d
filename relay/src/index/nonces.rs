//! The `p2p_nonces` table: nonces of signed node-to-node requests, so none is answered
//! twice.

use super::columns::IndexError;
use super::database::Index;
use super::group_commit::Write;
use datamgmt_abi::{AccountId, Timestamp};

impl Index {
    /// Remembers the nonce of a signed request; `false` when it was seen before (a
    /// replay). Forgets nonces seen before `forget_before` (ms), every few seconds.
    pub async fn remember_nonce(
        &self,
        account: &AccountId,
        nonce: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<bool, IndexError> {
        // Forgetting is housekeeping: done at most once per `NONCE_PRUNE_EVERY_MS`, not
        // on every request.
        let last = self.nonces_pruned_at.load(std::sync::atomic::Ordering::Relaxed);
        let forget = now.saturating_sub(last) >= NONCE_PRUNE_EVERY_MS;
        if forget {
            self.nonces_pruned_at.store(now, std::sync::atomic::Ordering::Relaxed);
        }
        let write = Write::Nonce {
            account: *account,
            nonce: nonce.to_owned(),
            seen_at: now,
            forget_before: forget.then_some(forget_before),
        };
        Ok(self.hot_writes.write(write).await?.is_some())
    }
}

/// How often old P2P nonces are forgotten (ms).
const NONCE_PRUNE_EVERY_MS: Timestamp = 10_000;
