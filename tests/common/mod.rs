//! Shared helpers of the integration tests (one device per test binary).
#![allow(dead_code)]

pub mod cli;

use std::path::PathBuf;
use std::sync::OnceLock;
use wgpu_restore::model::{read_safetensors, HostTensor};
use wgpu_restore::{Runtime, RuntimeOptions, Shape, Tensor};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One runtime per test binary (pipelines are created once).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let rt = Runtime::new(RuntimeOptions {
            quiet: true,
            ..Default::default()
        })
        .expect("no GPU adapter: install a Vulkan driver (lavapipe: mesa-vulkan-drivers)");
        eprintln!("adapter: {}", rt.gpu().adapter);
        rt
    })
}

/// A runtime storing values and weights in f16, when the adapter has SHADER_F16 (lavapipe
/// does); `None` otherwise.
pub fn runtime_f16() -> Option<&'static Runtime> {
    static RT: OnceLock<Option<Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(RuntimeOptions {
            quiet: true,
            precision: wgpu_restore::PrecisionChoice::F16,
            ..Default::default()
        })
        .ok()
    })
    .as_ref()
}

pub fn to_tensor(name: &str, t: &HostTensor) -> Tensor {
    assert_eq!(
        t.shape.len(),
        3,
        "fixture tensor {name} is not C x H x W: {:?}",
        t.shape
    );
    Tensor::new(
        Shape::new(t.shape[0], t.shape[1], t.shape[2]),
        t.data.clone(),
    )
}

pub fn read_fixture(path: &std::path::Path) -> wgpu_restore::model::SafetensorsFile {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_safetensors(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A deterministic pseudo-random image in [0, 1].
pub fn test_image(h: usize, w: usize, seed: u64) -> Tensor {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data = (0..3 * h * w)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / ((1u64 << 24) as f32)
        })
        .collect();
    Tensor::new(Shape::new(3, h, w), data)
}
