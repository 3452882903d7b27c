//! Execution: per-model weight buffers, per-(function, input size) prepared forwards
//! (planned buffers, bind groups, uniform parameters), one command encoder per forward.

mod crops;
mod layout;
mod planner;

pub use crops::{crop_origins, extract_crop};
pub use planner::{memory_report, plan_function, MemoryReport};

use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuOptions};
use crate::model::{HostTensor, Model};
use crate::ops::{self, device_bytes, pitch, BindKind, NodeCtx, Precision, Res};
use crate::plan::Plan;
use crate::tensor::{Shape, Tensor};
use layout::{from_device_bytes, to_device_bytes, weights_to_bytes};
use planner::plan_of;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use wgpu::util::DeviceExt;

/// Bytes of uniform parameters bound per dispatch (every Params struct fits).
const PARAM_BYTES: u64 = 128;

/// Options of [`Runtime::new`].
pub type RuntimeOptions = GpuOptions;

/// GPU time of one node, from timestamp queries.
#[derive(Clone, Debug)]
pub struct NodeTiming {
    pub node: String,
    pub op: String,
    pub ms: f64,
}

struct Step {
    node: usize,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
}

/// A function input or output on the device: its segments' buffers (one, usually).
struct Io {
    buffers: Vec<wgpu::Buffer>,
    segments: ops::Segments,
    shape: Shape,
}

/// A forward of one function at one input size, ready to run.
struct Prepared {
    plan: Plan,
    node_names: Vec<(String, String)>,
    _slots: Vec<wgpu::Buffer>,
    _uniforms: wgpu::Buffer,
    steps: Vec<Step>,
    inputs: Vec<Io>,
    outputs: Vec<Io>,
    readback: wgpu::Buffer,
    /// Held for a whole forward: the buffers serve one forward at a time.
    busy: Mutex<()>,
}

struct ModelState {
    weights: HashMap<String, wgpu::Buffer>,
    /// Keyed by function, input shapes, whether fusion is on and the binding limit.
    prepared: HashMap<(String, Vec<Shape>, bool, u64), Arc<Prepared>>,
}

/// The inference runtime: a device plus per-model GPU state.
pub struct Runtime {
    gpu: Gpu,
    /// Largest storage binding used, when lowered below the device's (tests: exercises the
    /// splitting of values into segments on small images); 0: the device's limit.
    binding_cap: std::sync::atomic::AtomicU64,
    /// How values and weights are stored on this device.
    precision: Precision,
    dummy: wgpu::Buffer,
    /// Writable dummies, one per unused writable binding of a dispatch (a buffer may be
    /// bound writable once per dispatch).
    dummy_rw: [wgpu::Buffer; ops::MAX_HEAD_PIECES],
    models: Mutex<HashMap<u64, Arc<Mutex<ModelState>>>>,
    /// Dispatches per queue submission (0: one submission per forward).
    submit_chunk: std::sync::atomic::AtomicUsize,
    /// Run the fused graphs (src/fuse.rs); off only to compare with the unfused ones.
    fusion: std::sync::atomic::AtomicBool,
}

impl Runtime {
    /// Opens a device (see [`GpuOptions`]); no adapter is an error, not a panic. Blocks
    /// until the device is open ([`Runtime::new_async`] in a browser).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(options: RuntimeOptions) -> Result<Runtime> {
        pollster::block_on(Self::new_async(options))
    }

    /// [`Runtime::new`] as a future, for callers that must not block (a web page).
    pub async fn new_async(options: RuntimeOptions) -> Result<Runtime> {
        Ok(Self::from_gpu(Gpu::new_async(&options).await?))
    }

    /// A runtime on a device opened elsewhere, e.g. the one a UI renders with, so that
    /// rendering and compute share one device (see [`Gpu::from_device`]). Open the device
    /// with the adapter's limits: compute needs more than the WebGPU defaults.
    pub fn from_device(
        adapter: &wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Result<Runtime> {
        Ok(Self::from_gpu(Gpu::from_device(adapter, device, queue)?))
    }

    fn from_gpu(gpu: Gpu) -> Runtime {
        let dummy = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dummy"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let precision = gpu.precision;
        let dummy_rw = std::array::from_fn(|_| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("dummy (writable)"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        });
        Runtime {
            gpu,
            binding_cap: std::sync::atomic::AtomicU64::new(0),
            precision,
            dummy,
            dummy_rw,
            models: Mutex::new(HashMap::new()),
            submit_chunk: std::sync::atomic::AtomicUsize::new(0),
            fusion: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Splits every forward into queue submissions of at most `dispatches` dispatches and
    /// waits for each before submitting the next, so that other work on the same queue (a
    /// UI rendering with the same device) gets a turn in between instead of waiting for the
    /// whole forward. 0 (the default): one submission per forward.
    pub fn set_submit_chunk(&self, dispatches: usize) {
        self.submit_chunk
            .store(dispatches, std::sync::atomic::Ordering::Relaxed);
    }

    /// Dispatches per queue submission (see [`Runtime::set_submit_chunk`]).
    pub fn submit_chunk(&self) -> usize {
        self.submit_chunk.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Bytes one storage binding may hold: the device's limit, or less when lowered with
    /// [`Runtime::set_binding_limit`].
    pub fn binding_limit(&self) -> u64 {
        let device = self.gpu.max_binding_bytes();
        match self.binding_cap.load(std::sync::atomic::Ordering::Relaxed) {
            0 => device,
            cap => cap.min(device),
        }
    }

    /// Whether the device binds enough storage buffers per kernel for the attention kernels
    /// that take a head in pieces ([`ops::SPLIT_HEAD_BINDINGS`]): then a value whose single
    /// head is over the binding limit still runs in one forward.
    pub fn split_heads(&self) -> bool {
        self.gpu.limits.max_storage_buffers_per_shader_stage >= ops::SPLIT_HEAD_BINDINGS
    }

    /// Lowers the largest storage binding the runtime uses (0: the device's limit), so that
    /// values of small images are split into segments as a large image's would be.
    pub fn set_binding_limit(&self, bytes: u64) {
        self.binding_cap
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs each function as written instead of fused (to compare the two; on by default).
    pub fn set_fusion(&self, on: bool) {
        self.fusion.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// How values and weights are stored (chosen with [`GpuOptions::precision`]).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The software-adapter note, if any.
    pub fn note(&self) -> Option<&str> {
        self.gpu.note.as_deref()
    }

    /// Frees the device memory held for `model`.
    pub fn release(&self, model: &Model) {
        self.models
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&model.id());
    }

    // Locks here and in gpu/ are taken with `unwrap_or_else(PoisonError::into_inner)`: a
    // panic caught by `guard::catch` while one was held leaves it poisoned, and every later
    // image would fail too. None is left half-updated by a panic (entries are inserted
    // whole, after the work that can fail), so the data stays usable.
    fn model_state(&self, model: &Model) -> Result<Arc<Mutex<ModelState>>> {
        let mut models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = models.get(&model.id()) {
            return Ok(s.clone());
        }
        let limit = self.gpu.max_binding_bytes();
        let mut weights = HashMap::new();
        // The file's tensors and the folded ones the fused functions add.
        let mut fused = Vec::new();
        for name in model.functions.keys() {
            fused.push(model.fused(name)?);
        }
        let all = model
            .tensors
            .iter()
            .chain(fused.iter().flat_map(|f| f.tensors.iter()));
        for (name, t) in all {
            let bytes = t.data.len() as u64 * self.precision.bytes();
            if bytes > limit {
                return Err(Error::BufferTooLarge {
                    value: format!("weight {name}"),
                    bytes,
                    limit,
                });
            }
            let mut data = weights_to_bytes(&t.data, self.precision);
            // Bindings are at least 4 bytes (and buffers a multiple of 4).
            data.resize(data.len().max(4).div_ceil(4) * 4, 0);
            let buf = self
                .gpu
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(name),
                    contents: &data,
                    usage: wgpu::BufferUsages::STORAGE,
                });
            weights.insert(name.clone(), buf);
        }
        let s = Arc::new(Mutex::new(ModelState {
            weights,
            prepared: HashMap::new(),
        }));
        models.insert(model.id(), s.clone());
        Ok(s)
    }

    fn prepared(&self, model: &Model, function: &str, inputs: &[Shape]) -> Result<Arc<Prepared>> {
        let state = self.model_state(model)?;
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let fusion = self.fusion.load(std::sync::atomic::Ordering::Relaxed);
        let key = (
            function.to_string(),
            inputs.to_vec(),
            fusion,
            self.binding_limit(),
        );
        if let Some(p) = state.prepared.get(&key) {
            return Ok(p.clone());
        }
        let p = Arc::new(self.prepare(model, function, inputs, fusion, &state.weights)?);
        state.prepared.insert(key, p.clone());
        Ok(p)
    }

    fn prepare(
        &self,
        model: &Model,
        function: &str,
        input_shapes: &[Shape],
        fusion: bool,
        weights: &HashMap<String, wgpu::Buffer>,
    ) -> Result<Prepared> {
        let dev = &self.gpu.device;
        let fused = model.fused(function)?;
        let f = if fusion {
            &fused.function
        } else {
            model.function(function)?
        };
        let shapes = model.infer_shapes(function, input_shapes)?;
        let precision = self.precision;
        let limit = self.binding_limit();
        // Values larger than one binding are split into segments (ops/segments.rs); a
        // single channel (or head) over the limit cannot be, and the image must be tiled.
        let plan = plan_of(model, f, input_shapes, precision, limit, self.split_heads())?;
        let max_buffer = self.gpu.limits.max_buffer_size;
        for (i, sc) in plan.scratch_slots.iter().enumerate() {
            for &slot in sc {
                if plan.slots[slot] > limit {
                    return Err(Error::BufferTooLarge {
                        value: format!("scratch of node {}", f.def.nodes[i].name),
                        bytes: plan.slots[slot],
                        limit,
                    });
                }
            }
        }
        if let Some(&big) = plan.slots.iter().max() {
            if big > max_buffer {
                return Err(Error::BufferTooLarge {
                    value: "an activation buffer".into(),
                    bytes: big,
                    limit: max_buffer,
                });
            }
        }
        let slots: Vec<wgpu::Buffer> = plan
            .slots
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                dev.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("{function} slot {i}")),
                    size: size.div_ceil(4) * 4,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_DST
                        | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                })
            })
            .collect();
        // All dispatches of the forward.
        let mut dispatches = Vec::new();
        for (ni, (node, op)) in f.def.nodes.iter().zip(&f.ops).enumerate() {
            let ins: Vec<Shape> = node.inputs.iter().map(|v| shapes[v]).collect();
            let lookup = |slot: &str| -> &HostTensor {
                let name = &node.weights[slot];
                model
                    .tensors
                    .get(name)
                    .unwrap_or_else(|| &fused.tensors[name])
            };
            let in_segs: Vec<ops::Segments> = node
                .inputs
                .iter()
                .map(|v| plan.value_segments[v].clone())
                .collect();
            let ctx = NodeCtx {
                node,
                op,
                ins: &ins,
                out: shapes[&node.outputs[0]],
                weights: &lookup,
                in_segs: &in_segs,
                out_segs: &plan.value_segments[&node.outputs[0]],
            };
            for d in ops::encode(&ctx)? {
                dispatches.push((ni, d));
            }
        }
        let stride = (self.gpu.limits.min_uniform_buffer_offset_alignment as u64).max(PARAM_BYTES);
        let mut params = vec![0u8; (stride * dispatches.len().max(1) as u64) as usize];
        for (i, (_, d)) in dispatches.iter().enumerate() {
            let bytes: &[u8] = bytemuck::cast_slice(&d.params);
            assert!(
                bytes.len() as u64 <= PARAM_BYTES,
                "params too long for {}",
                d.entry
            );
            let at = i * stride as usize;
            params[at..at + bytes.len()].copy_from_slice(bytes);
        }
        let uniforms = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: &params,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut steps = Vec::with_capacity(dispatches.len());
        for (i, (ni, d)) in dispatches.iter().enumerate() {
            let node = &f.def.nodes[*ni];
            let pipeline = self.gpu.pipelines.get(
                dev,
                d.shader,
                precision,
                d.variant,
                d.entry,
                &d.constants,
            )?;
            let layout = self.gpu.pipelines.bind_group_layout(dev, d.shader);
            assert_eq!(d.bindings.len() + 1, d.shader.bindings.len(), "{}", d.entry);
            // Segment `seg` of value `name`, bound whole.
            let value = |name: &str, seg: usize| -> (&wgpu::Buffer, u64) {
                let slot = plan.value_slots[name][seg];
                let (c0, c1) = plan.value_segments[name][seg];
                let plane = pitch(shapes[name]) as u64 * precision.bytes();
                (&slots[slot], (c1 - c0) as u64 * plane)
            };
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &uniforms,
                    offset: i as u64 * stride,
                    size: wgpu::BufferSize::new(PARAM_BYTES),
                }),
            }];
            let mut writable_dummies = self.dummy_rw.iter();
            for (bi, res) in d.bindings.iter().enumerate() {
                let (buffer, size): (&wgpu::Buffer, Option<u64>) = match res {
                    Res::Input(k, seg) => {
                        let (b, s) = value(&node.inputs[*k], *seg);
                        (b, Some(s))
                    }
                    Res::Output(seg) => {
                        let (b, s) = value(&node.outputs[0], *seg);
                        (b, Some(s))
                    }
                    Res::Scratch(k) => {
                        let slot = plan.scratch_slots[*ni][*k];
                        (&slots[slot], None)
                    }
                    Res::Weight(w) => (&weights[&node.weights[*w]], None),
                    // A read-only dummy may be bound several times; a writable one once.
                    Res::Dummy => match d.shader.bindings[bi + 1] {
                        BindKind::Write => (
                            writable_dummies
                                .next()
                                .expect("more unused writable bindings than dummies"),
                            None,
                        ),
                        _ => (&self.dummy, None),
                    },
                };
                entries.push(wgpu::BindGroupEntry {
                    binding: bi as u32 + 1,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: 0,
                        size: size.and_then(wgpu::BufferSize::new),
                    }),
                });
            }
            let bind_group = dev.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(d.entry),
                layout: &layout,
                entries: &entries,
            });
            steps.push(Step {
                node: *ni,
                pipeline,
                bind_group,
                grid: self.gpu.grid(d.workgroups)?,
            });
        }
        let io = |name: &String| Io {
            buffers: plan.value_slots[name]
                .iter()
                .map(|&s| slots[s].clone())
                .collect(),
            segments: plan.value_segments[name].clone(),
            shape: shapes[name],
        };
        let inputs = f.def.inputs.iter().map(|i| io(&i.name)).collect();
        let outputs: Vec<Io> = f.def.outputs.iter().map(io).collect();
        let rb_size: u64 = outputs
            .iter()
            .map(|o| device_bytes(o.shape, precision))
            .sum();
        let readback = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: rb_size.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.gpu.take_errors()?;
        Ok(Prepared {
            plan,
            node_names: f
                .def
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.op.clone()))
                .collect(),
            _slots: slots,
            _uniforms: uniforms,
            steps,
            inputs,
            outputs,
            readback,
            busy: Mutex::new(()),
        })
    }

    /// The memory plan actually used for `function` at these input sizes.
    pub fn plan(&self, model: &Model, function: &str, inputs: &[Shape]) -> Result<Plan> {
        Ok(self.prepared(model, function, inputs)?.plan.clone())
    }

    /// Runs a function of the model on host tensors; returns its outputs in order. Blocks
    /// until the device is done ([`Runtime::run_function_async`] in a browser).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_function(
        &self,
        model: &Model,
        function: &str,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>> {
        pollster::block_on(self.run_function_async(model, function, inputs))
    }

    /// [`Runtime::run_function`] as a future: it waits for each chunk of dispatches (see
    /// [`Runtime::set_submit_chunk`]) and for the result without blocking the thread.
    pub async fn run_function_async(
        &self,
        model: &Model,
        function: &str,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>> {
        Ok(self.run(model, function, inputs, false).await?.0)
    }

    /// Like [`Runtime::run_function`], with per-node GPU times when the device has timestamp
    /// queries (see [`GpuOptions::timestamps`]); otherwise the timings are empty.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn profile_function(
        &self,
        model: &Model,
        function: &str,
        inputs: &[Tensor],
    ) -> Result<(Vec<Tensor>, Vec<NodeTiming>)> {
        pollster::block_on(self.run(model, function, inputs, self.gpu.timestamps))
    }

    // The prepared buffers' lock is held across the waits for the device, as it was held
    // across the blocking waits before: natively one thread drives the whole forward
    // (`pollster::block_on`), and in a page one task runs the forwards, one at a time.
    #[allow(clippy::await_holding_lock)]
    async fn run(
        &self,
        model: &Model,
        function: &str,
        inputs: &[Tensor],
        timed: bool,
    ) -> Result<(Vec<Tensor>, Vec<NodeTiming>)> {
        for t in inputs {
            if t.data.len() != t.shape.numel() {
                return Err(Error::Input(format!(
                    "a {} tensor holds {} values",
                    t.shape,
                    t.data.len()
                )));
            }
        }
        let shapes: Vec<Shape> = inputs.iter().map(|t| t.shape).collect();
        let p = self.prepared(model, function, &shapes)?;
        let _busy = p.busy.lock().unwrap_or_else(|e| e.into_inner());
        let dev = &self.gpu.device;
        for (io, t) in p.inputs.iter().zip(inputs) {
            for (buf, &range) in io.buffers.iter().zip(&io.segments) {
                self.gpu
                    .queue
                    .write_buffer(buf, 0, &to_device_bytes(t, range, self.precision));
            }
        }
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some(function),
        });
        let n_nodes = p.node_names.len();
        let timing = if timed && n_nodes > 0 {
            let count = 2 * n_nodes as u32;
            let qs = dev.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count,
            });
            let resolve = dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps resolve"),
                size: count as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let read = dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps read"),
                size: count as u64 * 8,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            Some((qs, resolve, read, count))
        } else {
            None
        };
        match &timing {
            None => {
                let chunk = match self.submit_chunk.load(std::sync::atomic::Ordering::Relaxed) {
                    0 => p.steps.len().max(1),
                    n => n,
                };
                let mut chunks = p.steps.chunks(chunk).peekable();
                while let Some(steps) = chunks.next() {
                    {
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some(function),
                            timestamp_writes: None,
                        });
                        for s in steps {
                            pass.set_pipeline(&s.pipeline);
                            pass.set_bind_group(0, &s.bind_group, &[]);
                            pass.dispatch_workgroups(s.grid[0], s.grid[1], s.grid[2]);
                        }
                    }
                    if chunks.peek().is_some() {
                        let done = std::mem::replace(
                            &mut enc,
                            dev.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                                label: Some(function),
                            }),
                        );
                        let index = self.gpu.queue.submit([done.finish()]);
                        crate::gpu::wait::submitted(&self.gpu, index).await?;
                    }
                }
            }
            Some((qs, resolve, read, count)) => {
                // One pass per node, timestamps at its beginning and end.
                let mut i = 0;
                for node in 0..n_nodes {
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(&p.node_names[node].0),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: qs,
                            beginning_of_pass_write_index: Some(2 * node as u32),
                            end_of_pass_write_index: Some(2 * node as u32 + 1),
                        }),
                    });
                    while i < p.steps.len() && p.steps[i].node == node {
                        let s = &p.steps[i];
                        pass.set_pipeline(&s.pipeline);
                        pass.set_bind_group(0, &s.bind_group, &[]);
                        pass.dispatch_workgroups(s.grid[0], s.grid[1], s.grid[2]);
                        i += 1;
                    }
                }
                enc.resolve_query_set(qs, 0..*count, resolve, 0);
                enc.copy_buffer_to_buffer(resolve, 0, read, 0, *count as u64 * 8);
            }
        }
        // Segments hold consecutive channels: copied in order, they are the whole value.
        let mut offset = 0;
        for o in &p.outputs {
            let plane = pitch(o.shape) as u64 * self.precision.bytes();
            for (buf, (c0, c1)) in o.buffers.iter().zip(&o.segments) {
                let n = (c1 - c0) as u64 * plane;
                enc.copy_buffer_to_buffer(buf, 0, &p.readback, offset, n);
                offset += n;
            }
        }
        self.gpu.queue.submit([enc.finish()]);
        let data = crate::gpu::wait::map_read(&self.gpu, &p.readback).await?;
        let mut outs = Vec::with_capacity(p.outputs.len());
        let mut at = 0;
        for o in &p.outputs {
            let n = device_bytes(o.shape, self.precision) as usize;
            outs.push(from_device_bytes(
                &data[at..at + n],
                o.shape,
                self.precision,
            ));
            at += n;
        }
        let mut timings = Vec::new();
        if let Some((_, _, read, _)) = &timing {
            let raw = self.read_buffer_u64(read).await?;
            let period = self.gpu.queue.get_timestamp_period() as f64;
            for (i, (name, op)) in p.node_names.iter().enumerate() {
                let (a, b) = (raw[2 * i], raw[2 * i + 1]);
                timings.push(NodeTiming {
                    node: name.clone(),
                    op: op.clone(),
                    ms: b.saturating_sub(a) as f64 * period / 1e6,
                });
            }
        }
        self.gpu.take_errors()?;
        Ok((outs, timings))
    }

    async fn read_buffer_u64(&self, buf: &wgpu::Buffer) -> Result<Vec<u64>> {
        let bytes = crate::gpu::wait::map_read(&self.gpu, buf).await?;
        Ok(bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .collect())
    }

    /// Runs one node on its own (inputs `input.0`, `input.1`, ... in order); for per-op tests.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_node(
        &self,
        node: &crate::model::Node,
        weights: std::collections::BTreeMap<String, HostTensor>,
        inputs: &[Tensor],
    ) -> Result<Tensor> {
        let mut node = node.clone();
        let channels: Vec<usize> = inputs.iter().map(|t| t.shape.c).collect();
        node.inputs = (0..inputs.len()).map(|i| format!("input.{i}")).collect();
        let model = Model::single_node(node, &channels, weights)?;
        let out = self.run_function(&model, "node", inputs);
        self.release(&model);
        Ok(out?.remove(0))
    }

    /// The Prompt Net's probabilities for an image (3 x H x W, RGB in [0, 1]): the mean of
    /// the `classify` outputs over up to `max_crops` crops (see docs/model-format.md).
    /// A model without a Prompt Net (no degradations) has no probabilities: empty.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn classify(&self, model: &Model, image: &Tensor) -> Result<Vec<f32>> {
        pollster::block_on(self.classify_async(model, image))
    }

    /// [`Runtime::classify`] as a future (see [`Runtime::run_function_async`]).
    pub async fn classify_async(&self, model: &Model, image: &Tensor) -> Result<Vec<f32>> {
        if !model.has_prompt_net() {
            return Ok(Vec::new());
        }
        let spec = model.doc.prompt.clone().ok_or_else(|| {
            Error::GraphJson("the graph has no `prompt` entry (crop size)".into())
        })?;
        let crops = crop_origins(image.shape, spec.crop, spec.max_crops);
        let mut sum: Vec<f64> = Vec::new();
        for &(oy, ox) in &crops {
            let crop = extract_crop(image, oy, ox, spec.crop);
            let out = self
                .run_function_async(model, "classify", &[crop])
                .await?
                .remove(0);
            if sum.is_empty() {
                sum = vec![0.0; out.data.len()];
            }
            for (s, v) in sum.iter_mut().zip(&out.data) {
                *s += *v as f64;
            }
        }
        Ok(sum
            .iter()
            .map(|s| (s / crops.len() as f64) as f32)
            .collect())
    }

    /// Restores an image (3 x H x W) with the given probabilities (length K; empty for a
    /// model without a Prompt Net).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn restore(&self, model: &Model, image: &Tensor, probs: &[f32]) -> Result<Tensor> {
        pollster::block_on(self.restore_async(model, image, probs))
    }

    /// [`Runtime::restore`] as a future (see [`Runtime::run_function_async`]).
    pub async fn restore_async(
        &self,
        model: &Model,
        image: &Tensor,
        probs: &[f32],
    ) -> Result<Tensor> {
        let k = probs.len();
        if k != model.degradations().len() {
            return Err(Error::Input(format!(
                "{k} probabilities given; the model takes {}",
                model.degradations().len()
            )));
        }
        let mut inputs = vec![image.clone()];
        if k > 0 {
            inputs.push(Tensor::new(Shape::new(k, 1, 1), probs.to_vec()));
        }
        let out = self
            .run_function_async(model, "restore", &inputs)
            .await?
            .remove(0);
        // Checked at load for one size; tiling, the ensemble and encoding index by it.
        if out.shape != image.shape {
            return Err(Error::Function {
                function: "restore".into(),
                msg: format!("returned {} for a {} image", out.shape, image.shape),
            });
        }
        Ok(out)
    }
}
