//! `bench` and `info`.

use super::{
    gpu_options, load_model, open_runtime, problem, CliResult, DeviceArgs, Fatal, ModelArgs,
};
use clap::Args;
use std::collections::BTreeMap;
use std::time::Instant;
use wgpu_restore::cost::{node_cost, Cost};
use wgpu_restore::image_io;
use wgpu_restore::{list_adapters, memory_report, NodeTiming, Shape, Tensor};

pub const BENCH_EXAMPLES: &str = "\
Examples:
  wgpu-restore bench                       # a synthetic 481x321 image
  wgpu-restore bench --size 1024x768 --runs 5
  wgpu-restore bench --input photo.png --json";

pub const INFO_EXAMPLES: &str = "\
Examples:
  wgpu-restore info
  wgpu-restore info --backend vulkan --model my-model.safetensors";

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Image size WxH of the synthetic test image.
    #[arg(long, value_name = "WxH", default_value = "481x321")]
    pub size: String,
    /// Benchmark this image instead of a synthetic one.
    #[arg(long, value_name = "FILE")]
    pub input: Option<std::path::PathBuf>,
    /// Timed runs (after one warm-up run).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Per-op rows to show.
    #[arg(long, default_value_t = 12)]
    pub top: usize,
    /// Also list the N slowest nodes (name, op, input shape, time).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub nodes: usize,
    /// Also measure the device's memory bandwidth (a large elementwise add) and arithmetic
    /// rate (a large 1x1 convolution), and show each op family's share of them.
    #[arg(long)]
    pub roofline: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn parse_size(s: &str) -> CliResult<(usize, usize)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| Fatal::usage(format!("--size: `{s}` is not WxH")))?;
    let w: usize = w
        .trim()
        .parse()
        .map_err(|_| Fatal::usage(format!("--size: `{s}` is not WxH")))?;
    let h: usize = h
        .trim()
        .parse()
        .map_err(|_| Fatal::usage(format!("--size: `{s}` is not WxH")))?;
    if w == 0 || h == 0 {
        return Err(Fatal::usage("--size: sides must be positive".into()));
    }
    if (w as u64) * (h as u64) > image_io::MAX_PIXELS {
        return Err(Fatal::usage(format!(
            "--size: {w}x{h} is over the {}-megapixel limit on images",
            image_io::MAX_PIXELS / 1_000_000
        )));
    }
    Ok((w, h))
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// A smooth synthetic test image with some texture (deterministic).
fn synthetic(h: usize, w: usize) -> Tensor {
    let mut data = Vec::with_capacity(3 * h * w);
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let n = (s >> 40) as f32 / (1u64 << 24) as f32;
                let v = 0.5
                    + 0.3 * ((x as f32 * 0.05 + c as f32).sin() * (y as f32 * 0.03).cos())
                    + 0.1 * (n - 0.5);
                data.push(v.clamp(0.0, 1.0));
            }
        }
    }
    Tensor::new(Shape::new(3, h, w), data)
}

pub fn run_bench(a: BenchArgs) -> CliResult<i32> {
    let (model, model_name) = load_model(&a.model)?;
    let (image, source) = match &a.input {
        Some(p) => {
            let img =
                image_io::read_image(p).map_err(|e| Fatal::new(format!("{}: {e}", p.display())))?;
            (img.rgb, p.display().to_string())
        }
        None => {
            let (w, h) = parse_size(&a.size)?;
            (synthetic(h, w), "synthetic".to_string())
        }
    };
    let rt = open_runtime(&a.device, a.json, true)?;
    let g = rt.gpu();
    let (h, w) = (image.shape.h, image.shape.w);
    if !a.json {
        eprintln!(
            "device: {} ({}, {})",
            g.adapter.name, g.adapter.backend, g.adapter.device_type
        );
        eprintln!(
            "image: {w}x{h} ({source}); model: {model_name}; warm-up run (pipelines, buffers)..."
        );
    }
    let fail = |e: wgpu_restore::Error| Fatal::new(problem(&e));
    let t = Instant::now();
    let probs = rt.classify(&model, &image).map_err(fail)?;
    rt.restore(&model, &image, &probs).map_err(fail)?;
    let warmup = t.elapsed().as_secs_f64();
    let mut e2e = Vec::new();
    let mut cls = Vec::new();
    let mut res = Vec::new();
    for _ in 0..a.runs {
        let t0 = Instant::now();
        let p = rt.classify(&model, &image).map_err(fail)?;
        let t1 = Instant::now();
        rt.restore(&model, &image, &p).map_err(fail)?;
        let t2 = Instant::now();
        cls.push((t1 - t0).as_secs_f64());
        res.push((t2 - t1).as_secs_f64());
        e2e.push((t2 - t0).as_secs_f64());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    // Per-op GPU times from timestamp queries (one extra profiled run).
    let shapes = model.restore_inputs(h, w);
    let mut inputs = vec![image.clone()];
    if let Some(&k) = shapes.get(1) {
        inputs.push(Tensor::new(k, probs.clone()));
    }
    let (_, timings) = rt
        .profile_function(&model, "restore", &inputs)
        .map_err(fail)?;
    // Per op family: time, nodes, and the work and traffic of its nodes (src/cost.rs).
    let fused = model.fused("restore").map_err(fail)?;
    let value_shapes = model.infer_shapes("restore", &shapes).map_err(fail)?;
    let mut by_op: BTreeMap<String, (f64, usize, Cost)> = BTreeMap::new();
    for (t, (node, op)) in timings
        .iter()
        .zip(fused.function.def.nodes.iter().zip(&fused.function.ops))
    {
        let ins: Vec<Shape> = node.inputs.iter().map(|v| value_shapes[v]).collect();
        let weights: usize = node
            .weights
            .values()
            .map(|w| {
                model
                    .tensors
                    .get(w)
                    .or_else(|| fused.tensors.get(w))
                    .map_or(0, |t| t.data.len())
            })
            .sum();
        let cost = node_cost(
            op,
            &ins,
            value_shapes[&node.outputs[0]],
            weights,
            rt.precision(),
        );
        let e = by_op.entry(t.op.clone()).or_default();
        e.0 += t.ms;
        e.1 += 1;
        e.2 += cost;
    }
    let mut ops: Vec<(String, f64, usize, Cost)> = by_op
        .into_iter()
        .map(|(o, (ms, n, c))| (o, ms, n, c))
        .collect();
    ops.sort_by(|a, b| b.1.total_cmp(&a.1));
    let gpu_total: f64 = ops.iter().map(|o| o.1).sum();
    let peaks = if a.roofline && !timings.is_empty() {
        Some(device_peaks(&rt).map_err(fail)?)
    } else {
        None
    };
    let mem = memory_report(&model, "restore", &shapes, rt.precision()).map_err(fail)?;
    let cmem = model
        .doc
        .prompt
        .as_ref()
        .map(|p| {
            memory_report(
                &model,
                "classify",
                &[Shape::new(3, p.crop, p.crop)],
                rt.precision(),
            )
        })
        .transpose()
        .map_err(fail)?;
    let peak = mem
        .peak_bytes
        .max(cmem.as_ref().map(|c| c.peak_bytes).unwrap_or(0))
        + mem.weight_bytes;
    if a.json {
        let doc = serde_json::json!({
            "device": g.adapter.name, "backend": g.adapter.backend, "device_type": g.adapter.device_type,
            "model": model_name, "width": w, "height": h, "runs": a.runs, "warmup_s": warmup,
            "end_to_end_s": {"mean": mean(&e2e), "min": min(&e2e)},
            "classify_s": {"mean": mean(&cls), "min": min(&cls)},
            "restore_s": {"mean": mean(&res), "min": min(&res)},
            "images_per_s": 1.0 / mean(&e2e),
            "peak_gpu_bytes": peak,
            "activation_bytes": mem.peak_bytes, "weight_bytes": mem.weight_bytes,
            "timestamps": g.timestamps,
            "ops": ops.iter().map(|(o, ms, n, c)| serde_json::json!({
                "op": o, "ms": ms, "nodes": n, "gflop": c.flops / 1e9, "gbytes": c.bytes / 1e9,
                "gflop_per_s": c.flops / ms.max(1e-9) / 1e6, "gb_per_s": c.bytes / ms.max(1e-9) / 1e6,
            })).collect::<Vec<_>>(),
            "device_peaks": peaks.map(|(gb, gf)| serde_json::json!({"gb_per_s": gb, "gflop_per_s": gf})),
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        return Ok(0);
    }
    println!(
        "device:      {} ({}, {})",
        g.adapter.name, g.adapter.backend, g.adapter.device_type
    );
    println!(
        "model:       {model_name} (config {}, {} parameters)",
        model.doc.config,
        model.parameter_count()
    );
    println!("image:       {w}x{h} ({source})");
    println!("warm-up:     {warmup:.3} s (pipeline creation, buffers)");
    println!(
        "end to end:  mean {:.3} s, min {:.3} s over {} run(s) = {:.3} images/s",
        mean(&e2e),
        min(&e2e),
        a.runs,
        1.0 / mean(&e2e)
    );
    println!("  classify:  mean {:.3} s", mean(&cls));
    println!("  restore:   mean {:.3} s", mean(&res));
    println!(
        "peak GPU memory: {:.1} MiB (activations {:.1} MiB after reuse, {:.1} MiB without; weights {:.1} MiB)",
        mib(peak),
        mib(mem.peak_bytes),
        mib(mem.total_bytes),
        mib(mem.weight_bytes)
    );
    if timings.is_empty() {
        println!("per-op times: unavailable (the adapter has no timestamp queries)");
    } else {
        println!("per-op GPU time (restore, timestamp queries), total {gpu_total:.1} ms:");
        if let Some((gb, gf)) = peaks {
            println!(
                "  device peaks measured here: {gb:.1} GB/s (elementwise add), {gf:.1} GFLOP/s (1x1 convolution 128->128 at 512x512)"
            );
        }
        println!(
            "  {:<20} {:>10} {:>7} {:>6} {:>9} {:>8}{}",
            "op",
            "ms",
            "%",
            "nodes",
            "GFLOP/s",
            "GB/s",
            if peaks.is_some() {
                "  of peak (flop, bytes)"
            } else {
                ""
            }
        );
        for (o, ms, n, c) in ops.iter().take(a.top) {
            let (gf, gb) = (c.flops / ms.max(1e-9) / 1e6, c.bytes / ms.max(1e-9) / 1e6);
            let share = peaks
                .map(|(pb, pf)| format!("  {:>5.0}% {:>5.0}%", 100.0 * gf / pf, 100.0 * gb / pb))
                .unwrap_or_default();
            println!(
                "  {o:<20} {ms:>10.2} {:>6.1}% {n:>6} {gf:>9.2} {gb:>8.2}{share}",
                100.0 * ms / gpu_total.max(1e-9)
            );
        }
        if a.nodes > 0 {
            let fused = model.fused("restore").map_err(fail)?;
            let f = &fused.function;
            let shapes = model.infer_shapes("restore", &shapes).map_err(fail)?;
            let mut slowest: Vec<(&NodeTiming, String)> = timings
                .iter()
                .zip(&f.def.nodes)
                .map(|(t, n)| (t, shapes[&n.inputs[0]].to_string()))
                .collect();
            slowest.sort_by(|a, b| b.0.ms.total_cmp(&a.0.ms));
            println!("slowest nodes:");
            for (t, input) in slowest.iter().take(a.nodes) {
                println!("  {:>9.2} ms  {:<18} {:<14} {}", t.ms, t.op, input, t.node);
            }
        }
    }
    Ok(0)
}

pub fn run_info(a: InfoArgs) -> CliResult<i32> {
    let opts = gpu_options(&a.device, true, false)?;
    let adapters = list_adapters(opts.backend);
    let (model, model_name) = load_model(&a.model)?;
    let chosen = wgpu_restore::Runtime::new(opts.clone());
    let fmt_fn = |name: &str| {
        model
            .functions
            .get(name)
            .map(|f| f.def.nodes.len())
            .unwrap_or(0)
    };
    if a.json {
        let doc = serde_json::json!({
            "adapters": adapters.iter().map(|s| serde_json::json!({
                "index": s.index, "name": s.name, "backend": s.backend, "device_type": s.device_type,
                "driver": s.driver, "software": s.software, "compute": s.compute})).collect::<Vec<_>>(),
            "chosen": chosen.as_ref().ok().map(|rt| serde_json::json!({
                "name": rt.gpu().adapter.name, "backend": rt.gpu().adapter.backend,
                "index": rt.gpu().adapter.index,
                "max_storage_binding_bytes": rt.gpu().max_binding_bytes(),
                "note": rt.note()})),
            "model": {
                "source": model_name, "config": model.doc.config,
                "architecture": model.architecture(), "tasks": model.tasks(),
                "parameters": model.parameter_count(), "degradations": model.degradations(),
                "prompt": model.doc.prompt.as_ref().map(|p| serde_json::json!({"crop": p.crop, "max_crops": p.max_crops})),
                "functions": model.functions.keys().map(|k| (k.clone(), serde_json::json!(fmt_fn(k)))).collect::<serde_json::Map<_,_>>(),
                "provenance": model.doc.provenance,
            },
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap());
    } else {
        println!("adapters (backend {}):", a.device.backend);
        if adapters.is_empty() {
            println!("  none");
        }
        for s in &adapters {
            println!("  {s}{}", if s.software { " [software]" } else { "" });
        }
        match &chosen {
            Ok(rt) => {
                let g = rt.gpu();
                println!("chosen:  {}", g.adapter);
                println!(
                    "limits:  {:.0} MiB per storage binding, {:.0} MiB per buffer",
                    mib(g.max_binding_bytes()),
                    mib(g.limits.max_buffer_size),
                );
                let budget = wgpu_restore::tiling::TileOptions::for_runtime(rt).memory_budget;
                println!(
                    "memory:  {} for buffers; one forward may use {:.0} MiB before images are tiled; stored as {}",
                    g.memory
                        .map(|m| format!("{:.0} MiB", mib(m)))
                        .unwrap_or_else(|| "not reported".into()),
                    mib(budget),
                    rt.precision().name()
                );
                if let Some(n) = rt.note() {
                    println!("{n}");
                }
            }
            Err(e) => println!("chosen:  none ({})", problem(e)),
        }
        println!("model:   {model_name}");
        println!("  config:       {}", model.doc.config);
        println!("  architecture: {}", model.architecture());
        println!("  restores:     {}", model.tasks().join(", "));
        println!("  parameters:   {}", model.parameter_count());
        if model.has_prompt_net() {
            println!("  degradations: {}", model.degradations().join(", "));
        } else {
            println!("  degradations: none detected (no Prompt Net)");
        }
        if let Some(p) = &model.doc.prompt {
            println!(
                "  prompt:       {}x{} crops, at most {} per image",
                p.crop, p.crop, p.max_crops
            );
        }
        let f: Vec<String> = model
            .functions
            .keys()
            .map(|k| format!("{k} ({} nodes)", fmt_fn(k)))
            .collect();
        println!("  functions:    {}", f.join(", "));
        println!(
            "  provenance:   {}",
            serde_json::to_string_pretty(&model.doc.provenance)
                .unwrap_or_default()
                .replace('\n', "\n  ")
        );
    }
    match chosen {
        Ok(_) => Ok(0),
        Err(e) => Err(Fatal::new(problem(&e))),
    }
}

/// The device's memory bandwidth (GB/s: an add of two 48 MB planes' worth of values, three
/// values moved) and arithmetic rate (GFLOP/s: a 1x1 convolution 128 -> 128 at 512x512,
/// 8.6 GFLOP), each the best of 3 timed runs, with the same kernels the models use.
fn device_peaks(rt: &wgpu_restore::Runtime) -> wgpu_restore::Result<(f64, f64)> {
    use std::collections::BTreeMap;
    use wgpu_restore::model::{HostTensor, Model, Node};
    let best = |model: &Model, inputs: &[Tensor]| -> wgpu_restore::Result<f64> {
        let mut ms = f64::INFINITY;
        for _ in 0..4 {
            let (_, t) = rt.profile_function(model, "node", inputs)?;
            ms = ms.min(t.iter().map(|t| t.ms).sum());
        }
        rt.release(model);
        Ok(ms)
    };
    let node = |op: &str, inputs: usize, attrs: serde_json::Value, weights: serde_json::Value| {
        serde_json::from_value::<Node>(serde_json::json!({
            "name": "peak", "op": op, "inputs": (0..inputs).map(|i| format!("input.{i}")).collect::<Vec<_>>(),
            "outputs": ["out"], "attrs": attrs, "weights": weights,
        }))
        .expect("a valid node")
    };
    let add_shape = Shape::new(12, 1024, 1024);
    let add = Model::single_node(
        node("add", 2, serde_json::json!({}), serde_json::json!({})),
        &[12, 12],
        BTreeMap::new(),
    )?;
    let x = Tensor::new(add_shape, vec![0.5; add_shape.numel()]);
    let add_ms = best(&add, &[x.clone(), x])?;
    let bytes = 3.0 * add_shape.numel() as f64 * rt.precision().bytes() as f64;
    let conv = Model::single_node(
        node(
            "conv2d",
            1,
            serde_json::json!({"kernel": 1, "stride": 1, "padding": 0, "groups": 1}),
            serde_json::json!({"weight": "w"}),
        ),
        &[128],
        BTreeMap::from([(
            "w".to_string(),
            HostTensor {
                shape: vec![128, 128, 1, 1],
                data: vec![0.01; 128 * 128],
            },
        )]),
    )?;
    let conv_shape = Shape::new(128, 512, 512);
    let conv_ms = best(
        &conv,
        &[Tensor::new(conv_shape, vec![0.5; conv_shape.numel()])],
    )?;
    let flops = 2.0 * 128.0 * 128.0 * (512.0 * 512.0);
    Ok((bytes / add_ms / 1e6, flops / conv_ms / 1e6))
}
