//! # Access
//!
//! ## Overview
//!
//! The on-chain half of DataMgmt Node. Organisations ("nodes") register their relay and
//! their X25519 encryption key here; an owner records each share of data with a
//! recipient, optionally priced per access and with an expiry; the owner's relay asks
//! this contract before it releases a data key and records each release here. Every
//! state change is an event, which is the audit trail compliance teams read.
//!
//! The data and its keys never touch the chain: only the SHA-256 of the plaintext.
//!
//! ## Error Handling
//!
//! Every message that changes state returns `Result<_, datamgmt_abi::Error>`; an `Err`
//! reverts the call, including any value sent with it. Time is the block timestamp (ms).
//!
//! ## Interface
//!
//! - Nodes: [`register_node`](Access::register_node), [`update_node`](Access::update_node),
//!   [`node`](Access::node), [`node_account`](Access::node_account).
//! - Shares: [`share`](Access::share), [`revoke`](Access::revoke),
//!   [`set_expiry`](Access::set_expiry), [`share_record`](Access::share_record),
//!   [`share_count`](Access::share_count).
//! - Access: [`pay_for_access`](Access::pay_for_access) (payable),
//!   [`can_access`](Access::can_access), [`record_release`](Access::record_release),
//!   [`record_releases`](Access::record_releases), [`receipt`](Access::receipt).
//! - Admin: [`set_code_hash`](Access::set_code_hash), [`admin`](Access::admin).
//!
//! Selectors are pinned (see `datamgmt_abi::selectors`); event layouts and the access rule
//! live in `datamgmt_abi` too, so the relay decodes and re-checks exactly what runs here.
#![cfg_attr(not(feature = "std"), no_std, no_main)]

#[ink::contract]
mod access {
    use datamgmt_abi::{
        decide,
        events::{NodeAction, ShareAction},
        records::MAX_ENDPOINT_LEN,
        AccessGrant, DataHash, Decision, EncryptionKey, Error, KeyVersion, Node, NodeId, Receipt,
        Share, ShareId, MAX_RELEASES_PER_CALL, RELEASE_RECORD_WINDOW_MS,
    };
    use ink::{
        prelude::{string::String, vec::Vec},
        storage::Mapping,
    };

    /// An account as the shared records spell it (same bytes as ink!'s `AccountId`).
    type Account = datamgmt_abi::AccountId;

    /// A payment receipt is kept per share and payer.
    type ReceiptKey = (ShareId, Account);

    /// Result of a contract message.
    pub type Result<T> = core::result::Result<T, Error>;

    /// A storage cell for a record type of `datamgmt-abi`, which has no ink! dependency
    /// and so cannot describe its own storage layout.
    #[ink::scale_derive(Encode, Decode, TypeInfo)]
    pub struct Stored<T>(T);

    #[cfg(feature = "std")]
    impl<T: ink::scale_info::TypeInfo + 'static> ink::storage::traits::StorageLayout for Stored<T> {
        fn layout(key: &ink::primitives::Key) -> ink::metadata::layout::Layout {
            use ink::metadata::layout::{Layout, LayoutKey, LeafLayout};
            Layout::Leaf(LeafLayout::from_key::<T>(LayoutKey::from(key)))
        }
    }

    /// The contract's state; every collection is a `Mapping`, so no message's cost grows
    /// with the number of nodes or shares.
    #[ink(storage)]
    pub struct Access {
        /// The account allowed to replace the contract's code.
        admin: AccountId,
        /// Registered nodes by account.
        nodes: Mapping<Account, Stored<Node>>,
        /// Which account holds each node id (ids are unique).
        node_accounts: Mapping<NodeId, AccountId>,
        /// Shares by id.
        shares: Mapping<ShareId, Stored<Share>>,
        /// Payment receipts by share and payer.
        receipts: Mapping<ReceiptKey, Stored<Receipt>>,
        /// Number of shares ever created.
        share_count: u64,
    }

    /// Something happened to a share (layout: `datamgmt_abi::events::ShareEvent`).
    /// Anonymous because the chain allows four topics and all four are fields.
    #[ink::event(anonymous)]
    pub struct ShareEvent {
        /// The share.
        #[ink(topic)]
        share_id: ShareId,
        /// Its owner.
        #[ink(topic)]
        owner: Account,
        /// Its recipient.
        #[ink(topic)]
        recipient: Account,
        /// SHA-256 of the shared plaintext.
        #[ink(topic)]
        data_hash: DataHash,
        /// Block time of the change.
        at: Timestamp,
        /// What happened.
        action: ShareAction,
    }

    /// A node registered or changed (layout: `datamgmt_abi::events::NodeEvent`).
    #[ink::event(
        signature_topic = "8295da3d7e828504e8ab279e6fdc653d6a1ecb1e278e991d4441745182ca0667"
    )]
    pub struct NodeEvent {
        /// The node's account.
        #[ink(topic)]
        account: Account,
        /// Registration or update.
        action: NodeAction,
        /// The node's record after the change.
        node: Node,
    }

    /// The admin replaced the contract's code (layout: `datamgmt_abi::events::CodeUpgraded`).
    #[ink::event(
        signature_topic = "153a5fea3cabbcea90b2522c7ac3e562aa084578bebfefd58bc0dad2229a3c73"
    )]
    pub struct CodeUpgraded {
        /// The admin who did it.
        #[ink(topic)]
        admin: Account,
        /// Hash of the new code.
        code_hash: [u8; 32],
    }

    impl Access {
        /// Creates the contract; the caller becomes its admin.
        #[ink(constructor, selector = 0x9bae9d5e)]
        pub fn new() -> Self {
            Self {
                admin: Self::env().caller(),
                nodes: Mapping::default(),
                node_accounts: Mapping::default(),
                shares: Mapping::default(),
                receipts: Mapping::default(),
                share_count: 0,
            }
        }

        /// Registers the caller as a node with its encryption key and relay endpoint.
        #[ink(message, selector = 0x4be588c5)]
        pub fn register_node(
            &mut self,
            encryption_key: EncryptionKey,
            key_version: KeyVersion,
            endpoint: String,
        ) -> Result<()> {
            let caller = self.caller();
            if self.nodes.contains(caller) {
                return Err(Error::NodeAlreadyRegistered);
            }
            check_endpoint(&endpoint)?;
            let node_id = self.node_id_of(&caller);
            if self.node_accounts.contains(node_id) {
                return Err(Error::NodeIdTaken);
            }
            let now = self.env().block_timestamp();
            let node = Node {
                node_id,
                encryption_key,
                key_version,
                endpoint,
                registered_at: now,
                updated_at: now,
            };
            self.node_accounts.insert(node_id, &self.env().caller());
            self.nodes.insert(caller, &Stored(node.clone()));
            self.env().emit_event(NodeEvent {
                account: caller,
                action: NodeAction::Registered,
                node,
            });
            Ok(())
        }

        /// Changes the caller's encryption key and/or endpoint. A new key needs a higher
        /// key version; the version never goes down.
        #[ink(message, selector = 0xf59816f7)]
        pub fn update_node(
            &mut self,
            encryption_key: EncryptionKey,
            key_version: KeyVersion,
            endpoint: String,
        ) -> Result<()> {
            let caller = self.caller();
            let Stored(mut node) = self.nodes.get(caller).ok_or(Error::NodeNotRegistered)?;
            check_endpoint(&endpoint)?;
            let key_changed = encryption_key != node.encryption_key;
            if key_version < node.key_version || (key_changed && key_version == node.key_version) {
                return Err(Error::KeyVersionNotIncreasing);
            }
            node.encryption_key = encryption_key;
            node.key_version = key_version;
            node.endpoint = endpoint;
            node.updated_at = self.env().block_timestamp();
            self.nodes.insert(caller, &Stored(node.clone()));
            self.env().emit_event(NodeEvent { account: caller, action: NodeAction::Updated, node });
            Ok(())
        }

        /// Shares the data whose plaintext hashes to `data_hash` with `recipient`.
        ///
        /// `share_id` is chosen by the owner (at random) so that the stored object and any
        /// retry of this call name the same share; a used id is refused. `price` is per
        /// access (0 = free); `expires_at`, if given, must be later than the block time.
        #[ink(message, selector = 0xe251ef0a)]
        pub fn share(
            &mut self,
            share_id: ShareId,
            recipient: AccountId,
            data_hash: DataHash,
            price: Balance,
            expires_at: Option<Timestamp>,
            key_version: KeyVersion,
        ) -> Result<()> {
            let owner = self.caller();
            let recipient = account(recipient);
            if !self.nodes.contains(owner) {
                return Err(Error::NodeNotRegistered);
            }
            if recipient == owner {
                return Err(Error::CannotShareWithSelf);
            }
            if !self.nodes.contains(recipient) {
                return Err(Error::RecipientNotRegistered);
            }
            if self.shares.contains(share_id) {
                return Err(Error::ShareExists);
            }
            let now = self.env().block_timestamp();
            if expires_at.is_some_and(|expires_at| expires_at <= now) {
                return Err(Error::ExpiryInPast);
            }
            self.share_count = self.share_count.checked_add(1).ok_or(Error::Overflow)?;
            let share = Share {
                owner,
                recipient,
                data_hash,
                price,
                expires_at,
                created_at: now,
                revoked_at: None,
                key_version,
            };
            self.emit_share_event(
                share_id,
                &share,
                ShareAction::Created { price, expires_at, key_version },
            );
            self.shares.insert(share_id, &Stored(share));
            Ok(())
        }

        /// Revokes a share: from the next block on, its recipient is refused.
        #[ink(message, selector = 0x0a538d12)]
        pub fn revoke(&mut self, share_id: ShareId) -> Result<()> {
            let mut share = self.owned_live_share(share_id)?;
            share.revoked_at = Some(self.env().block_timestamp());
            self.emit_share_event(share_id, &share, ShareAction::Revoked);
            self.shares.insert(share_id, &Stored(share));
            Ok(())
        }

        /// Changes a share's expiry (`None`: never expires). A new expiry must be later
        /// than the block time; extending an expired share opens it again.
        #[ink(message, selector = 0xdf0880af)]
        pub fn set_expiry(
            &mut self,
            share_id: ShareId,
            expires_at: Option<Timestamp>,
        ) -> Result<()> {
            let mut share = self.owned_live_share(share_id)?;
            if expires_at.is_some_and(|expires_at| expires_at <= self.env().block_timestamp()) {
                return Err(Error::ExpiryInPast);
            }
            let old = core::mem::replace(&mut share.expires_at, expires_at);
            self.emit_share_event(
                share_id,
                &share,
                ShareAction::ExpiryChanged { old, new: expires_at },
            );
            self.shares.insert(share_id, &Stored(share));
            Ok(())
        }

        /// Pays for one access to a priced share. The value sent must be exactly the
        /// price; it goes straight to the owner, so nothing stays in the contract. The
        /// receipt covers one key release; paying again before it is used is refused.
        #[ink(message, payable, selector = 0x271412c6)]
        pub fn pay_for_access(&mut self, share_id: ShareId) -> Result<()> {
            let payer = self.caller();
            let share = self.share_of(share_id)?;
            if payer == share.owner {
                return Err(Error::CannotPayOwnShare);
            }
            let receipt = self.receipts.get((share_id, payer)).map(|Stored(receipt)| receipt);
            let now = self.env().block_timestamp();
            match decide(&share, receipt.as_ref(), &payer, now) {
                Decision::Allowed(AccessGrant::PaidRecipient) => return Err(Error::AlreadyPaid),
                Decision::Allowed(_) => return Err(Error::NotPriced),
                Decision::Denied(
                    datamgmt_abi::DenyReason::PaymentRequired
                    | datamgmt_abi::DenyReason::ReceiptUsedUp,
                ) => {}
                Decision::Denied(reason) => return Err(Error::AccessDenied(reason)),
            }
            let paid = self.env().transferred_value();
            if paid != share.price {
                return Err(Error::WrongPayment { expected: share.price, paid });
            }
            let receipt = Receipt { amount: paid, paid_at: now, releases_left: 1 };
            self.receipts.insert((share_id, payer), &Stored(receipt));
            self.env()
                .transfer(AccountId::from(share.owner.0), paid)
                .map_err(|_| Error::TransferFailed)?;
            self.emit_share_event(share_id, &share, ShareAction::Paid { amount: paid });
            Ok(())
        }

        /// Whether `account` may have the share's data key now, and why (read-only).
        #[ink(message, selector = 0x8f8b2c36)]
        pub fn can_access(&self, share_id: ShareId, account_id: AccountId) -> Result<Decision> {
            let share = self.share_of(share_id)?;
            let who = account(account_id);
            let receipt = self.receipts.get((share_id, who)).map(|Stored(receipt)| receipt);
            Ok(decide(&share, receipt.as_ref(), &who, self.env().block_timestamp()))
        }

        /// Records that the owner's relay released the data key to `recipient` at
        /// `released_at` (ms, the block time of the decision it released on). Only the
        /// owner may call it, only when the access rule allowed it at `released_at`, and
        /// for a priced share it consumes the recipient's paid receipt.
        ///
        /// A relay sends the key first and records it after, several releases to a
        /// transaction; so the rule is applied at `released_at`, which may lie up to
        /// `RELEASE_RECORD_WINDOW_MS` before the block, and a revocation or expiry in
        /// between does not make the record fail. The event's `at` is `released_at`.
        #[ink(message, selector = 0xbe4449d1)]
        pub fn record_release(
            &mut self,
            share_id: ShareId,
            recipient: AccountId,
            released_at: Timestamp,
        ) -> Result<()> {
            self.release(share_id, account(recipient), released_at)
        }

        /// Records several key releases, each as [`record_release`](Self::record_release)
        /// would and on its own: returns, per release in order, whether it was
        /// recorded (a refused one leaves no trace and does not stop the others). At
        /// most `MAX_RELEASES_PER_CALL` releases; more is refused whole.
        ///
        /// One call for many releases is what lets a relay's records keep up with its
        /// releases: each contract call's weight counts the contract's code once.
        #[ink(message, selector = 0x3ee622fb)]
        pub fn record_releases(
            &mut self,
            releases: Vec<(ShareId, AccountId, Timestamp)>,
        ) -> Result<Vec<Result<()>>> {
            if releases.len() > MAX_RELEASES_PER_CALL {
                return Err(Error::TooManyReleases);
            }
            Ok(releases
                .into_iter()
                .map(|(share_id, recipient, released_at)| {
                    self.release(share_id, account(recipient), released_at)
                })
                .collect())
        }

        /// Replaces the contract's code, keeping its storage (admin only).
        #[ink(message, selector = 0x9e5c5758)]
        pub fn set_code_hash(&mut self, code_hash: [u8; 32]) -> Result<()> {
            if self.env().caller() != self.admin {
                return Err(Error::NotAdmin);
            }
            self.env()
                .set_code_hash(&Hash::from(code_hash))
                .map_err(|_| Error::CodeUpgradeFailed)?;
            self.env().emit_event(CodeUpgraded { admin: account(self.admin), code_hash });
            Ok(())
        }

        /// The node registered by `account_id`, if any.
        #[ink(message, selector = 0x0d536210)]
        pub fn node(&self, account_id: AccountId) -> Option<Node> {
            self.nodes.get(account(account_id)).map(|Stored(node)| node)
        }

        /// The account that holds `node_id`, if any.
        #[ink(message, selector = 0x221b3d12)]
        pub fn node_account(&self, node_id: NodeId) -> Option<AccountId> {
            self.node_accounts.get(node_id)
        }

        /// The share with id `share_id`, if any.
        #[ink(message, selector = 0x7566e200)]
        pub fn share_record(&self, share_id: ShareId) -> Option<Share> {
            self.shares.get(share_id).map(|Stored(share)| share)
        }

        /// `account_id`'s payment receipt for `share_id`, if it ever paid.
        #[ink(message, selector = 0x6277bcd6)]
        pub fn receipt(&self, share_id: ShareId, account_id: AccountId) -> Option<Receipt> {
            self.receipts.get((share_id, account(account_id))).map(|Stored(receipt)| receipt)
        }

        /// The contract's admin.
        #[ink(message, selector = 0x1aa66b39)]
        pub fn admin(&self) -> AccountId {
            self.admin
        }

        /// Number of shares ever created.
        #[ink(message, selector = 0x4e3f9425)]
        pub fn share_count(&self) -> u64 {
            self.share_count
        }

        /// Checks and records one key release; changes nothing when it fails.
        fn release(
            &mut self,
            share_id: ShareId,
            recipient: Account,
            released_at: Timestamp,
        ) -> Result<()> {
            let share = self.share_of(share_id)?;
            if self.caller() != share.owner {
                return Err(Error::NotOwner);
            }
            if recipient == share.owner {
                return Err(Error::ReleaseToOwner);
            }
            let now = self.env().block_timestamp();
            let in_window =
                now.checked_sub(released_at).is_some_and(|age| age <= RELEASE_RECORD_WINDOW_MS);
            if !in_window || released_at < share.created_at {
                return Err(Error::ReleaseTimeOutOfWindow);
            }
            let key = (share_id, recipient);
            let receipt = self.receipts.get(key).map(|Stored(receipt)| receipt);
            let paid = match decide(&share, receipt.as_ref(), &recipient, released_at) {
                Decision::Denied(reason) => return Err(Error::AccessDenied(reason)),
                Decision::Allowed(AccessGrant::PaidRecipient) => {
                    let mut receipt = receipt
                        .ok_or(Error::AccessDenied(datamgmt_abi::DenyReason::PaymentRequired))?;
                    receipt.releases_left =
                        receipt.releases_left.checked_sub(1).ok_or(Error::Overflow)?;
                    let amount = receipt.amount;
                    self.receipts.insert(key, &Stored(receipt));
                    amount
                }
                Decision::Allowed(AccessGrant::Owner | AccessGrant::Recipient) => 0,
            };
            let event = ShareEvent {
                share_id,
                owner: share.owner,
                recipient,
                data_hash: share.data_hash,
                at: released_at,
                action: ShareAction::KeyReleased { paid },
            };
            self.env().emit_event(event);
            Ok(())
        }

        fn caller(&self) -> Account {
            account(self.env().caller())
        }

        fn node_id_of(&self, who: &Account) -> NodeId {
            let digest = self.env().hash_bytes::<ink::env::hash::Blake2x256>(&who.0);
            NodeId::from_account_digest(&digest)
        }

        fn share_of(&self, share_id: ShareId) -> Result<Share> {
            self.shares.get(share_id).map(|Stored(share)| share).ok_or(Error::ShareNotFound)
        }

        /// The share, if the caller owns it and it is not revoked.
        fn owned_live_share(&self, share_id: ShareId) -> Result<Share> {
            let share = self.share_of(share_id)?;
            if self.caller() != share.owner {
                return Err(Error::NotOwner);
            }
            if share.revoked_at.is_some() {
                return Err(Error::AlreadyRevoked);
            }
            Ok(share)
        }

        fn emit_share_event(&self, share_id: ShareId, share: &Share, action: ShareAction) {
            self.env().emit_event(ShareEvent {
                share_id,
                owner: share.owner,
                recipient: share.recipient,
                data_hash: share.data_hash,
                at: self.env().block_timestamp(),
                action,
            });
        }
    }

    impl Default for Access {
        fn default() -> Self {
            Self::new()
        }
    }

    fn account(id: AccountId) -> Account {
        datamgmt_abi::AccountId(*AsRef::<[u8; 32]>::as_ref(&id))
    }

    fn check_endpoint(endpoint: &str) -> Result<()> {
        if endpoint.is_empty() {
            return Err(Error::EndpointEmpty);
        }
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(Error::EndpointTooLong);
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use datamgmt_abi::{
            events::{ContractEvent, NodeEvent as NodeEventLayout, ShareEvent as ShareEventLayout},
            DenyReason,
        };
        use ink::env::{test, DefaultEnvironment as Env};

        const KEY_A: EncryptionKey = EncryptionKey([0xaa; 32]);
        const KEY_B: EncryptionKey = EncryptionKey([0xbb; 32]);
        const HASH: DataHash = DataHash([9; 32]);
        const ID: ShareId = ShareId([1; 16]);
        const PRICE: Balance = 5_000_000;
        const T0: Timestamp = 1_000;
        const BOB_FUNDS: Balance = 1_000_000_000;

        fn default_accounts() -> test::DefaultAccounts<Env> {
            test::default_accounts::<Env>()
        }

        fn set_caller(caller: AccountId) {
            test::set_caller::<Env>(caller);
        }

        fn set_now(ms: Timestamp) {
            test::set_block_timestamp::<Env>(ms);
        }

        fn contract_account() -> AccountId {
            AccountId::from([0xc0; 32])
        }

        fn balance_of(who: AccountId) -> Balance {
            test::get_account_balance::<Env>(who).unwrap_or_default()
        }

        /// Every event emitted so far, read back with the shared abi layouts.
        fn recorded_events() -> Vec<ContractEvent> {
            test::recorded_events()
                .map(|event| {
                    let topics: Vec<[u8; 32]> = event
                        .topics
                        .iter()
                        .map(|topic| topic.as_slice().try_into().expect("32-byte topic"))
                        .collect();
                    ContractEvent::decode(&topics, &event.data).expect("decodes with abi layout")
                })
                .collect()
        }

        fn last_share_event() -> ShareEventLayout {
            match recorded_events().pop() {
                Some(ContractEvent::Share(event)) => event,
                other => panic!("expected a share event, got {other:?}"),
            }
        }

        /// Alice and Bob registered as nodes, caller Alice, block time `T0`.
        fn setup() -> Access {
            let accounts = default_accounts();
            set_now(T0);
            test::set_callee::<Env>(contract_account());
            test::set_account_balance::<Env>(contract_account(), 0);
            test::set_account_balance::<Env>(accounts.alice, 0);
            test::set_account_balance::<Env>(accounts.bob, BOB_FUNDS);
            set_caller(accounts.alice);
            let mut contract = Access::new();
            contract.register_node(KEY_A, 1, "http://127.0.0.1:8001".into()).unwrap();
            set_caller(accounts.bob);
            contract.register_node(KEY_B, 1, "http://127.0.0.1:8002".into()).unwrap();
            set_caller(accounts.alice);
            contract
        }

        /// `setup()` plus a share from Alice to Bob.
        fn setup_share(price: Balance, expires_at: Option<Timestamp>) -> Access {
            let mut contract = setup();
            contract.share(ID, default_accounts().bob, HASH, price, expires_at, 3).unwrap();
            contract
        }

        /// Bob pays `amount` for `ID`, moving the value into the contract first as the
        /// chain does.
        fn pay_as_bob(contract: &mut Access, amount: Balance) -> Result<()> {
            set_caller(default_accounts().bob);
            test::set_value_transferred::<Env>(amount);
            test::transfer_in::<Env>(amount);
            let result = contract.pay_for_access(ID);
            test::set_value_transferred::<Env>(0);
            result
        }

        fn decision(contract: &Access, who: AccountId) -> Decision {
            contract.can_access(ID, who).unwrap()
        }

        #[ink::test]
        fn new_works() {
            let accounts = default_accounts();
            set_caller(accounts.charlie);
            let contract = Access::new();
            assert_eq!(contract.admin(), accounts.charlie);
            assert_eq!(contract.share_count(), 0);
        }

        #[ink::test]
        fn register_node_works() {
            let contract = setup();
            let alice = default_accounts().alice;
            let node = contract.node(alice).unwrap();
            let mut digest = [0u8; 32];
            ink::env::hash_bytes::<ink::env::hash::Blake2x256>(alice.as_ref(), &mut digest);
            assert_eq!(node.node_id, NodeId::from_account_digest(&digest));
            assert_eq!(node.encryption_key, KEY_A);
            assert_eq!(node.key_version, 1);
            assert_eq!(node.endpoint, "http://127.0.0.1:8001");
            assert_eq!((node.registered_at, node.updated_at), (T0, T0));
            assert_eq!(contract.node_account(node.node_id), Some(alice));
            match &recorded_events()[0] {
                ContractEvent::Node(NodeEventLayout { account: who, action, node: in_event }) => {
                    assert_eq!(*who, account(alice));
                    assert_eq!(*action, NodeAction::Registered);
                    assert_eq!(*in_event, node);
                }
                other => panic!("unexpected event {other:?}"),
            }
        }

        #[ink::test]
        fn register_node_accepts_the_longest_endpoint() {
            let mut contract = setup();
            set_caller(default_accounts().charlie);
            let endpoint = "h".repeat(MAX_ENDPOINT_LEN);
            assert_eq!(contract.register_node(KEY_A, 1, endpoint), Ok(()));
        }

        #[ink::test]
        fn register_node_fails() {
            let mut contract = setup();
            assert_eq!(
                contract.register_node(KEY_A, 2, "http://x".into()),
                Err(Error::NodeAlreadyRegistered)
            );
            set_caller(default_accounts().charlie);
            assert_eq!(contract.register_node(KEY_A, 1, String::new()), Err(Error::EndpointEmpty));
            assert_eq!(
                contract.register_node(KEY_A, 1, "h".repeat(MAX_ENDPOINT_LEN + 1)),
                Err(Error::EndpointTooLong)
            );
            assert_eq!(contract.node(default_accounts().charlie), None);
        }

        #[ink::test]
        fn register_node_fails_on_taken_node_id() {
            let mut contract = setup();
            let charlie = default_accounts().charlie;
            let id = contract.node_id_of(&account(charlie));
            contract.node_accounts.insert(id, &default_accounts().django);
            set_caller(charlie);
            assert_eq!(
                contract.register_node(KEY_A, 1, "http://c".into()),
                Err(Error::NodeIdTaken)
            );
        }

        #[ink::test]
        fn update_node_works() {
            let mut contract = setup();
            set_now(T0 + 5);
            assert_eq!(contract.update_node(KEY_A, 1, "http://moved".into()), Ok(()));
            assert_eq!(contract.update_node(KEY_B, 2, "http://moved".into()), Ok(()));
            let node = contract.node(default_accounts().alice).unwrap();
            assert_eq!((node.encryption_key, node.key_version), (KEY_B, 2));
            assert_eq!((node.registered_at, node.updated_at), (T0, T0 + 5));
            assert!(matches!(
                recorded_events().pop(),
                Some(ContractEvent::Node(NodeEventLayout { action: NodeAction::Updated, .. }))
            ));
        }

        #[ink::test]
        fn update_node_fails() {
            let mut contract = setup();
            assert_eq!(
                contract.update_node(KEY_B, 1, "http://a".into()),
                Err(Error::KeyVersionNotIncreasing)
            );
            contract.update_node(KEY_B, 5, "http://a".into()).unwrap();
            assert_eq!(
                contract.update_node(KEY_B, 4, "http://a".into()),
                Err(Error::KeyVersionNotIncreasing)
            );
            assert_eq!(contract.update_node(KEY_B, 5, String::new()), Err(Error::EndpointEmpty));
            set_caller(default_accounts().charlie);
            assert_eq!(
                contract.update_node(KEY_A, 1, "http://c".into()),
                Err(Error::NodeNotRegistered)
            );
        }

        #[ink::test]
        fn share_works() {
            let contract = setup_share(PRICE, Some(T0 + 10));
            let accounts = default_accounts();
            let share = contract.share_record(ID).unwrap();
            assert_eq!(share.owner, account(accounts.alice));
            assert_eq!(share.recipient, account(accounts.bob));
            assert_eq!(share.data_hash, HASH);
            assert_eq!(share.price, PRICE);
            assert_eq!(share.expires_at, Some(T0 + 10));
            assert_eq!(share.created_at, T0);
            assert_eq!(share.revoked_at, None);
            assert_eq!(share.key_version, 3);
            assert_eq!(contract.share_count(), 1);
            assert_eq!(
                last_share_event(),
                ShareEventLayout {
                    share_id: ID,
                    owner: account(accounts.alice),
                    recipient: account(accounts.bob),
                    data_hash: HASH,
                    at: T0,
                    action: ShareAction::Created {
                        price: PRICE,
                        expires_at: Some(T0 + 10),
                        key_version: 3
                    },
                }
            );
        }

        #[ink::test]
        fn share_fails() {
            let mut contract = setup_share(0, None);
            let accounts = default_accounts();
            let other = ShareId([2; 16]);
            assert_eq!(contract.share(ID, accounts.bob, HASH, 0, None, 1), Err(Error::ShareExists));
            assert_eq!(
                contract.share(other, accounts.alice, HASH, 0, None, 1),
                Err(Error::CannotShareWithSelf)
            );
            assert_eq!(
                contract.share(other, accounts.charlie, HASH, 0, None, 1),
                Err(Error::RecipientNotRegistered)
            );
            assert_eq!(
                contract.share(other, accounts.bob, HASH, 0, Some(T0), 1),
                Err(Error::ExpiryInPast)
            );
            assert_eq!(
                contract.share(other, accounts.bob, HASH, 0, Some(T0 - 1), 1),
                Err(Error::ExpiryInPast)
            );
            set_caller(accounts.charlie);
            assert_eq!(
                contract.share(other, accounts.bob, HASH, 0, None, 1),
                Err(Error::NodeNotRegistered)
            );
            assert_eq!(contract.share_record(other), None);
            assert_eq!(contract.share_count(), 1);
        }

        #[ink::test]
        fn share_fails_on_counter_overflow() {
            let mut contract = setup();
            contract.share_count = u64::MAX;
            assert_eq!(
                contract.share(ID, default_accounts().bob, HASH, 0, None, 1),
                Err(Error::Overflow)
            );
        }

        #[ink::test]
        fn revoke_works() {
            let mut contract = setup_share(0, None);
            set_now(T0 + 7);
            assert_eq!(contract.revoke(ID), Ok(()));
            assert_eq!(contract.share_record(ID).unwrap().revoked_at, Some(T0 + 7));
            assert_eq!(
                decision(&contract, default_accounts().bob),
                Decision::Denied(DenyReason::Revoked)
            );
            let event = last_share_event();
            assert_eq!((event.action, event.at), (ShareAction::Revoked, T0 + 7));
        }

        #[ink::test]
        fn revoke_fails() {
            let mut contract = setup_share(0, None);
            assert_eq!(contract.revoke(ShareId([5; 16])), Err(Error::ShareNotFound));
            set_caller(default_accounts().bob);
            assert_eq!(contract.revoke(ID), Err(Error::NotOwner));
            set_caller(default_accounts().alice);
            contract.revoke(ID).unwrap();
            assert_eq!(contract.revoke(ID), Err(Error::AlreadyRevoked));
        }

        #[ink::test]
        fn set_expiry_works() {
            let mut contract = setup_share(0, Some(T0 + 10));
            let bob = default_accounts().bob;
            set_now(T0 + 10);
            assert_eq!(decision(&contract, bob), Decision::Denied(DenyReason::Expired));
            // Extending an expired share opens it again.
            assert_eq!(contract.set_expiry(ID, Some(T0 + 20)), Ok(()));
            assert!(decision(&contract, bob).is_allowed());
            assert_eq!(
                last_share_event().action,
                ShareAction::ExpiryChanged { old: Some(T0 + 10), new: Some(T0 + 20) }
            );
            assert_eq!(contract.set_expiry(ID, None), Ok(()));
            set_now(u64::MAX);
            assert!(decision(&contract, bob).is_allowed());
        }

        #[ink::test]
        fn set_expiry_fails() {
            let mut contract = setup_share(0, Some(T0 + 10));
            assert_eq!(contract.set_expiry(ID, Some(T0)), Err(Error::ExpiryInPast));
            set_caller(default_accounts().bob);
            assert_eq!(contract.set_expiry(ID, None), Err(Error::NotOwner));
            set_caller(default_accounts().alice);
            contract.revoke(ID).unwrap();
            assert_eq!(contract.set_expiry(ID, None), Err(Error::AlreadyRevoked));
            assert_eq!(contract.share_record(ID).unwrap().expires_at, Some(T0 + 10));
        }

        #[ink::test]
        fn pay_for_access_works() {
            let mut contract = setup_share(PRICE, None);
            let accounts = default_accounts();
            set_now(T0 + 3);
            assert_eq!(pay_as_bob(&mut contract, PRICE), Ok(()));
            // The payment went to the owner; nothing stayed in the contract.
            assert_eq!(balance_of(accounts.alice), PRICE);
            assert_eq!(balance_of(contract_account()), 0);
            assert_eq!(balance_of(accounts.bob), BOB_FUNDS - PRICE);
            assert_eq!(
                contract.receipt(ID, accounts.bob),
                Some(Receipt { amount: PRICE, paid_at: T0 + 3, releases_left: 1 })
            );
            assert_eq!(
                decision(&contract, accounts.bob),
                Decision::Allowed(AccessGrant::PaidRecipient)
            );
            let event = last_share_event();
            assert_eq!(event.action, ShareAction::Paid { amount: PRICE });
            assert_eq!(event.recipient, account(accounts.bob));
        }

        #[ink::test]
        fn pay_for_access_fails_on_wrong_amount() {
            let mut contract = setup_share(PRICE, None);
            for paid in [0, PRICE - 1, PRICE + 1] {
                assert_eq!(
                    pay_as_bob(&mut contract, paid),
                    Err(Error::WrongPayment { expected: PRICE, paid })
                );
            }
            assert_eq!(contract.receipt(ID, default_accounts().bob), None);
        }

        #[ink::test]
        fn pay_for_access_fails() {
            let accounts = default_accounts();
            let mut contract = setup_share(PRICE, Some(T0 + 10));
            set_caller(accounts.alice);
            assert_eq!(contract.pay_for_access(ID), Err(Error::CannotPayOwnShare));
            set_caller(accounts.charlie);
            assert_eq!(
                contract.pay_for_access(ID),
                Err(Error::AccessDenied(DenyReason::NotRecipient))
            );
            assert_eq!(contract.pay_for_access(ShareId([5; 16])), Err(Error::ShareNotFound));
            assert_eq!(pay_as_bob(&mut contract, PRICE), Ok(()));
            assert_eq!(pay_as_bob(&mut contract, PRICE), Err(Error::AlreadyPaid));
            set_now(T0 + 10);
            assert_eq!(
                pay_as_bob(&mut contract, PRICE),
                Err(Error::AccessDenied(DenyReason::Expired))
            );
            set_caller(accounts.alice);
            contract.set_expiry(ID, None).unwrap();
            contract.revoke(ID).unwrap();
            assert_eq!(
                pay_as_bob(&mut contract, PRICE),
                Err(Error::AccessDenied(DenyReason::Revoked))
            );
        }

        #[ink::test]
        fn pay_for_access_fails_on_free_share() {
            let mut contract = setup_share(0, None);
            assert_eq!(pay_as_bob(&mut contract, 0), Err(Error::NotPriced));
        }

        #[ink::test]
        fn can_access_works() {
            let accounts = default_accounts();
            let contract = setup_share(0, Some(T0 + 10));
            assert_eq!(decision(&contract, accounts.alice), Decision::Allowed(AccessGrant::Owner));
            assert_eq!(
                decision(&contract, accounts.bob),
                Decision::Allowed(AccessGrant::Recipient)
            );
            assert_eq!(
                decision(&contract, accounts.charlie),
                Decision::Denied(DenyReason::NotRecipient)
            );
            set_now(T0 + 9);
            assert!(decision(&contract, accounts.bob).is_allowed());
            set_now(T0 + 10);
            assert_eq!(decision(&contract, accounts.bob), Decision::Denied(DenyReason::Expired));
        }

        #[ink::test]
        fn can_access_fails() {
            let contract = setup();
            assert_eq!(contract.can_access(ID, default_accounts().bob), Err(Error::ShareNotFound));
        }

        #[ink::test]
        fn record_release_works() {
            let accounts = default_accounts();
            let mut contract = setup_share(0, None);
            assert_eq!(contract.record_release(ID, accounts.bob, T0), Ok(()));
            assert_eq!(last_share_event().action, ShareAction::KeyReleased { paid: 0 });
            // A free share can be released again.
            assert_eq!(contract.record_release(ID, accounts.bob, T0), Ok(()));
        }

        #[ink::test]
        fn record_release_consumes_the_receipt() {
            let accounts = default_accounts();
            let mut contract = setup_share(PRICE, None);
            pay_as_bob(&mut contract, PRICE).unwrap();
            set_caller(accounts.alice);
            assert_eq!(contract.record_release(ID, accounts.bob, T0), Ok(()));
            assert_eq!(last_share_event().action, ShareAction::KeyReleased { paid: PRICE });
            assert_eq!(contract.receipt(ID, accounts.bob).unwrap().releases_left, 0);
            assert_eq!(
                decision(&contract, accounts.bob),
                Decision::Denied(DenyReason::ReceiptUsedUp)
            );
            // Receipt reuse is refused.
            assert_eq!(
                contract.record_release(ID, accounts.bob, T0),
                Err(Error::AccessDenied(DenyReason::ReceiptUsedUp))
            );
            // Paying again buys another release.
            pay_as_bob(&mut contract, PRICE).unwrap();
            set_caller(accounts.alice);
            assert_eq!(contract.record_release(ID, accounts.bob, T0), Ok(()));
            assert_eq!(balance_of(accounts.alice), 2 * PRICE);
        }

        #[ink::test]
        fn record_release_fails() {
            let accounts = default_accounts();
            let mut contract = setup_share(PRICE, Some(T0 + 10));
            assert_eq!(
                contract.record_release(ID, accounts.bob, T0),
                Err(Error::AccessDenied(DenyReason::PaymentRequired))
            );
            assert_eq!(
                contract.record_release(ID, accounts.charlie, T0),
                Err(Error::AccessDenied(DenyReason::NotRecipient))
            );
            pay_as_bob(&mut contract, PRICE).unwrap();
            assert_eq!(contract.record_release(ID, accounts.bob, T0), Err(Error::NotOwner));
            set_caller(accounts.alice);
            assert_eq!(
                contract.record_release(ID, accounts.alice, T0),
                Err(Error::ReleaseToOwner),
                "the owner holds its data: no record, no fee"
            );
            set_now(T0 + 10);
            assert_eq!(
                contract.record_release(ID, accounts.bob, T0 + 10),
                Err(Error::AccessDenied(DenyReason::Expired))
            );
            contract.revoke(ID).unwrap();
            assert_eq!(
                contract.record_release(ID, accounts.bob, T0 + 10),
                Err(Error::AccessDenied(DenyReason::Revoked))
            );
            // The unused receipt is untouched by refused releases.
            assert_eq!(contract.receipt(ID, accounts.bob).unwrap().releases_left, 1);
        }

        #[ink::test]
        fn record_release_applies_the_rule_at_the_release_time() {
            let accounts = default_accounts();
            let mut contract = setup_share(PRICE, Some(T0 + 50));
            pay_as_bob(&mut contract, PRICE).unwrap();
            set_caller(accounts.alice);
            // Released at T0 + 5; by the time it is recorded the share has expired and
            // been revoked, which came after the release.
            set_now(T0 + 100);
            contract.revoke(ID).unwrap();
            assert_eq!(contract.record_release(ID, accounts.bob, T0 + 5), Ok(()));
            let event = last_share_event();
            assert_eq!(
                (event.action, event.at),
                (ShareAction::KeyReleased { paid: PRICE }, T0 + 5)
            );
            assert_eq!(contract.receipt(ID, accounts.bob).unwrap().releases_left, 0);
        }

        #[ink::test]
        fn record_release_refuses_times_out_of_window() {
            let accounts = default_accounts();
            let mut contract = setup_share(0, None);
            // Later than the block, or earlier than the share.
            assert_eq!(
                contract.record_release(ID, accounts.bob, T0 + 1),
                Err(Error::ReleaseTimeOutOfWindow)
            );
            assert_eq!(
                contract.record_release(ID, accounts.bob, T0 - 1),
                Err(Error::ReleaseTimeOutOfWindow)
            );
            // Too long before the block.
            set_now(T0 + RELEASE_RECORD_WINDOW_MS + 1);
            assert_eq!(
                contract.record_release(ID, accounts.bob, T0),
                Err(Error::ReleaseTimeOutOfWindow)
            );
            assert_eq!(contract.record_release(ID, accounts.bob, T0 + 1), Ok(()));
        }

        #[ink::test]
        fn record_release_needs_a_receipt_paid_by_the_release_time() {
            let accounts = default_accounts();
            let mut contract = setup_share(PRICE, None);
            set_now(T0 + 10);
            pay_as_bob(&mut contract, PRICE).unwrap();
            set_caller(accounts.alice);
            assert_eq!(
                contract.record_release(ID, accounts.bob, T0 + 9),
                Err(Error::AccessDenied(DenyReason::PaymentRequired))
            );
            assert_eq!(contract.record_release(ID, accounts.bob, T0 + 10), Ok(()));
        }

        #[ink::test]
        fn record_releases_records_each_on_its_own() {
            let accounts = default_accounts();
            let mut contract = setup_share(PRICE, None);
            pay_as_bob(&mut contract, PRICE).unwrap();
            set_caller(accounts.alice);
            let unknown = ShareId([2; 16]);
            let outcomes = contract.record_releases(vec![
                (ID, accounts.bob, T0),
                (unknown, accounts.bob, T0),
                (ID, accounts.charlie, T0),
                // The receipt is used by the first: the same payment buys one release.
                (ID, accounts.bob, T0),
            ]);
            assert_eq!(
                outcomes,
                Ok(vec![
                    Ok(()),
                    Err(Error::ShareNotFound),
                    Err(Error::AccessDenied(DenyReason::NotRecipient)),
                    Err(Error::AccessDenied(DenyReason::ReceiptUsedUp)),
                ])
            );
            let released: Vec<_> = recorded_events()
                .into_iter()
                .filter_map(|event| match event {
                    ContractEvent::Share(e)
                        if matches!(e.action, ShareAction::KeyReleased { .. }) =>
                    {
                        Some(e)
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(released.len(), 1);
            assert_eq!(released[0].action, ShareAction::KeyReleased { paid: PRICE });
            assert_eq!(contract.receipt(ID, accounts.bob).unwrap().releases_left, 0);
        }

        #[ink::test]
        fn record_releases_refuses_too_many_at_once() {
            let accounts = default_accounts();
            let mut contract = setup_share(0, None);
            let releases = vec![(ID, accounts.bob, T0); MAX_RELEASES_PER_CALL + 1];
            assert_eq!(contract.record_releases(releases), Err(Error::TooManyReleases));
            let releases = vec![(ID, accounts.bob, T0); MAX_RELEASES_PER_CALL];
            let outcomes = contract.record_releases(releases).unwrap();
            assert!(outcomes.iter().all(|outcome| outcome.is_ok()));
        }

        #[ink::test]
        fn set_code_hash_fails() {
            let mut contract = setup();
            set_caller(default_accounts().bob);
            assert_eq!(contract.set_code_hash([1; 32]), Err(Error::NotAdmin));
        }
    }
}
