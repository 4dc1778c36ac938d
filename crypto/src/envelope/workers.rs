//! A fixed pool of threads for chunk encryption and decryption.
//!
//! CPU-bound work does not belong on tokio's blocking pool, which starts new threads on
//! demand (hundreds at most): each new thread gets its own allocator arena, and freed
//! chunk buffers pile up in them, so memory grew with load instead of staying at a few
//! chunks. One thread per core, started on first use and kept, bounds both.

use std::sync::{mpsc, Mutex, OnceLock};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = std::sync::Arc::new(Mutex::new(receiver));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for index in 0..threads {
            let receiver = std::sync::Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("envelope-{index}"))
                .spawn(move || loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("the OS starts a worker thread");
        }
        Mutex::new(sender)
    })
}

/// Runs `work` on the pool; the receiver yields its result (or an error if it panicked).
pub(super) fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> oneshot::Receiver<T> {
    let (done, result) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    // A poisoned lock or closed pool drops the job, and with it `done`: the caller sees
    // an error instead of waiting forever.
    if let Ok(sender) = pool().lock() {
        let _ = sender.send(job);
    }
    result
}
