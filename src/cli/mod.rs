//! Command-line definitions and the pieces every subcommand shares: device and model
//! set-up, input expansion, `--probs` parsing, error reporting.

pub mod bench;
pub mod devices;
pub mod eval;
pub mod import;
pub mod restore;
pub mod shard;
pub mod worker;

use clap::{Args, Parser, Subcommand};
use indicatif::{MultiProgress, ProgressDrawTarget};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use wgpu_restore::image_io::{self, Format};
pub use wgpu_restore::probs::{format_probs, parse_probs};
use wgpu_restore::synth::Synth;
use wgpu_restore::tiling::TileOptions;
use wgpu_restore::{AdapterChoice, BackendChoice, Error, Model, Runtime, RuntimeOptions};

/// The shipped default model, embedded in the binary.
pub static EMBEDDED_MODEL: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/models/allinone-small.safetensors"
));
pub const EMBEDDED_NAME: &str = "allinone-small (embedded)";

const EXAMPLES: &str = "\
Examples:
  wgpu-restore restore photo.jpg -o photo-restored.jpg
  wgpu-restore restore scans/ -o restored/ --skip-existing
  wgpu-restore restore 'raw/*.png' -o out/ --probs noise=1,rain=0,haze=0 --tile 512
  wgpu-restore classify photos/ --json
  wgpu-restore eval --input noisy/ --target clean/ --csv > scores.csv
  wgpu-restore eval --target clean/ --synth noise:25
  wgpu-restore bench --size 481x321
  wgpu-restore info";

#[derive(Parser, Debug)]
#[command(
    name = "wgpu-restore",
    version,
    about = "All-in-one image restoration (noise, rain, haze) on any WebGPU device",
    long_about = "All-in-one image restoration (noise, rain, haze): a Prompt Net detects the \
                  degradations and a restoration U-Net removes them, both running as WGSL \
                  compute shaders through wgpu on any WebGPU device (Vulkan, Metal, DX12, GL).",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Restore images: files, folders or globs.
    #[command(after_help = restore::EXAMPLES)]
    Restore(restore::RestoreArgs),
    /// Print the degradation probabilities of images (table or --json).
    #[command(after_help = restore::CLASSIFY_EXAMPLES)]
    Classify(restore::ClassifyArgs),
    /// Restore degraded images and score them against clean targets (PSNR, SSIM, Y-PSNR).
    #[command(after_help = eval::EXAMPLES)]
    Eval(eval::EvalArgs),
    /// Time one image end to end and per op; report peak GPU memory, device and backend.
    #[command(after_help = bench::BENCH_EXAMPLES)]
    Bench(bench::BenchArgs),
    /// List adapters, the chosen device and backend, and the model.
    #[command(after_help = bench::INFO_EXAMPLES)]
    Info(bench::InfoArgs),
    /// Convert a published PyTorch checkpoint (PromptIR, Restormer) into a model file.
    #[command(after_help = import::EXAMPLES)]
    Import(import::ImportArgs),
}

/// Device selection.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Graphics API: auto, vulkan, metal, dx12 or gl.
    #[arg(long, value_name = "API", default_value = "auto", value_parser = parse_backend)]
    pub backend: String,
    /// Adapter by index (as `info` lists them) or by a part of its name. `restore` also
    /// takes a list, one device each (`0,1`; `0,0` opens two on one adapter), or `all` (every
    /// GPU): each device restores the next image as soon as it is free.
    #[arg(long, value_name = "INDEX|NAME")]
    pub adapter: Option<String>,
    /// How values and weights are stored on the device: f32, f16 (half the memory and
    /// bandwidth; needs SHADER_F16) or auto (f16 on GPUs that have it, f32 on CPU adapters).
    #[arg(long, value_name = "P", default_value = "auto", value_parser = ["f32", "f16", "auto"])]
    pub precision: String,
}

/// `--backend`, checked by clap so that a wrong name is a usage error (exit 2) like any
/// other wrong value; kept as written for messages.
fn parse_backend(s: &str) -> Result<String, String> {
    s.parse::<BackendChoice>()
        .map(|_| s.to_string())
        .map_err(|e| problem(&e).trim_start_matches("input: ").to_string())
}

/// Model selection.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model file (default: the embedded allinone-small model).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
}

/// The tile overlap when `--tile-overlap` is not given.
pub const DEFAULT_OVERLAP: u32 = 32;

/// Tiling.
#[derive(Args, Debug, Clone)]
pub struct TileArgs {
    /// Tile side in pixels (default: automatic, the whole image when it fits the device).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(16..))]
    pub tile: Option<u32>,
    /// Overlap between neighbouring tiles in pixels, blended smoothly; at most half a tile
    /// [default: 32, cut to half of a smaller tile].
    #[arg(long, value_name = "M")]
    pub tile_overlap: Option<u32>,
    /// Device memory one forward may use for activations, in MiB: images whose forward
    /// needs more are tiled. Default: three quarters of the device's memory (for a CPU
    /// adapter, of the host's available memory), 2048 where the device does not say.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_memory: Option<u64>,
    /// Largest image read, in megapixels; larger files are refused from their header
    /// (each megapixel needs some 50 MB of memory on its way through; an image that would
    /// not fit the memory available is refused from its header whatever this limit).
    #[arg(long, value_name = "MP", default_value_t = (image_io::MAX_PIXELS / 1_000_000) as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_megapixels: u32,
}

impl TileArgs {
    pub fn options(&self, rt: &Runtime) -> TileOptions {
        let mut o = TileOptions::for_runtime(rt);
        o.tile = self.tile.map(|t| t as usize);
        o.overlap = self.tile_overlap.unwrap_or(DEFAULT_OVERLAP) as usize;
        if let Some(mib) = self.max_memory {
            o.memory_budget = mib << 20;
        }
        o
    }

    /// Refuses an overlap of more than half of `--tile` (the tiles would start every few
    /// pixels); the default overlap is cut to half of a small tile instead.
    pub fn check(&self) -> CliResult<()> {
        if let (Some(t), Some(o)) = (self.tile, self.tile_overlap) {
            if o > t / 2 {
                return Err(Fatal::usage(format!(
                    "--tile-overlap {o} is more than half of --tile {t} (at most {})",
                    t / 2
                )));
            }
        }
        Ok(())
    }

    /// A warning when the overlap asked for was cut to half of a tile the run chose itself
    /// (`tile`: from the device's limits, or smaller after running out of memory).
    pub fn overlap_warning(&self, tile: Option<usize>) -> Option<String> {
        let (t, o) = (tile?, self.tile_overlap? as usize);
        (self.tile != Some(t as u32) && o > t / 2).then(|| {
            format!(
                "--tile-overlap {o} is more than half of the {t}-pixel tile this image was restored with: {} used",
                t / 2
            )
        })
    }

    /// `--max-megapixels` in pixels.
    pub fn max_pixels(&self) -> u64 {
        self.max_megapixels as u64 * 1_000_000
    }
}

/// A failure that ends the run before any file is processed. The exit status follows one
/// rule: 2 when the command line is wrong (a value that no run could accept: an unknown
/// backend, `--tile-overlap` over half of `--tile`, an output name of an unknown format,
/// `--probs` naming an unknown degradation), found before any file is read, as clap's own
/// usage errors; 1 for everything that went wrong at run time (a missing file, the model,
/// the device).
#[derive(Debug)]
pub struct Fatal {
    pub msg: String,
    pub usage: bool,
}

impl Fatal {
    /// A run-time failure (exit 1).
    pub fn new(msg: String) -> Fatal {
        Fatal { msg, usage: false }
    }
    /// A wrong command line (exit 2).
    pub fn usage(msg: String) -> Fatal {
        Fatal { msg, usage: true }
    }
}

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal::new(e.to_string())
    }
}

pub type CliResult<T> = Result<T, Fatal>;

/// The problem text of a library error, without a leading file name.
pub fn problem(e: &Error) -> String {
    match e {
        Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// An image decoding error for a command that has `--max-megapixels`: the pixel limit names
/// the option that moves it.
pub fn read_error(e: image_io::ImageIoError) -> String {
    if e.kind == image_io::ErrorKind::OverPixelLimit {
        format!("{e} (--max-megapixels)")
    } else {
        e.to_string()
    }
}

/// Loads `--model` or the embedded model.
pub fn load_model(args: &ModelArgs) -> CliResult<(Model, String)> {
    match &args.model {
        Some(p) => match Model::load(p) {
            Ok(m) => Ok((m, p.display().to_string())),
            Err(e) => Err(Fatal::new(format!(
                "{}: invalid model file: {}",
                p.display(),
                problem(&e)
            ))),
        },
        None => Model::from_bytes(EMBEDDED_MODEL)
            .map(|m| (m, EMBEDDED_NAME.to_string()))
            .map_err(|e| Fatal::new(format!("embedded model: {}", problem(&e)))),
    }
}

/// Loads the model (see [`load_model`]) and checks a `--probs` override against its
/// degradation names, so every subcommand rejects a bad override the same way before
/// any GPU work starts.
pub fn load_model_and_probs(
    args: &ModelArgs,
    probs: Option<&str>,
) -> CliResult<(Model, String, Option<Vec<f32>>)> {
    let (model, name) = load_model(args)?;
    let fixed = match probs {
        Some(_) if !model.has_prompt_net() => {
            return Err(Fatal::usage(format!(
                "--probs: {name} has no Prompt Net ({}): it takes no degradation probabilities",
                describe_model(&model)
            )))
        }
        Some(s) => Some(parse_probs(s, model.degradations()).map_err(Fatal::usage)?),
        None => None,
    };
    Ok((model, name, fixed))
}

/// The architecture and what the model restores, e.g. `restormer; restores deraining`.
pub fn describe_model(model: &Model) -> String {
    format!(
        "{}; restores {}",
        model.architecture(),
        model.tasks().join(", ")
    )
}

/// The device options of a command that runs on one device: a list of adapters (or `all`)
/// is a usage error here (only `restore` takes several).
pub fn gpu_options(dev: &DeviceArgs, quiet: bool, timestamps: bool) -> CliResult<RuntimeOptions> {
    let adapter: AdapterChoice = match &dev.adapter {
        Some(a) if devices::is_several(a) => {
            return Err(Fatal::usage(format!(
                "--adapter {a}: this command runs on one device; only restore takes several"
            )))
        }
        Some(a) => a.parse().map_err(|e: Error| Fatal::new(problem(&e)))?,
        None => AdapterChoice::Auto,
    };
    gpu_options_for(dev, adapter, quiet, timestamps)
}

/// The device options with `adapter` in place of `--adapter`.
pub fn gpu_options_for(
    dev: &DeviceArgs,
    adapter: AdapterChoice,
    quiet: bool,
    timestamps: bool,
) -> CliResult<RuntimeOptions> {
    let backend: BackendChoice = dev
        .backend
        .parse()
        .map_err(|e: Error| Fatal::new(problem(&e)))?;
    let precision: wgpu_restore::PrecisionChoice = dev
        .precision
        .parse()
        .map_err(|e: Error| Fatal::usage(problem(&e)))?;
    Ok(RuntimeOptions {
        backend,
        adapter,
        precision,
        timestamps,
        quiet,
    })
}

/// Opens the device once for the whole run.
pub fn open_runtime(dev: &DeviceArgs, quiet: bool, timestamps: bool) -> CliResult<Runtime> {
    let opts = gpu_options(dev, quiet, timestamps)?;
    Runtime::new(opts).map_err(|e| Fatal::new(problem(&e)))
}

/// One input file and the path it is shown and mapped by.
#[derive(Clone, Debug)]
pub struct InputFile {
    pub path: PathBuf,
    /// Path relative to the folder it was found in (or the file name).
    pub rel: PathBuf,
}

fn is_image_name(p: &Path) -> bool {
    Format::from_path(p).is_some()
}

/// Lists the image files of `dir` (and of its sub-folders when `recursive`) into `out`. A
/// folder that cannot be listed is reported in `errors` and the walk goes on with the rest;
/// a folder reached twice (a symbolic link to a parent, or two links to one folder) is
/// listed once, so a link loop neither recurses without end nor repeats images.
fn walk(
    dir: &Path,
    base: &Path,
    recursive: bool,
    out: &mut Vec<InputFile>,
    errors: &mut Vec<(String, String)>,
    visited: &mut HashSet<PathBuf>,
) {
    if let Ok(real) = dir.canonicalize() {
        if !visited.insert(real) {
            return;
        }
    }
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) => {
            errors.push((
                dir.display().to_string(),
                format!("cannot list the folder: {e}"),
            ));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = listing.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .map(|n| n.to_string_lossy().starts_with('.'))
            .unwrap_or(false);
        if hidden {
            continue;
        }
        if p.is_dir() {
            if recursive {
                walk(&p, base, recursive, out, errors, visited);
            }
        } else if is_image_name(&p) {
            let rel = p.strip_prefix(base).unwrap_or(&p).to_path_buf();
            out.push(InputFile { path: p, rel });
        }
    }
}

/// Expands files, folders (their image files: .png .jpg .jpeg .tif .tiff .webp) and globs.
/// Returns the files and one error line per argument that matched nothing.
pub fn expand_inputs(args: &[String], recursive: bool) -> (Vec<InputFile>, Vec<(String, String)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for a in args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            let (before, errors_before) = (files.len(), errors.len());
            walk(
                &p,
                &p,
                recursive,
                &mut files,
                &mut errors,
                &mut HashSet::new(),
            );
            if files.len() == before && errors.len() == errors_before {
                errors.push((
                    a.clone(),
                    "no image files (png, jpg, tif, webp) in this folder".into(),
                ));
            }
        } else if p.exists() {
            let rel = PathBuf::from(p.file_name().unwrap_or(p.as_os_str()));
            files.push(InputFile { path: p, rel });
        } else if a.contains(['*', '?', '[']) {
            match glob::glob(a) {
                Ok(paths) => {
                    let mut found: Vec<PathBuf> = paths
                        .filter_map(|r| r.ok())
                        .filter(|p| p.is_file())
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        errors.push((a.clone(), "no file matches this pattern".into()));
                    }
                    for p in found {
                        let rel = PathBuf::from(p.file_name().unwrap_or(p.as_os_str()));
                        files.push(InputFile { path: p, rel });
                    }
                }
                Err(e) => errors.push((a.clone(), format!("invalid pattern: {e}"))),
            }
        } else {
            errors.push((a.clone(), "no such file or directory".into()));
        }
    }
    (files, errors)
}

/// Progress output: bars on a terminal (unless quiet), plain lines otherwise.
pub struct Ui {
    pub mp: MultiProgress,
    pub quiet: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Ui {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Ui {
            mp: MultiProgress::with_draw_target(target),
            quiet,
        }
    }
    /// An informational line (suppressed by -q).
    pub fn info(&self, msg: &str) {
        if self.quiet {
            return;
        }
        self.print_line(msg);
    }
    /// A warning: the run goes on, but not quite as asked (always shown).
    pub fn warn(&self, file: &str, msg: &str) {
        self.print_line(&format!("warning: {file}: {msg}"));
    }
    /// An error line (always shown).
    pub fn error(&self, file: &str, msg: &str) {
        self.print_line(&format!("error: {file}: {msg}"));
    }
    /// One line on stderr, above the progress bars while they are drawn.
    fn print_line(&self, line: &str) {
        if self.mp.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.mp.println(line);
        }
    }
}

/// Prints the failure summary; returns the exit code.
pub fn summary(
    ui: &Ui,
    what: &str,
    ok: usize,
    skipped: usize,
    failed: &[(String, String)],
    secs: f64,
) -> i32 {
    summary_with_note(ui, what, ok, skipped, failed, secs, "")
}

/// [`summary`] with `note` at the end of its first line.
pub fn summary_with_note(
    ui: &Ui,
    what: &str,
    ok: usize,
    skipped: usize,
    failed: &[(String, String)],
    secs: f64,
    note: &str,
) -> i32 {
    let total = ok + skipped + failed.len();
    if !ui.quiet || !failed.is_empty() {
        let rate = if secs > 0.0 { ok as f64 / secs } else { 0.0 };
        let mut line =
            format!("{what} {ok} of {total} file(s) in {secs:.2} s ({rate:.3} images/s)");
        if skipped > 0 {
            line.push_str(&format!(", {skipped} skipped"));
        }
        if !failed.is_empty() {
            line.push_str(&format!(", {} failed", failed.len()));
        }
        line.push_str(note);
        eprintln!("{line}");
    }
    if failed.is_empty() {
        0
    } else {
        eprintln!("failures:");
        for (f, m) in failed {
            eprintln!("  {f}: {m}");
        }
        1
    }
}

pub fn parse_synth(s: &str) -> Result<Synth, String> {
    s.parse()
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Restore(a) => restore::run_restore(a),
        Cmd::Classify(a) => restore::run_classify(a),
        Cmd::Eval(a) => eval::run(a),
        Cmd::Bench(a) => bench::run_bench(a),
        Cmd::Info(a) => bench::run_info(a),
        Cmd::Import(a) => import::run(a),
    };
    match r {
        Ok(code) => code,
        Err(Fatal { msg, usage }) => {
            eprintln!("error: {msg}");
            if usage {
                2
            } else {
                1
            }
        }
    }
}
