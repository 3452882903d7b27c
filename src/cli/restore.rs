//! `restore` and `classify`.
//!
//! Folder runs overlap the three stages: decoder threads read files ahead, one worker per
//! device drives its GPU (worker.rs; device, weights and pipelines created once per run;
//! with several devices, `--adapter 0,1`, each takes the next decoded image when it is
//! free), an encoder thread writes the results, with bounded channels between them.
//! `--shard K/N` keeps one share of the inputs (shard.rs).

use super::devices::{self, open_runtimes};
use super::shard;
use super::worker::{self, Decoded, Outcome, Restored, Shared, Worker};
use super::{
    describe_model, expand_inputs, load_model, load_model_and_probs, open_runtime, problem,
    read_error, summary, summary_with_note, CliResult, DeviceArgs, Fatal, InputFile, ModelArgs,
    TileArgs, Ui,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wgpu_restore::image_io::{self, EncodeOptions, Format, PreparedOutput, Replace};
use wgpu_restore::tiling::{TileOptions, TileReport};
use wgpu_restore::{ensemble, guard};
use wgpu_restore::{Model, Runtime, Shape, Tensor};

pub const EXAMPLES: &str = "\
Outputs: with one input file and OUT ending in an image extension, OUT is the output file;
otherwise OUT is a folder and each output keeps its input's name (and its folder below the
input folder with --recursive). An existing output is an error unless --overwrite or
--skip-existing is given; an input is never overwritten. Files are written atomically.

Examples:
  wgpu-restore restore photo.jpg -o photo-restored.jpg
  wgpu-restore restore scans/ -o restored/ --skip-existing
  wgpu-restore restore 'raw/*.tif' -o out/ --format png --suffix _restored
  wgpu-restore restore rainy.png -o out/ --probs noise=0,rain=1,haze=0
  wgpu-restore restore huge.tif -o out/ --tile 512 --tile-overlap 48
  wgpu-restore restore scans/ -o restored/ --adapter 0,1         (one worker per GPU; or all)
  wgpu-restore restore archive/ -r -o out/ --skip-existing --shard 3/16
                                  (share 3 of 16: docs/scale.md)";

pub const CLASSIFY_EXAMPLES: &str = "\
Examples:
  wgpu-restore classify photo.jpg
  wgpu-restore classify photos/ --json > probs.json";

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Input images, folders or glob patterns.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Output file (one input) or folder.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Use these degradation probabilities instead of the Prompt Net's, e.g.
    /// noise=0.9,rain=0,haze=0.2 (types not named are 0).
    #[arg(long, value_name = "NAME=P,...")]
    pub probs: Option<String>,
    #[command(flatten)]
    pub tiles: TileArgs,
    /// Replace existing outputs.
    #[arg(long, conflicts_with = "skip_existing")]
    pub overwrite: bool,
    /// Leave existing outputs alone and skip their inputs.
    #[arg(long)]
    pub skip_existing: bool,
    /// Output format (png, jpg, tif, webp); default: the input's.
    #[arg(long, value_name = "FMT")]
    pub format: Option<Format>,
    /// Appended to each output file's stem, e.g. `_restored`.
    #[arg(long, value_name = "STR", default_value = "")]
    pub suffix: String,
    /// JPEG quality (1-100).
    #[arg(long, value_name = "Q", default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub jpeg_quality: u8,
    /// Descend into sub-folders (their structure is kept under OUT).
    #[arg(short, long)]
    pub recursive: bool,
    /// Self-ensemble: average the restorations of the flips and rotations of each image that
    /// suit its degradations (noise: 8, rain: 4, haze: 2; as many times the time; cleaner
    /// results, gains in docs/training.md).
    #[arg(long)]
    pub ensemble: bool,
    /// Restore only share K of N of the inputs (K from 0 to N-1): the inputs, sorted by
    /// path, are dealt out in turn, so N machines running the same command with K = 0..N-1
    /// restore every input exactly once (docs/scale.md: Slurm job arrays, Kubernetes
    /// Indexed Jobs).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Threads decoding ahead of the GPU.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub decode_threads: u32,
    /// No progress or information, only errors.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Input images, folders or glob patterns.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Descend into sub-folders.
    #[arg(short, long)]
    pub recursive: bool,
    /// No information lines, only results and errors.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

struct Job {
    input: InputFile,
    output: PathBuf,
    format: Format,
}

/// The jobs, the skipped inputs, and per-file errors.
type Planned = (Vec<Job>, Vec<String>, Vec<(String, String)>);

/// Plans the outputs.
fn plan_jobs(a: &RestoreArgs, files: Vec<InputFile>) -> CliResult<Planned> {
    let single_file_out = files.len() == 1
        && a.inputs.len() == 1
        && Path::new(&a.inputs[0]).is_file()
        && Format::from_path(&a.output).is_some()
        && !a.output.is_dir();
    if !single_file_out && a.output.exists() && !a.output.is_dir() {
        return Err(Fatal::new(format!(
            "{}: is a file; with several inputs (or a folder) the output must be a folder",
            a.output.display()
        )));
    }
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    let mut errors = Vec::new();
    let mut taken: HashMap<PathBuf, String> = HashMap::new();
    // Every input named, not only those that become jobs: an input dropped below (its own
    // output would be itself) must still be safe from another input's output.
    let input_ids: HashSet<image_io::FileId> = files
        .iter()
        .filter_map(|f| image_io::file_id(&f.path))
        .collect();
    for f in files {
        let shown = f.path.display().to_string();
        let in_fmt = Format::from_path(&f.path).unwrap_or(Format::Png);
        let (output, format) = if single_file_out {
            let fmt = a.format.or(Format::from_path(&a.output)).unwrap_or(in_fmt);
            (a.output.clone(), fmt)
        } else {
            let fmt = a.format.unwrap_or(in_fmt);
            // Built from the name's own bytes: a name that is not UTF-8 (possible on Unix)
            // keeps them instead of getting U+FFFD in their place.
            let mut name = f.rel.file_stem().unwrap_or_default().to_os_string();
            name.push(&a.suffix);
            name.push(".");
            match (a.format, f.rel.extension()) {
                (None, Some(ext)) => name.push(ext),
                _ => name.push(fmt.extension()),
            }
            let dir = a.output.join(f.rel.parent().unwrap_or(Path::new("")));
            (dir.join(name), fmt)
        };
        if image_io::same_file(&output, &f.path) {
            errors.push((
                shown,
                format!("the output {} would overwrite the input", output.display()),
            ));
            continue;
        }
        if let Some(prev) = taken.get(&output) {
            errors.push((
                shown,
                format!(
                    "the output {} is also the output of {prev}",
                    output.display()
                ),
            ));
            continue;
        }
        if output.exists() && !a.overwrite {
            if a.skip_existing {
                skipped.push(shown);
                continue;
            }
            errors.push((
                shown,
                format!(
                    "the output {} exists (use --overwrite or --skip-existing)",
                    output.display()
                ),
            ));
            continue;
        }
        taken.insert(output.clone(), shown);
        jobs.push(Job {
            input: f,
            output,
            format,
        });
    }
    // No input may be replaced by another input's output either.
    jobs.retain(|j| {
        let clash = image_io::file_id(&j.output).is_some_and(|id| input_ids.contains(&id));
        if clash {
            errors.push((
                j.input.path.display().to_string(),
                format!("the output {} would overwrite an input", j.output.display()),
            ));
        }
        !clash
    });
    Ok((jobs, skipped, errors))
}

/// The output folders a run created, so that those it left empty (every file in them
/// failed, or the run stopped) are removed at the end: a failed run leaves nothing behind.
#[derive(Default)]
struct Folders {
    created: Mutex<Vec<PathBuf>>,
}

impl Folders {
    /// Creates `dir` and its missing parents.
    fn ensure(&self, dir: &Path) -> Result<(), String> {
        if dir.is_dir() {
            return Ok(());
        }
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
        self.created.lock().unwrap().extend(missing);
        Ok(())
    }

    /// Removes the created folders that are empty, the deepest first.
    fn remove_empty(&self) {
        let mut dirs = std::mem::take(&mut *self.created.lock().unwrap());
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        dirs.dedup();
        for d in dirs {
            let _ = std::fs::remove_dir(d); // fails, as it should, on a folder with files
        }
    }
}

/// Makes `j`'s output ready before any work is spent on the file: its folder (created when
/// `create_folder`, as for folder outputs; a single output file's folder must exist), its
/// name and its temporary file's name checked (see `image_io::prepare_output`).
fn prepare(
    j: &Job,
    folders: &Folders,
    create_folder: bool,
    replace: Replace,
) -> Result<PreparedOutput, String> {
    let shown = j.output.display();
    if create_folder {
        if let Some(dir) = j.output.parent() {
            folders
                .ensure(dir)
                .map_err(|e| format!("writing {shown}: {e}"))?;
        }
    }
    image_io::prepare_output(&j.output, replace).map_err(|e| format!("writing {shown}: {e}"))
}

/// Probabilities for one image: the override, or the Prompt Net's.
pub fn probs_for(
    rt: &Runtime,
    model: &Model,
    img: &Tensor,
    fixed: &Option<Vec<f32>>,
) -> Result<Vec<f32>, String> {
    match fixed {
        Some(p) => Ok(p.clone()),
        None => rt
            .classify(model, img)
            .and_then(|p| ensemble::check_finite("the degradation probabilities", &p).map(|()| p))
            .map_err(|e| problem(&e)),
    }
}

/// Frees prepared buffers when many image sizes have been seen (each size keeps its own).
pub struct SizeCache {
    seen: HashSet<Shape>,
}

impl SizeCache {
    pub fn new() -> Self {
        SizeCache {
            seen: HashSet::new(),
        }
    }
    pub fn note(&mut self, rt: &Runtime, model: &Model, shape: Shape) {
        if self.seen.insert(shape) && self.seen.len() > 4 {
            rt.release(model);
            self.seen.clear();
            self.seen.insert(shape);
        }
    }
}

/// Refuses an `-o` that would silently become a folder although it reads as a file name:
/// one with an extension that is not an output format (`-o out.bmp`), neither existing nor
/// ending with `/`.
fn check_output_name(out: &Path) -> CliResult<()> {
    let text = out.as_os_str().to_string_lossy();
    if out.exists() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        return Ok(());
    }
    match out.extension() {
        Some(ext) if Format::from_path(out).is_none() => Err(Fatal::usage(format!(
            "-o {}: .{} is not a format this tool writes (png, jpg, tif, webp); for a folder of that name, end it with /",
            out.display(),
            ext.to_string_lossy()
        ))),
        _ => Ok(()),
    }
}

pub fn run_restore(a: RestoreArgs) -> CliResult<i32> {
    let ui = Ui::new(a.quiet);
    let start = Instant::now();
    a.tiles.check()?;
    check_output_name(&a.output)?;
    let shard = a.shard.as_deref().map(shard::parse_shard).transpose()?;
    if let Some(v) = &a.device.adapter {
        devices::parse_list(v)?; // a malformed list is refused before any file is read
    }
    let (model, model_name, fixed) = load_model_and_probs(&a.model, a.probs.as_deref())?;
    let (mut files, mut failed) = expand_inputs(&a.inputs, a.recursive);
    for (f, m) in &failed {
        ui.error(f, m);
    }
    // A share with no inputs (more machines than files) is a run with nothing to do.
    let mut empty_share = false;
    if let Some(sh) = shard {
        let (mine, total) = shard::take(sh, files);
        ui.info(&format!("shard {sh}: {} of {total} input(s)", mine.len()));
        empty_share = mine.is_empty() && total > 0;
        files = mine;
    }
    let (jobs, skipped, errors) = plan_jobs(&a, files)?;
    for (f, m) in &errors {
        ui.error(f, m);
    }
    failed.extend(errors);
    for s in &skipped {
        ui.info(&format!("skip: {s}: the output exists"));
    }
    if jobs.is_empty() {
        let code = summary(
            &ui,
            "restored",
            0,
            skipped.len(),
            &failed,
            start.elapsed().as_secs_f64(),
        );
        return Ok(if failed.is_empty() && skipped.is_empty() && !empty_share {
            1.max(code)
        } else {
            code
        });
    }
    // Output folders are created as their first file comes up (and removed at the end if
    // nothing was written in them), so a run that fails early leaves none behind.
    let single_output_file = jobs.len() == 1 && jobs[0].output == a.output;
    let folders = Folders::default();
    let runtimes = open_runtimes(&a.device, a.quiet, jobs.len())?;
    let several = runtimes.len() > 1;
    if !a.quiet {
        ui.info(&format!(
            "{}; model: {model_name}",
            worker::describe_devices(&runtimes)
        ));
    }
    let max_pixels = a.tiles.max_pixels();
    let enc_opts = EncodeOptions {
        jpeg_quality: a.jpeg_quality,
    };
    let replace = if a.overwrite {
        Replace::Always
    } else {
        Replace::Never
    };
    let names = model.degradations().to_vec();

    let overall = ui.mp.add(ProgressBar::new(jobs.len() as u64));
    overall.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {pos}/{len} images {elapsed_precise} eta {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    overall.set_prefix("total");
    // One bar per device for the image it is restoring.
    let labels: Vec<Option<usize>> = (1..=runtimes.len()).map(|k| several.then_some(k)).collect();
    let bars: Vec<ProgressBar> = labels.iter().map(|&l| worker::image_bar(&ui, l)).collect();
    // Redrawn every second, so that the elapsed time moves during a long forward too.
    overall.enable_steady_tick(Duration::from_secs(1));

    let next = AtomicUsize::new(0);
    // Decoded images wait for the first device that is free: enough of them that none
    // waits for a decode while another image is ready.
    let (dec_tx, dec_rx) = sync_channel::<(usize, Decoded)>(runtimes.len() + 1);
    let (enc_tx, enc_rx) = sync_channel::<Restored>(2);
    let (res_tx, res_rx) = channel::<Outcome>();
    let inputs: Vec<&Path> = jobs.iter().map(|j| j.input.path.as_path()).collect();
    let shared = Shared {
        inputs: &inputs,
        model: &model,
        fixed: &fixed,
        names: &names,
        ui: &ui,
        overall: &overall,
        tiles: &a.tiles,
        ensemble: a.ensemble,
        decoded: Mutex::new(dec_rx),
    };
    let per_device: Vec<usize> = std::thread::scope(|s| {
        for _ in 0..a.decode_threads.min(jobs.len() as u32) {
            let tx = dec_tx.clone();
            let (jobs, next, folders) = (&jobs, &next, &folders);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() {
                    break;
                }
                // The output first: a file that cannot be written is reported before its
                // decode and its forward are spent.
                let r = guard::catch(|| {
                    let j = &jobs[i];
                    let out = prepare(j, folders, !single_output_file, replace)?;
                    let img = image_io::read_image_limited(&j.input.path, max_pixels)
                        .map_err(read_error)?;
                    Ok((img, out))
                });
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(dec_tx);
        {
            let res_tx = res_tx.clone();
            let (jobs, overall) = (&jobs, overall.clone());
            let enc_opts = &enc_opts;
            s.spawn(move || {
                for (i, img, out, prepared) in enc_rx {
                    let j = &jobs[i];
                    let r = guard::catch(|| {
                        image_io::encode_image(&out, &img, j.format, enc_opts)
                            .and_then(|bytes| prepared.commit(&bytes))
                            .map(|()| j.output.display().to_string())
                            .map_err(|e| format!("writing {}: {e}", j.output.display()))
                    });
                    overall.inc(1);
                    let _ = res_tx.send((i, r));
                }
            });
        }
        let workers: Vec<_> = runtimes
            .into_iter()
            .zip(labels)
            .zip(&bars)
            .map(|((rt, label), bar)| {
                let w = Worker {
                    rt,
                    label,
                    bar,
                    encode: enc_tx.clone(),
                    results: res_tx.clone(),
                };
                let shared = &shared;
                std::thread::Builder::new()
                    .name(format!("gpu-{}", label.unwrap_or(1)))
                    // As large as the main thread's stack (a spawned thread gets 2 MiB).
                    .stack_size(8 << 20)
                    .spawn_scoped(s, move || worker::run(shared, w))
                    .expect("start a device thread")
            })
            .collect();
        drop(enc_tx);
        workers.into_iter().map(|w| w.join().unwrap_or(0)).collect()
    });
    drop(res_tx);
    for bar in &bars {
        bar.finish_and_clear();
    }
    overall.finish_and_clear();
    folders.remove_empty();
    let mut results: Vec<(usize, Result<String, String>)> = res_rx.into_iter().collect();
    results.sort_by_key(|r| r.0);
    let mut ok = 0;
    for (i, r) in results {
        let shown = jobs[i].input.path.display().to_string();
        match r {
            Ok(_) => ok += 1,
            Err(e) => {
                ui.error(&shown, &e);
                failed.push((shown, e));
            }
        }
    }
    let note = worker::per_device_note(&per_device);
    Ok(summary_with_note(
        &ui,
        "restored",
        ok,
        skipped.len(),
        &failed,
        start.elapsed().as_secs_f64(),
        &note,
    ))
}

pub fn run_classify(a: ClassifyArgs) -> CliResult<i32> {
    let ui = Ui::new(a.quiet);
    let (model, model_name) = load_model(&a.model)?;
    if !model.has_prompt_net() {
        return Err(Fatal::new(format!(
            "{model_name} has no Prompt Net ({}): it detects no degradations; classify needs a model that does, such as the embedded one",
            describe_model(&model)
        )));
    }
    let (files, mut failed) = expand_inputs(&a.inputs, a.recursive);
    for (f, m) in &failed {
        ui.error(f, m);
    }
    let rt = open_runtime(&a.device, a.quiet, false)?;
    let names = model.degradations().to_vec();
    let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
    let width = files
        .iter()
        .map(|f| f.path.display().to_string().len())
        .max()
        .unwrap_or(4)
        .max(4);
    if !a.json {
        let mut head = format!("{:<width$}", "file");
        for n in &names {
            head.push_str(&format!(" {n:>8}"));
        }
        println!("{head}");
    }
    for f in &files {
        let shown = f.path.display().to_string();
        let r = guard::catch(|| {
            image_io::read_image(&f.path)
                .map_err(|e| e.to_string())
                .and_then(|img| probs_for(&rt, &model, &img.rgb, &None))
        });
        match r {
            Ok(p) => {
                if !a.json {
                    let mut line = format!("{shown:<width$}");
                    for v in &p {
                        line.push_str(&format!(" {v:>8.4}"));
                    }
                    println!("{line}");
                }
                rows.push((shown, p));
            }
            Err(e) => {
                ui.error(&shown, &e);
                failed.push((shown, e));
            }
        }
    }
    if a.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(f, p)| {
                let probs: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .zip(p)
                    .map(|(n, v)| (n.clone(), serde_json::json!(*v as f64)))
                    .collect();
                serde_json::json!({"file": f, "probs": probs})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        eprintln!(
            "classified {} of {} file(s), {} failed",
            rows.len(),
            rows.len() + failed.len(),
            failed.len()
        );
        Ok(1)
    }
}

/// Used by eval: restore one decoded image (classify unless `fixed`), with the
/// self-ensemble when `ensemble`.
pub fn restore_one(
    rt: &Runtime,
    model: &Model,
    img: &Tensor,
    fixed: &Option<Vec<f32>>,
    tiles: &TileOptions,
    ensemble: bool,
) -> Result<(Tensor, Vec<f32>, TileReport), String> {
    let probs = probs_for(rt, model, img, fixed)?;
    let (out, report) = ensemble::restore(rt, model, img, &probs, tiles, ensemble, &mut |_, _| {})
        .map_err(|e| problem(&e))?;
    Ok((out, probs, report))
}
