//! Attacks the envelope chunk reader, `envelope::decrypt`, with arbitrary bytes after a
//! valid header (made with `Header::new(DEFAULT_CHUNK_SIZE)` and a custody stanza, under
//! a fixed data key; see `datamgmt_fuzz::chunk_fixture`).
//!
//! The first input byte picks how: bit 0 clear feeds the rest of the input as the chunk
//! bytes themselves; bit 0 set reads it as a description of chunk tokens that the
//! target encrypts under the data key (`datamgmt_fuzz::build_chunks`), to reach the
//! checks behind Fernet's MAC and the worker threads of large chunks. Bits 1-2 pick the
//! parallelism (1 to 4); bit 3 makes the reader hand out `1 + (byte >> 4)` bytes at a
//! time, with `Pending` in between.
//!
//! What must hold, for every input:
//! - no panic (also not on the worker threads), no hang;
//! - `decrypt` accepts the chunk bytes exactly when they are a valid chunk sequence by
//!   the reference model written from the format's description
//!   (`datamgmt_fuzz::reference_open`): nothing else is ever accepted, and nothing
//!   valid is refused;
//! - when it accepts, what it wrote is the model's plaintext, and its summary gives that
//!   plaintext's length and SHA-256;
//! - when it refuses, it says `Corrupt` (the input is in memory: no I/O error).
#![no_main]

use datamgmt_client::envelope::{self, EnvelopeError};
use datamgmt_fuzz::{block_on, build_chunks, chunk_fixture, reference_open, Trickle};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(init: { chunk_fixture(); }, |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let fixture = chunk_fixture();
    let chunks = if mode & 0x01 != 0 { build_chunks(rest, &fixture.digest) } else { rest.to_vec() };
    let parallelism = 1 + usize::from((mode >> 1) & 0x03);
    let step = (mode & 0x08 != 0).then(|| 1 + usize::from(mode >> 4));

    let mut out = Vec::new();
    let (header, key) = (&fixture.header, &fixture.data_key);
    let result = block_on(async {
        match step {
            Some(step) => {
                envelope::decrypt(Trickle::new(&chunks, step), &mut out, header, key, parallelism)
                    .await
            }
            None => envelope::decrypt(&chunks[..], &mut out, header, key, parallelism).await,
        }
    });
    let expected = reference_open(&chunks, &fixture.digest, header.chunk_size() as usize);

    match (result, expected) {
        (Ok(summary), Some(plaintext)) => {
            assert!(out == plaintext, "decrypt wrote other plaintext than the envelope holds");
            assert_eq!(summary.plaintext_len, out.len() as u64);
            assert_eq!(summary.content_hash.0, <[u8; 32]>::from(Sha256::digest(&out)));
        }
        (Ok(summary), None) => panic!(
            "decrypt accepted chunks that are not a valid envelope ({} bytes, summary {summary:?})",
            chunks.len()
        ),
        (Err(error), Some(_)) => panic!("decrypt refused a valid envelope: {error:?}"),
        (Err(error), None) => {
            assert!(matches!(error, EnvelopeError::Corrupt), "unexpected error: {error:?}")
        }
    }
});
