//! Pipeline cache: one compute pipeline per (shader file, storage precision, entry point,
//! override constants), created once per device. Shader modules are cached per (shader
//! file, precision), bind group layouts per shader file.

use crate::error::Result;
use crate::ops::{BindKind, Precision, ShaderDef};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    pub shader: &'static str,
    pub precision: Precision,
    pub variant: &'static str,
    pub entry: &'static str,
    /// Override constants as (name, f64 bits).
    pub constants: Vec<(&'static str, u64)>,
}

#[derive(Default)]
struct Inner {
    modules: HashMap<(&'static str, Precision, &'static str), wgpu::ShaderModule>,
    layouts: HashMap<&'static str, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    pipelines: HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>,
}

/// Caches shader modules, bind group layouts and compute pipelines.
#[derive(Default)]
pub struct PipelineCache {
    inner: Mutex<Inner>,
    /// Compile shaders with wgpu's injected runtime checks (bounds, loop bounding,
    /// division guards). Off by default: they cost a large factor on CPU drivers.
    checked: bool,
}

fn layout_entries(kinds: &[BindKind]) -> Vec<wgpu::BindGroupLayoutEntry> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, k)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match k {
                    BindKind::Uniform => wgpu::BufferBindingType::Uniform,
                    BindKind::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    BindKind::Write => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect()
}

impl PipelineCache {
    pub fn new(checked: bool) -> Self {
        PipelineCache {
            inner: Mutex::default(),
            checked,
        }
    }

    /// Number of distinct pipelines created so far.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pipelines
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bind group layout shared by every entry point of `shader`.
    pub fn bind_group_layout(
        &self,
        device: &wgpu::Device,
        shader: &'static ShaderDef,
    ) -> wgpu::BindGroupLayout {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        Self::layouts(&mut inner, device, shader).0.clone()
    }

    fn layouts<'a>(
        inner: &'a mut Inner,
        device: &wgpu::Device,
        shader: &'static ShaderDef,
    ) -> &'a (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        inner.layouts.entry(shader.name).or_insert_with(|| {
            let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(shader.name),
                entries: &layout_entries(shader.bindings),
            });
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(shader.name),
                bind_group_layouts: &[Some(&bgl)],
                immediate_size: 0,
            });
            (bgl, pl)
        })
    }

    /// Returns the cached pipeline, creating it (and the module) on first use.
    pub fn get(
        &self,
        device: &wgpu::Device,
        shader: &'static ShaderDef,
        precision: Precision,
        variant: &'static str,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = PipelineKey {
            shader: shader.name,
            precision,
            variant,
            entry,
            constants: constants.iter().map(|(n, v)| (*n, v.to_bits())).collect(),
        };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = inner.pipelines.get(&key) {
            return Ok(p.clone());
        }
        // Natively the scope below names the kernel a validation error comes from. A browser
        // answers the scope only from its event loop, which a synchronous call cannot wait
        // for: there, such errors reach the device's uncaptured-error handler and fail the
        // forward through `Gpu::take_errors` instead.
        #[cfg(not(target_arch = "wasm32"))]
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module_key = (shader.name, precision, variant);
        if let std::collections::hash_map::Entry::Vacant(slot) = inner.modules.entry(module_key) {
            let source = format!("{}{}\n{}", precision.prelude(), variant, shader.source);
            let desc = wgpu::ShaderModuleDescriptor {
                label: Some(shader.name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            };
            let module = if self.checked {
                device.create_shader_module(desc)
            } else {
                // SAFETY: the shaders are this crate's own; every storage access is guarded
                // by the element counts the launchers pass, every loop is bounded by
                // uniform sizes, and no divisor is zero (shapes are validated non-empty).
                // The driver's own robust buffer access, where present, still applies.
                unsafe {
                    device
                        .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
                }
            };
            slot.insert(module);
        }
        let layout = Self::layouts(&mut inner, device, shader).1.clone();
        let module = &inner.modules[&module_key];
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&layout),
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(err) = pollster::block_on(scope.pop()) {
            inner.modules.remove(&module_key);
            return Err(crate::error::Error::Gpu(format!(
                "cannot create pipeline {}.wgsl:{entry} ({}): {}",
                shader.name,
                precision.name(),
                crate::error::one_line(&err.to_string())
            )));
        }
        let pipeline = Arc::new(pipeline);
        inner.pipelines.insert(key, pipeline.clone());
        Ok(pipeline)
    }
}
