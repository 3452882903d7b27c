//! The restoration worker: one background thread (in a browser, one task of the page) that
//! decodes images, classifies them and restores them (in tiles when they are large),
//! reporting progress to the UI over a channel. The UI never waits on it. A job is one
//! async function for both: the thread drives it to completion, the page's task awaits it
//! and so yields to the browser while the device works.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use web_time::Instant;
use wgpu_restore::image_io::{self, Format, Image};
use wgpu_restore::tiling::{is_out_of_memory, TileOptions};
use wgpu_restore::{Error, Model, Runtime, RuntimeOptions, Tensor};

/// What the worker needs to restore: a runtime (device) and a model. Either may be missing;
/// the reason is then reported for every job instead of restoring.
#[derive(Clone)]
pub struct Engine {
    pub runtime: Result<Arc<Runtime>, String>,
    pub model: Result<Arc<Model>, String>,
    /// How the model is named in the window.
    pub model_name: String,
    /// Whether the runtime uses the device the window renders with.
    pub shared_device: bool,
}

/// One unit of work for an item of the queue.
pub struct Job {
    pub item: u64,
    pub path: PathBuf,
    /// The file as the window handed it over (dropped in a browser, or picked there), read
    /// instead of `path`.
    pub file: Option<egui::DroppedFileHandle>,
    /// The decoded image when the item was loaded before ("restore again").
    pub source: Option<Arc<Image>>,
    /// Probabilities to restore with; `None`: classify first and use the result.
    pub probs: Option<Vec<f32>>,
    /// Average the flips and rotations that suit the degradations (self-ensemble).
    pub ensemble: bool,
    pub cancel: Arc<AtomicBool>,
}

/// What the worker reports.
pub enum Event {
    Started(u64),
    Loaded(u64, Arc<Image>),
    Classified(u64, Vec<f32>),
    /// Tiles done of total (a whole-image forward is one tile).
    Progress(u64, usize, usize),
    Restored(Box<Restored>),
    Cancelled(u64),
    Failed(u64, String),
}

pub struct Restored {
    pub item: u64,
    pub image: Tensor,
    pub probs: Vec<f32>,
    pub seconds: f64,
    /// Tile side used, `None` for a whole-image forward.
    pub tile: Option<usize>,
    pub tiles: usize,
    /// Forwards averaged: 1, or the symmetries of a self-ensemble.
    pub passes: usize,
}

/// The running worker: a thread on the desktop, joined when the app closes.
#[cfg(not(target_arch = "wasm32"))]
pub type Worker = std::thread::JoinHandle<()>;

/// The running worker: in a browser, a task of the page that ends once the job channel is
/// closed (nothing to join).
#[cfg(target_arch = "wasm32")]
pub struct Worker;

/// Starts the worker thread. `wake` is called after every event (the UI asks for a repaint).
#[cfg(not(target_arch = "wasm32"))]
pub fn spawn(
    engine: Engine,
    jobs: Receiver<Job>,
    events: Sender<Event>,
    wake: impl Fn() + Send + 'static,
) -> Worker {
    std::thread::Builder::new()
        .name("wgpu-restore worker".into())
        .spawn(move || {
            let mut engine = engine;
            let send = |e: Event| {
                let _ = events.send(e);
                wake();
            };
            while let Ok(job) = jobs.recv() {
                let id = job.item;
                // A panic in the library must not take the window down: report it instead.
                let r = wgpu_restore::guard::catch(|| {
                    pollster::block_on(async {
                        engine.reopen_lost_device().await;
                        run_job(&engine, job, &send).await
                    });
                    Ok(())
                });
                if let Err(msg) = r {
                    send(Event::Failed(id, msg));
                }
            }
        })
        .expect("cannot start the worker thread")
}

/// How often the page's worker task looks for a new job while idle.
#[cfg(target_arch = "wasm32")]
const IDLE_POLL_MS: i32 = 50;

/// Starts the worker as a task of the page. It awaits each forward's chunks of work (see
/// `Runtime::set_submit_chunk`), so the page keeps drawing and answering while the device
/// works; idle, it looks at the job channel every [`IDLE_POLL_MS`].
#[cfg(target_arch = "wasm32")]
pub fn spawn(
    engine: Engine,
    jobs: Receiver<Job>,
    events: Sender<Event>,
    wake: impl Fn() + 'static,
) -> Worker {
    wasm_bindgen_futures::spawn_local(async move {
        let mut engine = engine;
        let send = |e: Event| {
            let _ = events.send(e);
            wake();
        };
        loop {
            match jobs.try_recv() {
                Ok(job) => {
                    engine.reopen_lost_device().await;
                    run_job(&engine, job, &send).await;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    crate::web::sleep_ms(IDLE_POLL_MS).await
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            }
        }
    });
    Worker
}

impl Engine {
    /// Opens a new device in place of a lost one (a driver reset; a browser reclaiming the
    /// GPU), so that one loss fails one image and not every later one. A device shared with
    /// the window is the window's to reopen, and is left alone.
    pub async fn reopen_lost_device(&mut self) {
        let lost = match &self.runtime {
            Ok(rt) if !self.shared_device => rt.gpu().lost().is_some(),
            _ => false,
        };
        if lost {
            self.runtime = Runtime::new_async(RuntimeOptions {
                quiet: true,
                ..Default::default()
            })
            .await
            .map(|rt| {
                rt.set_submit_chunk(self.submit_chunk());
                Arc::new(rt)
            })
            .map_err(|e| format!("the device was lost and cannot be opened again: {e}"));
        }
    }

    /// The submission chunk of the current runtime (kept by a reopened one).
    fn submit_chunk(&self) -> usize {
        self.runtime
            .as_ref()
            .map(|rt| rt.submit_chunk())
            .unwrap_or(0)
    }
}

/// Reads and decodes the job's image: the handed-over file, else the file at its path.
async fn load(job: &Job) -> Result<Image, String> {
    let Some(file) = &job.file else {
        return image_io::read_image(&job.path).map_err(|e| e.to_string());
    };
    #[cfg(target_arch = "wasm32")]
    let bytes = file.bytes_async().await?;
    #[cfg(not(target_arch = "wasm32"))]
    let bytes = file.bytes()?;
    image_io::decode_image(&bytes, Format::from_path(file.path())).map_err(|e| e.to_string())
}

async fn run_job(engine: &Engine, job: Job, send: &dyn Fn(Event)) {
    let id = job.item;
    if job.cancel.load(Ordering::Relaxed) {
        send(Event::Cancelled(id));
        return;
    }
    send(Event::Started(id));
    let source = match job.source.clone() {
        Some(s) => s,
        None => match load(&job).await {
            Ok(img) => {
                let img = Arc::new(img);
                send(Event::Loaded(id, img.clone()));
                img
            }
            Err(e) => {
                send(Event::Failed(id, format!("cannot open: {e}")));
                return;
            }
        },
    };
    let (rt, model) = match (&engine.runtime, &engine.model) {
        (Ok(rt), Ok(m)) => (rt, m),
        (Err(e), _) => {
            send(Event::Failed(id, format!("restoration unavailable: {e}")));
            return;
        }
        (_, Err(e)) => {
            send(Event::Failed(id, format!("no model: {e}")));
            return;
        }
    };
    let probs = match job.probs {
        Some(p) => p,
        // Probabilities that are not finite would restore to NaN: the same refusal as the CLI.
        None => match rt.classify_async(model, &source.rgb).await.and_then(|p| {
            wgpu_restore::ensemble::check_finite("the degradation probabilities", &p).map(|()| p)
        }) {
            Ok(p) => {
                send(Event::Classified(id, p.clone()));
                p
            }
            Err(e) => {
                send(Event::Failed(
                    id,
                    format!("classification failed: {}", problem(&e)),
                ));
                return;
            }
        },
    };
    if job.cancel.load(Ordering::Relaxed) {
        send(Event::Cancelled(id));
        return;
    }
    let start = Instant::now();
    let opts = TileOptions::for_runtime(rt);
    let mut progress = |done: usize, total: usize| send(Event::Progress(id, done, total));
    // The CLI's own entry point (tiling, and the self-ensemble when asked), checking
    // `cancel` between tiles.
    match wgpu_restore::ensemble::restore_cancellable_async(
        rt,
        model,
        &source.rgb,
        &probs,
        &opts,
        job.ensemble,
        &job.cancel,
        &mut progress,
    )
    .await
    {
        Ok(Some((image, report))) => send(Event::Restored(Box::new(Restored {
            item: id,
            image,
            probs,
            seconds: start.elapsed().as_secs_f64(),
            tile: report.tile,
            tiles: report.tiles,
            passes: report.passes,
        }))),
        Ok(None) => send(Event::Cancelled(id)),
        Err(e) => send(Event::Failed(
            id,
            format!("restoration failed: {}", problem(&e)),
        )),
    }
}

/// The text of a library error for the window.
pub fn problem(e: &Error) -> String {
    let s = e.to_string();
    if is_out_of_memory(e) {
        format!("the device ran out of memory even with small tiles ({s})")
    } else {
        s
    }
}

/// The device descriptor for a device shared by the window and the runtime: the adapter's
/// own limits (compute needs far more than egui-wgpu's defaults) and no optional features.
pub fn shared_device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    wgpu::DeviceDescriptor {
        label: Some("wgpu-restore (window and compute)"),
        required_features: wgpu::Features::empty(),
        required_limits: adapter.limits(),
        ..Default::default()
    }
}

/// Ranks adapters for the shared device: compute-capable first, then hardware before
/// software, then Vulkan/Metal/DX12 before GL (lower is better).
pub fn adapter_rank(a: &wgpu::Adapter) -> u32 {
    let info = a.get_info();
    let compute = a
        .get_downlevel_capabilities()
        .flags
        .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
    let ty = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    u32::from(!compute) * 100 + ty * 2 + u32::from(info.backend == wgpu::Backend::Gl)
}

/// Opens a device for headless use (tests): the best adapter by [`adapter_rank`], with
/// [`shared_device_descriptor`]. Returns what egui-wgpu's `WgpuSetupExisting` needs.
#[cfg(not(target_arch = "wasm32"))]
pub fn open_headless_device(
) -> Result<(wgpu::Instance, wgpu::Adapter, wgpu::Device, wgpu::Queue), String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let adapter = adapters
        .into_iter()
        .min_by_key(adapter_rank)
        .ok_or_else(|| "no graphics adapter found".to_string())?;
    let (device, queue) =
        pollster::block_on(adapter.request_device(&shared_device_descriptor(&adapter)))
            .map_err(|e| format!("cannot open {}: {e}", adapter.get_info().name))?;
    Ok((instance, adapter, device, queue))
}
