//! Waiting for the device without blocking the caller's thread.
//!
//! A forward waits twice: for each chunk of dispatches to finish (so that other work on the
//! queue gets a turn) and for its result buffer to be mapped. wgpu reports both through
//! callbacks. On native backends the callbacks run inside `device.poll`, which blocks until
//! the work is done; in a browser `poll` does nothing, the callbacks run from the page's
//! event loop, and the page must not block (its one thread also runs the callbacks). So
//! each wait here is a future that a callback completes, preceded on native by the
//! blocking poll that makes the callback run: awaited by the web's tasks, and driven to
//! completion by `pollster::block_on` in the blocking wrappers of the CLI and the desktop.

use super::Gpu;
use crate::error::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

/// The sending half of a one-value channel: what a wgpu callback completes.
struct Sender<T>(Arc<Mutex<Slot<T>>>);

/// The receiving half: a future of the value.
struct Receiver<T>(Arc<Mutex<Slot<T>>>);

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The sender was dropped without sending (a callback that never runs).
    closed: bool,
}

fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
        closed: false,
    }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    fn send(self, value: T) {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        s.value = Some(value);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        // `Drop` below runs next and finds the value set.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if s.value.is_none() {
            s.closed = true;
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T> Future for Receiver<T> {
    /// `None` when the sender was dropped unused.
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = s.value.take() {
            return Poll::Ready(Some(v));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// On native backends, runs the device's callbacks by waiting for `submission` (or for all
/// work); in a browser the event loop runs them and this does nothing.
fn poll_native(gpu: &Gpu, submission: Option<wgpu::SubmissionIndex>) -> Result<()> {
    if cfg!(target_arch = "wasm32") {
        return Ok(());
    }
    let waited = gpu.device.poll(wgpu::PollType::Wait {
        submission_index: submission,
        timeout: None,
    });
    match waited {
        Ok(_) => Ok(()),
        Err(e) => {
            // A lost device fails the wait; a plain poll runs its lost callback, whose
            // reason says more than the failed wait.
            let _ = gpu.device.poll(wgpu::PollType::Poll);
            gpu.lost_error()?;
            Err(Error::Gpu(format!("device poll failed: {e}")))
        }
    }
}

/// Completes when the queue has finished the work submitted as `submission` (and all work
/// before it).
pub(crate) async fn submitted(gpu: &Gpu, submission: wgpu::SubmissionIndex) -> Result<()> {
    let (tx, rx) = oneshot();
    gpu.queue.on_submitted_work_done(move || tx.send(()));
    poll_native(gpu, Some(submission))?;
    rx.await
        .ok_or_else(|| Error::Gpu("the device never finished the submitted work".into()))?;
    gpu.lost_error()
}

/// Maps `buf` (a `MAP_READ` buffer whose copies have been submitted) and returns its bytes.
pub(crate) async fn map_read(gpu: &Gpu, buf: &wgpu::Buffer) -> Result<Vec<u8>> {
    let (tx, rx) = oneshot();
    buf.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
    poll_native(gpu, None)?;
    let mapped = rx.await;
    gpu.lost_error()?;
    mapped
        .ok_or_else(|| Error::Gpu("buffer mapping never completed".into()))?
        .map_err(|e| Error::Gpu(format!("cannot map the result buffer: {e}")))?;
    let bytes = buf
        .get_mapped_range(..)
        .map_err(|e| Error::Gpu(format!("cannot read the result buffer: {e}")))?
        .to_vec();
    buf.unmap();
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls a future once with a waker that counts its wake-ups.
    fn poll_once<F: Future + Unpin>(
        f: &mut F,
        wakes: &Arc<std::sync::atomic::AtomicUsize>,
    ) -> Poll<F::Output> {
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let waker = Waker::from(Arc::new(Count(wakes.clone())));
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_value_sent_later_wakes_the_receiver() {
        let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, mut rx) = oneshot::<u32>();
        assert_eq!(poll_once(&mut rx, &wakes), Poll::Pending);
        tx.send(7);
        assert_eq!(wakes.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(poll_once(&mut rx, &wakes), Poll::Ready(Some(7)));
    }

    #[test]
    fn a_sender_dropped_unused_ends_the_wait() {
        let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, mut rx) = oneshot::<u32>();
        assert_eq!(poll_once(&mut rx, &wakes), Poll::Pending);
        drop(tx);
        assert_eq!(wakes.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(poll_once(&mut rx, &wakes), Poll::Ready(None));
        // A value sent before the first poll is there at once.
        let (tx, mut rx) = oneshot::<u32>();
        tx.send(3);
        assert_eq!(poll_once(&mut rx, &wakes), Poll::Ready(Some(3)));
    }
}
