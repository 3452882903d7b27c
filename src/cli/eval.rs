//! `eval`: restore degraded images and score them against clean targets.

use super::{
    load_model_and_probs, open_runtime, parse_synth, problem, read_error, restore::restore_one,
    restore::SizeCache, CliResult, DeviceArgs, Fatal, InputFile, ModelArgs, TileArgs, Ui,
};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use wgpu_restore::image_io::{self, rgb8_from_tensor, tensor_from_rgb8};
use wgpu_restore::metrics::{self, Scores};
use wgpu_restore::synth::{self, Synth};
use wgpu_restore::{guard, Shape};

pub const EXAMPLES: &str = "\
Pairs are matched by file stem (input/kodim01.png <-> target/kodim01.png, any supported
extensions); two files of one stem in a folder (a.png, a.jpg) are an error. Metrics follow docs/metrics.md: RGB rounded to 8 bits, whole image, PSNR,
SSIM (11x11 Gaussian, sigma 1.5, 'valid' window, channel mean) and Y-channel PSNR;
means are arithmetic means over the images.

Examples:
  wgpu-restore eval --input noisy/ --target clean/
  wgpu-restore eval --input rainy/ --target clean/ --json
  wgpu-restore eval --target kodak24/ --synth noise:25 --seed 0 --csv";

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Folder of degraded images (omit with --synth).
    #[arg(long, value_name = "DIR", required_unless_present = "synth")]
    pub input: Option<PathBuf>,
    /// Folder of clean targets.
    #[arg(long, value_name = "DIR")]
    pub target: PathBuf,
    /// Degrade the targets synthetically instead of reading --input: noise:SIGMA.
    #[arg(long, value_name = "KIND:ARG", value_parser = parse_synth, conflicts_with = "input")]
    pub synth: Option<Synth>,
    /// Seed of the synthetic degradation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use these probabilities instead of the Prompt Net's (noise=1,rain=0,haze=0).
    #[arg(long, value_name = "NAME=P,...")]
    pub probs: Option<String>,
    /// Self-ensemble: average the restorations of the flips and rotations that suit the
    /// degradations (up to 8 times the time; see `restore --help`).
    #[arg(long, conflicts_with = "score_only")]
    pub ensemble: bool,
    /// Also score the degraded inputs themselves (columns in_psnr, in_ssim, in_psnr_y).
    #[arg(long)]
    pub baseline: bool,
    /// Do not run the model: score the --input images themselves against the targets
    /// (e.g. outputs of another method). Needs no GPU.
    #[arg(long, conflicts_with_all = ["probs", "baseline"])]
    pub score_only: bool,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV.
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub tiles: TileArgs,
    /// Only results and errors.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

struct Row {
    name: String,
    scores: Scores,
    base: Option<Scores>,
    probs: Vec<f32>,
}

fn by_stem(dir: &std::path::Path) -> CliResult<BTreeMap<String, InputFile>> {
    if !dir.is_dir() {
        return Err(Fatal::new(format!("{}: not a folder", dir.display())));
    }
    let (files, errors) = super::expand_inputs(&[dir.display().to_string()], false);
    if let Some((f, m)) = errors.first() {
        return Err(Fatal::new(format!("{f}: {m}")));
    }
    let mut by_stem: BTreeMap<String, InputFile> = BTreeMap::new();
    for f in files {
        let stem = f
            .path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        // Pairs are matched by stem, so a.png and a.jpg in one folder are ambiguous: say so
        // rather than pair one of them silently.
        if let Some(first) = by_stem.get(&stem) {
            return Err(Fatal::new(format!(
                "{}: has the same name as {} (images are paired by name without the extension)",
                f.path.display(),
                first.path.display()
            )));
        }
        by_stem.insert(stem, f);
    }
    Ok(by_stem)
}

fn fmt_db(v: f64) -> String {
    if v.is_infinite() {
        "inf".into()
    } else {
        format!("{v:.4}")
    }
}

fn fmt_ssim(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.6}")).unwrap_or_else(|| "n/a".into())
}

fn json_scores(s: &Scores) -> serde_json::Value {
    let f = |v: f64| {
        if v.is_finite() {
            serde_json::json!(v)
        } else {
            serde_json::Value::Null
        }
    };
    serde_json::json!({"psnr": f(s.psnr), "ssim": s.ssim, "psnr_y": f(s.psnr_y)})
}

pub fn run(a: EvalArgs) -> CliResult<i32> {
    let ui = Ui::new(a.quiet);
    let start = Instant::now();
    a.tiles.check()?;
    let (model, model_name, fixed) = load_model_and_probs(&a.model, a.probs.as_deref())?;
    let targets = by_stem(&a.target)?;
    let mut failed: Vec<(String, String)> = Vec::new();
    // (name, input file or None for synth, target file)
    let mut pairs: Vec<(String, Option<InputFile>, InputFile)> = Vec::new();
    match &a.input {
        Some(dir) => {
            let inputs = by_stem(dir)?;
            for (stem, f) in &inputs {
                match targets.get(stem) {
                    Some(t) => pairs.push((stem.clone(), Some(f.clone()), t.clone())),
                    None => failed.push((
                        f.path.display().to_string(),
                        "no target with this name".into(),
                    )),
                }
            }
        }
        None => {
            for (stem, t) in &targets {
                pairs.push((stem.clone(), None, t.clone()));
            }
        }
    }
    for (f, m) in &failed {
        ui.error(f, m);
    }
    let rt = if a.score_only {
        None
    } else {
        Some(open_runtime(&a.device, a.quiet, false)?)
    };
    if let Some(rt) = &rt {
        ui.info(&format!(
            "device: {} ({}); model: {model_name}; {} pair(s){}",
            rt.gpu().adapter.name,
            rt.gpu().adapter.backend,
            pairs.len(),
            a.synth
                .map(|s| format!(", synthetic {s}, seed {}", a.seed))
                .unwrap_or_default()
        ));
    }
    let tiles = rt.as_ref().map(|rt| a.tiles.options(rt));
    let mut sizes = SizeCache::new();
    let mut rows: Vec<Row> = Vec::new();
    for (name, input, target) in &pairs {
        let shown = input
            .as_ref()
            .map(|f| f.path.display().to_string())
            .unwrap_or_else(|| target.path.display().to_string());
        let r = guard::catch(|| -> Result<Row, String> {
            let t = image_io::read_image_limited(&target.path, a.tiles.max_pixels())
                .map_err(|e| format!("target {}: {}", target.path.display(), read_error(e)))?;
            let clean = t.to_rgb8();
            let degraded = match input {
                Some(f) => {
                    let i = image_io::read_image_limited(&f.path, a.tiles.max_pixels())
                        .map_err(read_error)?;
                    if (i.width(), i.height()) != (t.width(), t.height()) {
                        return Err(format!(
                            "size {}x{} does not match the target {} ({}x{})",
                            i.width(),
                            i.height(),
                            target.path.display(),
                            t.width(),
                            t.height()
                        ));
                    }
                    i.to_rgb8()
                }
                None => match a.synth {
                    Some(s) => {
                        let stem_name = target.rel.display().to_string();
                        synth::apply(s, &clean, a.seed, &stem_name)
                    }
                    None => unreachable!("clap requires --input or --synth"),
                },
            };
            let (restored, probs) = match (&rt, &tiles) {
                (Some(rt), Some(tiles)) => {
                    let x = tensor_from_rgb8(&degraded);
                    let (out, probs, report) =
                        restore_one(rt, &model, &x, &fixed, tiles, a.ensemble)?;
                    sizes.note(rt, &model, x.shape);
                    if report.transposed {
                        sizes.note(rt, &model, Shape::new(3, x.shape.w, x.shape.h));
                    }
                    (rgb8_from_tensor(&out), probs)
                }
                _ => (degraded.clone(), Vec::new()),
            };
            Ok(Row {
                name: name.clone(),
                scores: metrics::score(&restored, &clean),
                base: a.baseline.then(|| metrics::score(&degraded, &clean)),
                probs,
            })
        });
        match r {
            Ok(row) => {
                ui.info(&format!(
                    "{shown}: PSNR {} dB, SSIM {}, Y-PSNR {} dB",
                    fmt_db(row.scores.psnr),
                    fmt_ssim(row.scores.ssim),
                    fmt_db(row.scores.psnr_y)
                ));
                rows.push(row);
            }
            Err(e) => {
                ui.error(&shown, &e);
                failed.push((shown, e));
            }
        }
    }
    let all: Vec<Scores> = rows.iter().map(|r| r.scores).collect();
    let mean = metrics::mean(&all);
    let base_all: Vec<Scores> = rows.iter().filter_map(|r| r.base).collect();
    let base_mean = metrics::mean(&base_all);
    let names = model.degradations().to_vec();
    if a.json {
        let images: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let mut v = json_scores(&r.scores);
                v["file"] = serde_json::json!(r.name);
                v["probs"] = serde_json::json!(names
                    .iter()
                    .zip(&r.probs)
                    .map(|(n, p)| (n.clone(), serde_json::json!(*p as f64)))
                    .collect::<serde_json::Map<_, _>>());
                if let Some(b) = &r.base {
                    v["input"] = json_scores(b);
                }
                v
            })
            .collect();
        let mut doc = serde_json::json!({
            "model": model_name,
            "count": rows.len(),
            "images": images,
            "mean": mean.as_ref().map(json_scores),
            "failed": failed.iter().map(|(f, m)| serde_json::json!({"file": f, "error": m})).collect::<Vec<_>>(),
        });
        if let Some(b) = &base_mean {
            doc["input_mean"] = json_scores(b);
        }
        if let Some(s) = a.synth {
            doc["synth"] = serde_json::json!(s.to_string());
            doc["seed"] = serde_json::json!(a.seed);
        }
        println!("{}", serde_json::to_string_pretty(&doc).unwrap());
    } else if a.csv {
        let mut head = "file,psnr,ssim,psnr_y".to_string();
        if a.baseline {
            head.push_str(",in_psnr,in_ssim,in_psnr_y");
        }
        println!("{head}");
        let line = |name: &str, s: &Scores, b: Option<&Scores>| {
            let mut l = format!(
                "{name},{},{},{}",
                fmt_db(s.psnr),
                s.ssim.map(|v| format!("{v:.6}")).unwrap_or_default(),
                fmt_db(s.psnr_y)
            );
            if let Some(b) = b {
                l.push_str(&format!(
                    ",{},{},{}",
                    fmt_db(b.psnr),
                    b.ssim.map(|v| format!("{v:.6}")).unwrap_or_default(),
                    fmt_db(b.psnr_y)
                ));
            }
            l
        };
        for r in &rows {
            println!("{}", line(&r.name, &r.scores, r.base.as_ref()));
        }
        if let Some(m) = &mean {
            println!("{}", line("MEAN", m, base_mean.as_ref()));
        }
    } else {
        let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        let mut head = format!("{:<w$} {:>9} {:>9} {:>9}", "file", "psnr", "ssim", "psnr_y");
        if a.baseline {
            head.push_str(&format!(
                " {:>9} {:>9} {:>9}",
                "in_psnr", "in_ssim", "in_psnr_y"
            ));
        }
        println!("{head}");
        let line = |name: &str, s: &Scores, b: Option<&Scores>| {
            let mut l = format!(
                "{name:<w$} {:>9} {:>9} {:>9}",
                fmt_db(s.psnr),
                fmt_ssim(s.ssim),
                fmt_db(s.psnr_y)
            );
            if let Some(b) = b {
                l.push_str(&format!(
                    " {:>9} {:>9} {:>9}",
                    fmt_db(b.psnr),
                    fmt_ssim(b.ssim),
                    fmt_db(b.psnr_y)
                ));
            }
            l
        };
        for r in &rows {
            println!("{}", line(&r.name, &r.scores, r.base.as_ref()));
        }
        if let Some(m) = &mean {
            println!("{}", line("MEAN", m, base_mean.as_ref()));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if !failed.is_empty() {
        eprintln!(
            "evaluated {} of {} pair(s) in {secs:.2} s, {} failed:",
            rows.len(),
            rows.len() + failed.len(),
            failed.len()
        );
        for (f, m) in &failed {
            eprintln!("  {f}: {m}");
        }
        return Ok(1);
    }
    if rows.is_empty() {
        eprintln!("error: {}: no image pairs to evaluate", a.target.display());
        return Ok(1);
    }
    let _ = problem;
    Ok(0)
}
