//! wgpu-restore: all-in-one image restoration (Prompt Net + restoration U-Net) executed as
//! WGSL compute shaders on any WebGPU device.
//!
//! ```no_run
//! use wgpu_restore::{Model, Runtime, RuntimeOptions, Shape, Tensor};
//! let model = Model::load("model.safetensors")?;
//! let rt = Runtime::new(RuntimeOptions::default())?;
//! let image = Tensor::zeros(Shape::new(3, 64, 64));
//! let probs = rt.classify(&model, &image)?;
//! let restored = rt.restore(&model, &image, &probs)?;
//! # Ok::<(), wgpu_restore::Error>(())
//! ```

pub mod cost;
pub mod ensemble;
pub mod error;
pub mod exec;
pub mod fuse;
pub mod gpu;
pub mod guard;
pub mod image_io;
pub mod import;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod plan;
pub mod probs;
pub mod synth;
pub mod tensor;
pub mod tiling;

pub use error::{Error, Result};
pub use exec::{memory_report, plan_function, MemoryReport, NodeTiming, Runtime, RuntimeOptions};
#[cfg(not(target_arch = "wasm32"))]
pub use gpu::list_adapters;
pub use gpu::{
    skip_device_select_layer_without_wayland, AdapterChoice, AdapterSummary, BackendChoice,
    GpuOptions, PrecisionChoice,
};
pub use model::{HostTensor, Model};
pub use ops::Precision;
pub use tensor::{Shape, Tensor};
