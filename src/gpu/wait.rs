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
///
/// On native backends the blocking wait for `submission` is all it takes. A work-done
/// callback would be wrong there: it belongs to the newest submission at the time it is
/// registered, which may be another party's on a shared device (the desktop window's
/// frame), and it runs only when someone polls after that work ends. The worker's own wait
/// may have ended before, and then nobody ran it.
pub(crate) async fn submitted(gpu: &Gpu, submission: wgpu::SubmissionIndex) -> Result<()> {
    if cfg!(target_arch = "wasm32") {
        // The page's event loop runs the callback once everything submitted so far is
        // done: later than needed when the window submitted since, never too early.
        let (tx, rx) = oneshot();
        gpu.queue.on_submitted_work_done(move || tx.send(()));
        rx.await
            .ok_or_else(|| Error::Gpu("the device never finished the submitted work".into()))?;
    } else {
        poll_native(gpu, Some(submission))?;
    }
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

    /// Submits one dispatch of `shader` that loops `iterations` times (a submission that
    /// keeps a software device busy for a while) and returns its index.
    fn submit_busy_work(gpu: &Gpu, iterations: u32) -> wgpu::SubmissionIndex {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("busy"),
                source: wgpu::ShaderSource::Wgsl(
                    "@group(0) @binding(0) var<storage, read_write> acc: array<f32>;
                     @compute @workgroup_size(64)
                     fn main(@builtin(global_invocation_id) id: vec3<u32>) {
                         var x = acc[id.x];
                         for (var i = 0u; i < u32(acc[16384]); i++) { x = fma(x, 0.999, 1.0); }
                         acc[id.x] = x;
                     }"
                    .into(),
                ),
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("busy"),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        // 256 workgroups of 64 lanes, one value each, and the loop count after them.
        let mut init = vec![0f32; 16385];
        init[16384] = iterations as f32;
        let buf = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("busy"),
            size: 16385 * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        gpu.queue.write_buffer(&buf, 0, bytemuck::cast_slice(&init));
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("busy"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: buf.as_entire_binding(),
            }],
        });
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            // Many workgroups, so that the work outlasts the other submission's wait.
            pass.dispatch_workgroups(256, 1, 1);
        }
        gpu.queue.submit([enc.finish()])
    }

    /// A window that shares the device submits its own work after ours: the wait for our
    /// submission ends when ours is done, whatever the later work is doing, and does not
    /// depend on anyone else polling the device. (A work-done callback registered after the
    /// other submission belongs to it, and was never run while that work was still going.)
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn waiting_for_a_submission_ignores_later_work_of_others() {
        let Ok(gpu) = Gpu::new(&crate::gpu::GpuOptions {
            quiet: true,
            ..Default::default()
        }) else {
            eprintln!("no adapter: skipped");
            return;
        };
        let gpu = Arc::new(gpu);
        let ours = submit_busy_work(&gpu, 1);
        let _theirs = submit_busy_work(&gpu, 2_000_000);
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = gpu.clone();
        std::thread::spawn(move || {
            let _ = tx.send(pollster::block_on(submitted(&waiter, ours)).is_ok());
        });
        let waited = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(
            waited,
            Ok(true),
            "the wait for a finished submission did not end"
        );
        // The other work still completes and the device stays usable.
        let t = std::time::Instant::now();
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
        eprintln!("the other work ended {:?} after ours", t.elapsed());
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
