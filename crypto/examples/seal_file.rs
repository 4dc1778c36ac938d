//! Seals a file into an envelope and opens it again, streaming both ways, and reports
//! time and peak memory: `cargo run --release -p datamgmt-crypto --example seal_file --
//! FILE [WORK_DIR]`. The envelope and the recovered copy go to `WORK_DIR` (default: the
//! system's temporary directory) and are removed afterwards.

use datamgmt_crypto::envelope::{self, Header, DEFAULT_CHUNK_SIZE};
use datamgmt_crypto::keyring::Keyring;
use datamgmt_crypto::keys::{DataKey, Passphrase};
use std::path::PathBuf;
use std::time::Instant;
use tokio::fs::File;
use tokio::io::{BufReader, BufWriter};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let input = PathBuf::from(args.next().ok_or("usage: seal_file FILE [WORK_DIR]")?);
    let work_dir = args.next().map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let sealed_path = work_dir.join("seal_file.envelope");
    let opened_path = work_dir.join("seal_file.plaintext");
    let parallelism = std::thread::available_parallelism()?.get();
    let keyring = Keyring::generate(&Passphrase::from("seal_file example"));
    println!("peak RSS after start-up: {} MiB", peak_rss_mib());

    let began = Instant::now();
    let data_key = DataKey::generate();
    let mut header = Header::new(DEFAULT_CHUNK_SIZE)?;
    let (version, master) = keyring.current_master();
    header.add_custody(version, master, &data_key)?;
    let reader = BufReader::new(File::open(&input).await?);
    let writer = BufWriter::new(File::create(&sealed_path).await?);
    let sealed = envelope::encrypt(reader, writer, &header, &data_key, parallelism).await?;
    let seal_time = began.elapsed();
    println!("peak RSS after sealing: {} MiB", peak_rss_mib());

    let began = Instant::now();
    let mut reader = BufReader::new(File::open(&sealed_path).await?);
    let header = Header::read(&mut reader).await?;
    let data_key = header.open_custody(&keyring)?;
    let writer = BufWriter::new(File::create(&opened_path).await?);
    let opened = envelope::decrypt(reader, writer, &header, &data_key, parallelism).await?;
    let open_time = began.elapsed();
    assert_eq!(opened.content_hash, sealed.content_hash, "round trip changed the data");

    let mb = sealed.plaintext_len as f64 / 1e6;
    println!("{}: {} bytes, {}", input.display(), sealed.plaintext_len, sealed.content_hash);
    println!(
        "sealed in {:.2} s ({:.0} MB/s), envelope {} bytes",
        seal_time.as_secs_f64(),
        mb / seal_time.as_secs_f64(),
        sealed.envelope_len
    );
    println!(
        "opened in {:.2} s ({:.0} MB/s)",
        open_time.as_secs_f64(),
        mb / open_time.as_secs_f64()
    );
    println!("peak RSS: {} MiB", peak_rss_mib());
    std::fs::remove_file(&sealed_path)?;
    std::fs::remove_file(&opened_path)?;
    Ok(())
}

/// The process's peak resident set size so far (Linux), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib / 1024)
}
