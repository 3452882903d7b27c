//! Importing published PyTorch checkpoints (PromptIR, Restormer) into the model format,
//! without Python: the checkpoint is read by a restricted unpickler that never runs code
//! (`pickle.rs`, `checkpoint.rs`), the architecture's graph is built from the tensor
//! shapes (`arch.rs`), and the file is written byte for byte as the Python exporter
//! (`training/import_checkpoint.py`) writes it (`pyjson.rs`). docs/import.md lists the
//! supported checkpoints.

pub mod arch;
pub mod checkpoint;
pub mod pickle;
pub mod pyjson;

pub use arch::{Arch, Norm};

use crate::model::HostTensor;
use serde_json::json;
use sha2::Digest;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// A published variant of an architecture: its name, the tasks it restores, the layer
/// norm its weights must have, and the file stems the authors publish it under.
pub struct Variant {
    pub id: &'static str,
    pub tasks: &'static [&'static str],
    pub norm: Norm,
    pub files: &'static [&'static str],
}

/// PromptIR's one published model: all-in-one (noise, rain, haze).
pub const PROMPTIR_VARIANTS: &[Variant] = &[Variant {
    id: "all-in-one",
    tasks: &["denoising", "deraining", "dehazing"],
    norm: Norm::WithBias,
    files: &[],
}];

/// Restormer's published colour models (swz30/Restormer, `*/pretrained_models/*.pth`).
pub const RESTORMER_VARIANTS: &[Variant] = &[
    Variant {
        id: "deraining",
        tasks: &["deraining"],
        norm: Norm::WithBias,
        files: &["deraining"],
    },
    Variant {
        id: "motion-deblurring",
        tasks: &["motion-deblurring"],
        norm: Norm::WithBias,
        files: &["motion_deblurring"],
    },
    Variant {
        id: "defocus-deblurring",
        tasks: &["defocus-deblurring"],
        norm: Norm::WithBias,
        files: &["single_image_defocus_deblurring"],
    },
    Variant {
        id: "real-denoising",
        tasks: &["denoising"],
        norm: Norm::BiasFree,
        files: &["real_denoising"],
    },
    Variant {
        id: "gaussian-denoising",
        tasks: &["denoising"],
        norm: Norm::BiasFree,
        files: &["gaussian_color_denoising_blind"],
    },
    Variant {
        id: "gaussian-denoising-sigma15",
        tasks: &["denoising"],
        norm: Norm::BiasFree,
        files: &["gaussian_color_denoising_sigma15"],
    },
    Variant {
        id: "gaussian-denoising-sigma25",
        tasks: &["denoising"],
        norm: Norm::BiasFree,
        files: &["gaussian_color_denoising_sigma25"],
    },
    Variant {
        id: "gaussian-denoising-sigma50",
        tasks: &["denoising"],
        norm: Norm::BiasFree,
        files: &["gaussian_color_denoising_sigma50"],
    },
];

impl Arch {
    pub fn variants(self) -> &'static [Variant] {
        match self {
            Arch::PromptIr => PROMPTIR_VARIANTS,
            Arch::Restormer => RESTORMER_VARIANTS,
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        match s.to_ascii_lowercase().as_str() {
            "promptir" => Some(Arch::PromptIr),
            "restormer" => Some(Arch::Restormer),
            _ => None,
        }
    }
}

/// What to import and how to store it.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub arch: Arch,
    /// A variant id; `None`: from the file name (or the only one).
    pub variant: Option<String>,
    /// Store f32 weights instead of f16.
    pub f32: bool,
}

/// An imported model file.
pub struct Imported {
    pub bytes: Vec<u8>,
    pub variant: &'static Variant,
    pub parameters: usize,
}

/// The variant asked for, or the one the file name and the weights' layer norm name.
fn resolve_variant(
    arch: Arch,
    asked: Option<&str>,
    path: &Path,
    norm: Norm,
) -> Result<&'static Variant, String> {
    let all = arch.variants();
    let ids = || all.iter().map(|v| v.id).collect::<Vec<_>>().join(", ");
    let v = match asked {
        Some(id) => all
            .iter()
            .find(|v| v.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| format!("--variant {id}: {} has {}", arch.display(), ids()))?,
        None if all.len() == 1 => &all[0],
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            all.iter()
                .find(|v| v.files.contains(&stem.as_str()))
                .ok_or_else(|| {
                    format!(
                        "cannot tell the {} variant from the file name `{}`: give --variant ({})",
                        arch.display(),
                        path.file_name().unwrap_or_default().to_string_lossy(),
                        ids()
                    )
                })?
        }
    };
    if v.norm != norm {
        return Err(format!(
            "variant {} has {} layer norms, but these weights have {} ones",
            v.id,
            v.norm.id().replace('_', "-"),
            norm.id().replace('_', "-")
        ));
    }
    Ok(v)
}

fn sha256_of(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The largest magnitude f16 holds.
const F16_MAX: f32 = 65504.0;

/// Imports the checkpoint at `path`. Every failure is one line naming the problem (the
/// tensor, the key, the refused pickle global).
pub fn import_file(path: &Path, opts: &ImportOptions) -> Result<Imported, String> {
    let mut ck = checkpoint::Checkpoint::open(path)?;
    let shapes: BTreeMap<String, Vec<usize>> = ck
        .tensors
        .iter()
        .map(|(k, t)| (k.clone(), t.size.clone()))
        .collect();
    let built = arch::build(opts.arch, &shapes)?;
    let variant = resolve_variant(opts.arch, opts.variant.as_deref(), path, built.norm)?;
    let mut tensors = BTreeMap::new();
    for (name, u) in &built.tensors {
        let t = ck.load(&u.source)?;
        if t.data.len() != u.shape.iter().product::<usize>() {
            return Err(format!(
                "tensor `{}` has {} elements, expected shape {:?}",
                u.source,
                t.data.len(),
                u.shape
            ));
        }
        if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "tensor `{}` holds a non-finite value ({} at index {i}): the checkpoint is damaged",
                u.source, t.data[i]
            ));
        }
        if !opts.f32 {
            if let Some(v) = t.data.iter().find(|v| v.abs() > F16_MAX) {
                return Err(format!(
                    "tensor `{}` holds {v}, beyond float16's range: import with --f32",
                    u.source
                ));
            }
        }
        tensors.insert(
            name.clone(),
            HostTensor {
                shape: u.shape.clone(),
                data: t.data,
            },
        );
    }
    let source = path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let doc = json!({
        "architecture": opts.arch.id(),
        "config": opts.arch.id(),
        "config_detail": built.detail,
        "degradations": [],
        "format": crate::model::FORMAT,
        "functions": {"restore": built.function},
        "provenance": {
            "architecture": opts.arch.display(),
            "container": ck.container.name(),
            "sha256": sha256_of(path)?,
            "source": source,
            "variant": variant.id,
        },
        "tasks": variant.tasks,
        "version": crate::model::FORMAT_VERSION,
    });
    let parameters = tensors.values().map(|t| t.data.len()).sum();
    let bytes = pyjson::model_file_bytes(&doc, &tensors, !opts.f32)?;
    // The file must load as any model does (every rule of docs/model-format.md).
    crate::model::Model::from_bytes(&bytes)
        .map_err(|e| format!("the imported graph does not validate: {e}"))?;
    Ok(Imported {
        bytes,
        variant,
        parameters,
    })
}
