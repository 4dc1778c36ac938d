//! Envelope throughput against the peers a user would otherwise pick, in one run.
//!
//! `cargo bench -p datamgmt-crypto --bench envelope` prints, for 1 KiB, 1 MiB and 64 MiB
//! payloads, encryption and decryption throughput of
//! - this crate's streaming envelope on one core (`parallelism` 1) and on every core;
//! - Python `cryptography`'s Fernet (one token for the whole payload, as its users do);
//! - `openssl speed` for AES-128-CBC and HMAC-SHA256, the primitives' limit on one core;
//!
//! and PBKDF2-HMAC-SHA256 at 600,000 iterations against Python's `hashlib`.
//! Every figure is the median of several runs, with the spread (min..max).

use datamgmt_crypto::envelope::{self, Header, DEFAULT_CHUNK_SIZE};
use datamgmt_crypto::keyring::Keyring;
use datamgmt_crypto::keys::{DataKey, Passphrase};
use std::process::Command;
use std::time::{Duration, Instant};

const SIZES: [(usize, &str); 3] = [(1 << 10, "1 KiB"), (1 << 20, "1 MiB"), (64 << 20, "64 MiB")];
const RUNS: usize = 7;

/// Python: median and min/max MB/s of Fernet encrypt and decrypt for a payload size.
const PYTHON_FERNET: &str = r#"
import os, sys, time, statistics
from cryptography.fernet import Fernet
size, runs = int(sys.argv[1]), int(sys.argv[2])
data = os.urandom(size)
f = Fernet(Fernet.generate_key())
reps = max(1, (8 << 20) // size)
def rate(fn):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(reps):
            r = fn()
        out.append(size * reps / (time.perf_counter() - t) / 1e6)
    return out
token = f.encrypt(data)
enc = rate(lambda: f.encrypt(data))
dec = rate(lambda: f.decrypt(token))
print(statistics.median(enc), min(enc), max(enc), statistics.median(dec), min(dec), max(dec))
"#;

const PYTHON_PBKDF2: &str = r#"
import hashlib, time, statistics, sys
runs = int(sys.argv[1])
out = []
for _ in range(runs):
    t = time.perf_counter()
    hashlib.pbkdf2_hmac("sha256", b"correct horse battery staple", b"0123456789abcdef", 600000, 32)
    out.append(time.perf_counter() - t)
print(statistics.median(out), min(out), max(out))
"#;

/// Median, min and max of a set of samples.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }

    fn show(&self) -> String {
        format!("{:>8.0} ({:.0}..{:.0})", self.median, self.min, self.max)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let keyring = Keyring::generate(&Passphrase::from("bench"));
    println!("throughput in MB/s, median of {RUNS} (min..max); {cores} cores");
    println!(
        "{:<8} {:<10} {:>24} {:>24} {:>24} {:>10} {:>10}",
        "payload",
        "direction",
        "envelope, 1 core",
        "envelope, all cores",
        "Python Fernet",
        "1c/Python",
        "all/Python"
    );
    for (size, label) in SIZES {
        let data: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
        let python = python_fernet(size);
        let mut ours = Vec::new();
        for parallelism in [1, cores] {
            ours.push(runtime.block_on(envelope_rates(&keyring, &data, parallelism)));
        }
        for (direction, index) in [("encrypt", 0), ("decrypt", 1)] {
            let one = &ours[0][index];
            let all = &ours[1][index];
            let py = &python[index];
            println!(
                "{:<8} {:<10} {:>24} {:>24} {:>24} {:>9.2}x {:>9.2}x",
                label,
                direction,
                one.show(),
                all.show(),
                py.show(),
                one.median / py.median,
                all.median / py.median
            );
        }
    }
    println!();
    for (what, args) in [
        ("AES-128-CBC encrypt", vec!["-evp", "aes-128-cbc"]),
        ("AES-128-CBC decrypt", vec!["-evp", "aes-128-cbc", "-decrypt"]),
        ("HMAC-SHA256", vec!["-hmac", "sha256"]),
    ] {
        match openssl_speed(&args) {
            Some(rate) => {
                println!("openssl speed, 1 MiB buffers, one core: {what}: {rate:.0} MB/s")
            }
            None => println!("openssl speed {what}: not available"),
        }
    }
    println!();
    let ours: Vec<f64> = (0..5)
        .map(|_| {
            let began = Instant::now();
            let _ = Keyring::generate(&Passphrase::from("correct horse battery staple"));
            began.elapsed().as_secs_f64()
        })
        .collect();
    let ours = Spread::of(ours);
    let python = python_pbkdf2();
    println!(
        "PBKDF2-HMAC-SHA256, 600,000 iterations, seconds: ours {:.3} ({:.3}..{:.3}), Python hashlib {:.3} ({:.3}..{:.3}), ratio {:.2}",
        ours.median, ours.min, ours.max, python.median, python.min, python.max, ours.median / python.median
    );
}

/// MB/s of encrypting and decrypting `data` through the streaming envelope.
async fn envelope_rates(keyring: &Keyring, data: &[u8], parallelism: usize) -> [Spread; 2] {
    let repetitions = ((8 << 20) / data.len()).max(1);
    let (mut encrypt, mut decrypt) = (Vec::new(), Vec::new());
    let (version, master) = keyring.current_master();
    // Buffers are sized once and reused, as a stream into a file or socket would be.
    let mut sealed = Vec::with_capacity(data.len() + data.len() / 2 + 4096);
    let mut plaintext = Vec::with_capacity(data.len());
    for _ in 0..RUNS {
        let mut took = Duration::ZERO;
        for _ in 0..repetitions {
            sealed.clear();
            let began = Instant::now();
            let data_key = DataKey::generate();
            let mut header = Header::new(DEFAULT_CHUNK_SIZE).unwrap();
            header.add_custody(version, master, &data_key).unwrap();
            envelope::encrypt(data, &mut sealed, &header, &data_key, parallelism).await.unwrap();
            took += began.elapsed();
        }
        encrypt.push(mb_per_s(data.len() * repetitions, took));
        let mut took = Duration::ZERO;
        for _ in 0..repetitions {
            plaintext.clear();
            let began = Instant::now();
            let mut reader = &sealed[..];
            let header = Header::read(&mut reader).await.unwrap();
            let data_key = header.open_custody(keyring).unwrap();
            envelope::decrypt(reader, &mut plaintext, &header, &data_key, parallelism)
                .await
                .unwrap();
            took += began.elapsed();
        }
        assert_eq!(plaintext, data);
        decrypt.push(mb_per_s(data.len() * repetitions, took));
    }
    [Spread::of(encrypt), Spread::of(decrypt)]
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / 1e6
}

fn python(script: &str, args: &[String]) -> Vec<f64> {
    let output =
        Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn python_fernet(size: usize) -> [Spread; 2] {
    let v = python(PYTHON_FERNET, &[size.to_string(), RUNS.to_string()]);
    [Spread { median: v[0], min: v[1], max: v[2] }, Spread { median: v[3], min: v[4], max: v[5] }]
}

fn python_pbkdf2() -> Spread {
    let v = python(PYTHON_PBKDF2, &["5".to_string()]);
    Spread { median: v[0], min: v[1], max: v[2] }
}

/// `openssl speed` on 1 MiB buffers, in MB/s.
fn openssl_speed(args: &[&str]) -> Option<f64> {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", "2", "-bytes", "1048576"])
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().last()?;
    let thousands: f64 = last.split_whitespace().last()?.trim_end_matches('k').parse().ok()?;
    Some(thousands * 1000.0 / 1e6)
}
