//! The device side of a `restore` run: one worker per device, each taking the next decoded
//! image as soon as it is free, restoring it and handing the result to the encoder. With
//! one device this is the ordinary run; with several (`--adapter 0,1`) the images are
//! shared out as the devices free up, and every image's line and the summary say which
//! device restored it.

use super::restore::{probs_for, SizeCache};
use super::{format_probs, problem, TileArgs, Ui};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use wgpu_restore::image_io::{Image, PreparedOutput};
use wgpu_restore::tiling::TileReport;
use wgpu_restore::{ensemble, guard, Model, Runtime, Shape, Tensor};

/// How often a tiled image's progress is printed when stderr is not a terminal.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// A decoded input and its prepared output, or why there is none.
pub type Decoded = Result<(Image, PreparedOutput), String>;

/// A restored image on its way to the encoder: its job's index, the decoded input (for its
/// metadata and alpha), the restored pixels and the prepared output.
pub type Restored = (usize, Image, Tensor, PreparedOutput);

/// One job's outcome: the output written, or why not.
pub type Outcome = (usize, Result<String, String>);

/// What the workers of a run share: the inputs' names, the model and how to restore.
pub struct Shared<'a> {
    /// The input path of each job, as shown in messages.
    pub inputs: &'a [&'a Path],
    pub model: &'a Model,
    /// The probabilities given with `--probs`, if any (else the Prompt Net's).
    pub fixed: &'a Option<Vec<f32>>,
    pub names: &'a [String],
    pub ui: &'a Ui,
    pub overall: &'a ProgressBar,
    pub tiles: &'a TileArgs,
    pub ensemble: bool,
    /// The decoded images; each worker takes the next one when it is free.
    pub decoded: Mutex<Receiver<(usize, Decoded)>>,
}

impl Shared<'_> {
    /// The next decoded image, or `None` when there are no more. The lock is held only
    /// while waiting, so the next image goes to the first worker that asks.
    fn next(&self) -> Option<(usize, Decoded)> {
        let rx = self.decoded.lock().unwrap_or_else(PoisonError::into_inner);
        rx.recv().ok()
    }
}

/// One worker's device and where its results go.
pub struct Worker<'a> {
    pub rt: Runtime,
    /// This device's number (1, 2, ...) when the run has several, else `None`.
    pub label: Option<usize>,
    /// The bar of the image this device is restoring.
    pub bar: &'a ProgressBar,
    pub encode: SyncSender<Restored>,
    pub results: Sender<Outcome>,
}

/// The line naming the devices of a run: `device: NAME (backend)`, or with several,
/// `devices: #1 NAME (backend, adapter 0), #2 ...` (the numbers of the progress bars, the
/// per-image lines and the summary).
pub fn describe_devices(runtimes: &[Runtime]) -> String {
    if let [rt] = runtimes {
        let g = rt.gpu();
        return format!("device: {} ({})", g.adapter.name, g.adapter.backend);
    }
    let all: Vec<String> = runtimes
        .iter()
        .enumerate()
        .map(|(k, rt)| {
            let g = rt.gpu();
            format!(
                "#{} {} ({}, adapter {})",
                k + 1,
                g.adapter.name,
                g.adapter.backend,
                g.adapter.index
            )
        })
        .collect();
    format!("devices: {}", all.join(", "))
}

/// The bar of the image that one device is restoring, named `image`, or `gpu #K` when the
/// run has several devices.
pub fn image_bar(ui: &Ui, label: Option<usize>) -> ProgressBar {
    let bar = ui.mp.add(ProgressBar::new(1));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {pos}/{len} tiles eta {eta} {wide_msg}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    bar.set_prefix(match label {
        Some(k) => format!("gpu #{k}"),
        None => "image".to_string(),
    });
    bar
}

/// The end of the summary line for a run on several devices: how many images each
/// restored (`; by device: #1 3, #2 4`); empty for one device.
pub fn per_device_note(counts: &[usize]) -> String {
    if counts.len() < 2 {
        return String::new();
    }
    let each: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(k, n)| format!("#{} {n}", k + 1))
        .collect();
    format!("; by device: {}", each.join(", "))
}

/// One worker's loop: takes the next decoded image, restores it on the worker's device and
/// hands it to the encoder, until the images run out (or the encoder has stopped).
/// Returns how many images it restored.
pub fn run(sh: &Shared, w: Worker) -> usize {
    let tile_opts = sh.tiles.options(&w.rt);
    let mut sizes = SizeCache::new();
    let mut restored = 0;
    while let Some((i, decoded)) = sh.next() {
        let (img, prepared) = match decoded {
            Ok(d) => d,
            Err(e) => {
                fail(sh, &w, i, e);
                continue;
            }
        };
        let shown = sh.inputs[i].display().to_string();
        w.bar.reset();
        w.bar.set_message(shown.clone());
        let t0 = Instant::now();
        let mut progress = progress_for(sh.ui, w.bar, &shown, t0);
        let result = guard::catch(|| {
            let probs = probs_for(&w.rt, sh.model, &img.rgb, sh.fixed)?;
            ensemble::restore(
                &w.rt,
                sh.model,
                &img.rgb,
                &probs,
                &tile_opts,
                sh.ensemble,
                &mut progress,
            )
            .map(|(out, report)| (out, report, probs))
            .map_err(|e| problem(&e))
        });
        let (out, report, probs) = match result {
            Ok(r) => r,
            Err(e) => {
                fail(sh, &w, i, e);
                continue;
            }
        };
        restored += 1;
        note_sizes(&mut sizes, &w.rt, sh.model, img.rgb.shape, &report);
        let secs = t0.elapsed().as_secs_f64();
        sh.ui.info(&image_line(
            &shown, sh.names, &probs, secs, &report, w.label,
        ));
        if let Some(warning) = sh.tiles.overlap_warning(report.tile) {
            sh.ui.warn(&shown, &warning);
        }
        if w.encode.send((i, img, out, prepared)).is_err() {
            break;
        }
    }
    restored
}

/// Reports job `i` as failed (it counts as done on the overall bar).
fn fail(sh: &Shared, w: &Worker, i: usize, why: String) {
    sh.overall.inc(1);
    let _ = w.results.send((i, Err(why)));
}

/// The progress callback of one image: moves the device's bar and, without a terminal (a
/// log, a pipe: the bars draw nothing), prints a line after the first tile with the time it
/// gives for the rest, then one every PROGRESS_EVERY, so that a long tiled image shows it
/// is moving.
fn progress_for<'a>(
    ui: &'a Ui,
    bar: &'a ProgressBar,
    shown: &'a str,
    t0: Instant,
) -> impl FnMut(usize, usize) + 'a {
    let mut last_line: Option<Instant> = None;
    move |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if ui.mp.is_hidden()
            && !ui.quiet
            && total > 1
            && done > 0
            && done < total
            && last_line.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY)
        {
            let spent = t0.elapsed().as_secs_f64();
            let left = spent / done as f64 * (total - done) as f64;
            ui.info(&format!(
                "{shown}: tile {done}/{total} after {spent:.1} s, about {left:.0} s left"
            ));
            last_line = Some(Instant::now());
        }
    }
}

/// Tells the size cache which forward shapes an image used (its tile, both ways round when
/// the tiles were transposed).
fn note_sizes(
    sizes: &mut SizeCache,
    rt: &Runtime,
    model: &Model,
    image: Shape,
    report: &TileReport,
) {
    let shape = match report.tile {
        Some(t) => Shape::new(3, t.min(image.h), t.min(image.w)),
        None => image,
    };
    sizes.note(rt, model, shape);
    if report.transposed {
        sizes.note(rt, model, Shape::new(3, shape.w, shape.h));
    }
}

/// The line printed for a restored image: its probabilities (when the model has a Prompt
/// Net), its time, the self-ensemble, tiles and retries, and the device when there are
/// several.
fn image_line(
    shown: &str,
    names: &[String],
    probs: &[f32],
    secs: f64,
    report: &TileReport,
    label: Option<usize>,
) -> String {
    let mut line = if names.is_empty() {
        format!("{shown}: {secs:.2} s")
    } else {
        format!("{shown}: {}; {secs:.2} s", format_probs(names, probs))
    };
    if report.passes > 1 {
        line.push_str(&format!("; self-ensemble of {}", report.passes));
    }
    if let Some(t) = report.tile {
        let all = if report.passes > 1 {
            " over all passes"
        } else {
            ""
        };
        line.push_str(&format!("; {} tiles of {t}{all}", report.tiles));
    }
    for r in &report.retries {
        line.push_str(&format!("; out of memory at tile {r}, retried smaller"));
    }
    if let Some(k) = label {
        line.push_str(&format!("; device #{k}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_images_by_device_only_with_several() {
        assert_eq!(per_device_note(&[]), "");
        assert_eq!(per_device_note(&[5]), "");
        assert_eq!(per_device_note(&[3, 4]), "; by device: #1 3, #2 4");
        assert_eq!(per_device_note(&[0, 2, 1]), "; by device: #1 0, #2 2, #3 1");
    }

    #[test]
    fn an_image_line_names_its_device_only_with_several() {
        let names = ["noise".to_string(), "rain".to_string()];
        let whole = TileReport::default();
        let one = image_line("a.png", &names, &[0.5, 0.25], 1.234, &whole, None);
        assert!(
            one.starts_with("a.png: ") && one.ends_with("; 1.23 s"),
            "{one}"
        );
        let two = image_line("a.png", &[], &[], 0.5, &whole, Some(2));
        assert_eq!(two, "a.png: 0.50 s; device #2");
        let tiled = TileReport {
            tile: Some(256),
            tiles: 6,
            ..TileReport::default()
        };
        let line = image_line("b.png", &[], &[], 2.0, &tiled, Some(1));
        assert_eq!(line, "b.png: 2.00 s; 6 tiles of 256; device #1");
    }
}
