//! Attacks the envelope header reader, `Header::read`: the first thing a node parses
//! from an envelope it did not write (an upload, an object in S3, a peer's response),
//! fed arbitrary bytes.
//!
//! What must hold, for every input:
//! - no panic, and no allocation beyond the format's limits;
//! - reading the bytes all at once and reading them a few at a time (with `Pending` in
//!   between, as from a slow socket) give the same result;
//! - a header that reads re-serialises to exactly the bytes it was read from, and leaves
//!   the reader right after them; its chunk size is in range; resealing a recipient's
//!   copy of it gives a header that reads back to the same stanzas;
//! - opening its stanzas with the fixture keyring (custody: Fernet under the master
//!   key; recipient: HPKE to the node key) never panics, and any data key it yields is
//!   the fixed one the seeds were made with: no mutation can forge a stanza or the
//!   header MAC.
#![no_main]

use datamgmt_client::envelope::{Header, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use datamgmt_client::keys::DataKey;
use datamgmt_fuzz::{block_on, keyring, Trickle, DATA_KEY};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: { keyring(); }, |data: &[u8]| {
    let mut whole = data;
    let at_once = block_on(Header::read(&mut whole));

    let mut slow = Trickle::new(data, 1 + data.len() % 7);
    let trickled = block_on(Header::read(&mut slow));
    match (&at_once, &trickled) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "the header depends on how the bytes arrive");
            assert_eq!(whole.len(), slow.remaining().len(), "reader left elsewhere");
        }
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "the error depends on how the bytes arrive: {a} / {b}"
        ),
        (a, b) => panic!("the result depends on how the bytes arrive: {a:?} / {b:?}"),
    }
    let Ok(header) = at_once else { return };

    let len = header.encoded_len();
    assert!(len <= data.len(), "a header longer than its input");
    assert_eq!(whole.len(), data.len() - len, "the reader is not left at the first chunk");
    assert_eq!(
        header.bytes_as_read().expect("a header read has its MAC"),
        &data[..len],
        "the header does not re-serialise to the bytes it was read from"
    );
    assert!((MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&header.chunk_size()));
    let digest = header.digest();

    let keyring = keyring();
    let (_, node_public) = keyring.current_node_public_key();
    let data_key = DataKey::from_bytes(DATA_KEY);
    let copy = header.for_recipient(&node_public);
    let resealed = copy.seal(&data_key);
    let back = block_on(Header::read(&mut &resealed[..])).expect("a resealed header reads");
    assert_eq!(back.stanzas(), copy.stanzas());
    assert_eq!(back.digest(), digest);

    for key in [header.open_custody(keyring), header.open_recipient(keyring)].into_iter().flatten() {
        assert_eq!(key.expose_for_tests(), &DATA_KEY, "a stanza yielded a forged data key");
    }
});
