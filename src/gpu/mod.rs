//! The device: adapter choice, real limits, features, error capture, pipeline cache.

pub mod adapter;
pub mod memory;
pub mod pipeline;
pub(crate) mod wait;

#[cfg(not(target_arch = "wasm32"))]
pub use adapter::list_adapters;
pub use adapter::{
    skip_device_select_layer_without_wayland, AdapterChoice, AdapterSummary, BackendChoice,
};
pub use pipeline::PipelineCache;

use crate::error::{Error, Result};
use crate::ops::Precision;
use std::sync::{Arc, Mutex, PoisonError};

/// How values and weights are stored on the device (`--precision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrecisionChoice {
    /// f16 where the device has `SHADER_F16` and is a GPU; f32 on CPU (software) adapters,
    /// where f16 storage saves no time (the arithmetic is f32 either way).
    #[default]
    Auto,
    F32,
    F16,
}

impl std::str::FromStr for PrecisionChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(PrecisionChoice::Auto),
            "f32" => Ok(PrecisionChoice::F32),
            "f16" => Ok(PrecisionChoice::F16),
            other => Err(Error::Input(format!(
                "precision `{other}`: expected f32, f16 or auto"
            ))),
        }
    }
}

impl PrecisionChoice {
    /// The precision for a device with these features (`software`: a CPU adapter).
    fn resolve(self, has_f16: bool, software: bool, name: &str) -> Result<Precision> {
        match self {
            PrecisionChoice::F32 => Ok(Precision::F32),
            PrecisionChoice::F16 if has_f16 => Ok(Precision::F16),
            PrecisionChoice::F16 => Err(Error::Device(format!(
                "{name} has no 16-bit float support (SHADER_F16): use --precision f32 or auto"
            ))),
            PrecisionChoice::Auto => Ok(if has_f16 && !software {
                Precision::F16
            } else {
                Precision::F32
            }),
        }
    }
}

/// How to pick and open the device.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    pub backend: BackendChoice,
    pub adapter: AdapterChoice,
    /// Storage precision of values and weights.
    pub precision: PrecisionChoice,
    /// Request timestamp queries (per-op timings) when the adapter has them.
    pub timestamps: bool,
    /// Do not print the software-adapter note to stderr (it is still in [`Gpu::note`]).
    pub quiet: bool,
}

/// Whether to compile kernels with wgpu's injected runtime checks (bounds checks, loop
/// bounding, division guards): set `WGPU_RESTORE_CHECKED_SHADERS=1` to debug a kernel. Off by
/// default: on CPU drivers (lavapipe) the checks cost several times the kernel time.
pub fn checked_shaders() -> bool {
    std::env::var("WGPU_RESTORE_CHECKED_SHADERS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// An open device with its queue, limits and pipeline cache.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    /// The limits granted: the adapter's real limits.
    pub limits: wgpu::Limits,
    /// Set when a software adapter is in use.
    pub note: Option<String>,
    /// Whether timestamp queries are enabled.
    pub timestamps: bool,
    /// How values and weights are stored.
    pub precision: Precision,
    /// Bytes of memory the device has for buffers, when known (memory.rs).
    pub memory: Option<u64>,
    pub pipelines: PipelineCache,
    errors: Arc<Mutex<Vec<String>>>,
    /// Why the device was lost, once it is.
    lost: Arc<Mutex<Option<String>>>,
    /// The instance the device came from, when it was opened here: a browser warns when the
    /// instance of a device in use goes away.
    _instance: Option<wgpu::Instance>,
}

impl Gpu {
    /// Opens a device, blocking until it is ready (see [`Gpu::new_async`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(opts: &GpuOptions) -> Result<Gpu> {
        pollster::block_on(Self::new_async(opts))
    }

    /// Opens a device: the adapter `opts` chooses, with its real limits. In a browser this
    /// is the page's WebGPU adapter, and the future must be awaited (the page's event loop
    /// answers the requests).
    pub async fn new_async(opts: &GpuOptions) -> Result<Gpu> {
        let instance = adapter::new_instance(opts.backend);
        let (adapter, summary, note) =
            adapter::select(&instance, opts.backend, &opts.adapter).await?;
        if let (Some(n), false) = (&note, opts.quiet) {
            eprintln!("{n}");
        }
        let timestamps =
            opts.timestamps && adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let has_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let precision = opts
            .precision
            .resolve(has_f16, summary.software, &summary.name)?;
        let mut features = wgpu::Features::empty();
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        if precision == Precision::F16 {
            features |= wgpu::Features::SHADER_F16;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgpu-restore"),
                required_features: features,
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Device(format!("{}: {e}", summary.name)))?;
        let memory = memory::device_memory(&adapter, summary.software);
        let mut gpu = Gpu::assemble(device, queue, summary, note, precision, memory);
        gpu._instance = Some(instance);
        Ok(gpu)
    }

    /// Wraps a device that was opened elsewhere (for example by a UI's renderer), so that
    /// rendering and compute share one device. The limits are the device's own; timestamp
    /// queries are used when the device was opened with them, f16 storage when it was
    /// opened with `SHADER_F16` and is not a software adapter. GPU errors raised on the
    /// device from now on are collected here (the device has one error handler).
    pub fn from_device(
        adapter: &wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Result<Gpu> {
        let summary = adapter::summarize(0, adapter);
        if !summary.compute {
            return Err(Error::NoAdapter(format!(
                "adapter {summary} cannot run compute shaders"
            )));
        }
        let note = summary.software.then(|| {
            format!(
                "note: using the software adapter `{}` ({}); expect it to be slow.",
                summary.name, summary.backend
            )
        });
        let has_f16 = device.features().contains(wgpu::Features::SHADER_F16);
        let precision = PrecisionChoice::Auto.resolve(has_f16, summary.software, &summary.name)?;
        let memory = memory::device_memory(adapter, summary.software);
        Ok(Gpu::assemble(
            device, queue, summary, note, precision, memory,
        ))
    }

    /// The one place that turns an open device into a `Gpu`: its limits and timestamp
    /// support are read off the device, and its uncaptured errors are collected here.
    fn assemble(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter: AdapterSummary,
        note: Option<String>,
        precision: Precision,
        memory: Option<u64>,
    ) -> Gpu {
        let limits = device.limits();
        let timestamps = device.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(crate::error::one_line(&e.to_string()));
        }));
        // A lost device (a driver reset, a browser reclaiming the GPU) fails every later call:
        // remembered so that callers can say so in one line and open a new one.
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let why = match (reason, message.trim()) {
                (wgpu::DeviceLostReason::Destroyed, "") => "destroyed".to_string(),
                (_, "") => "lost by the driver".to_string(),
                (_, m) => crate::error::one_line(m),
            };
            *lost_sink.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
        });
        Gpu {
            device,
            queue,
            adapter,
            limits,
            note,
            timestamps,
            precision,
            memory,
            pipelines: PipelineCache::new(checked_shaders()),
            errors,
            lost,
            _instance: None,
        }
    }

    /// Why the device was lost, if it was; every later call on it fails.
    pub fn lost(&self) -> Option<String> {
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// [`Gpu::lost`] as an error.
    pub(crate) fn lost_error(&self) -> Result<()> {
        match self.lost() {
            Some(why) => Err(Error::Device(format!(
                "the GPU device ({}) was lost: {why}",
                self.adapter.name
            ))),
            None => Ok(()),
        }
    }

    /// Largest buffer that one storage binding may hold.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Returns (and clears) GPU errors raised since the last call; a lost device first.
    pub fn take_errors(&self) -> Result<()> {
        self.lost_error()?;
        let mut e = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        if e.is_empty() {
            Ok(())
        } else {
            let msg = e.join("; ");
            e.clear();
            Err(Error::Gpu(msg))
        }
    }

    /// The x, y, z workgroup counts of a grid: a flat count is split over x and y when it
    /// exceeds the device's per-dimension limit.
    pub fn grid(&self, grid: crate::ops::Grid) -> Result<[u32; 3]> {
        let max = self.limits.max_compute_workgroups_per_dimension.max(1);
        // Flat grids wrap along x at this many workgroups (lowered by tests to exercise it).
        let wrap = max.min(crate::ops::max_groups_per_dim() as u32);
        match grid {
            crate::ops::Grid::Linear(n) => {
                if n <= wrap {
                    return Ok([n.max(1), 1, 1]);
                }
                let y = n.div_ceil(wrap);
                if y > max {
                    return Err(Error::Gpu(format!(
                        "{n} workgroups exceed the device's {wrap} x {max} grid"
                    )));
                }
                Ok([wrap, y, 1])
            }
            crate::ops::Grid::Dims(d) => {
                if d.iter().any(|&v| v > max) {
                    return Err(Error::Gpu(format!(
                        "a {}x{}x{} workgroup grid exceeds the device's limit of {max} per dimension (image too large; use tiles)",
                        d[0], d[1], d[2]
                    )));
                }
                Ok([d[0].max(1), d[1].max(1), d[2].max(1)])
            }
        }
    }
}
