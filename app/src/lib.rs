//! The wgpu-restore desktop app: a queue of images, a before/after view, the degradation
//! probabilities (automatic or set by hand), restoration on a worker thread that shares the
//! window's wgpu device, and saving with the source's metadata. The same app runs in a
//! browser (`web`): files come and go as bytes, the worker is a task of the page.

pub mod config;
mod controls;
pub mod dialogs;
pub mod engine;
pub mod viewer;
#[cfg(target_arch = "wasm32")]
pub mod web;

use config::Config;
use dialogs::Dialogs;
use egui::{Color32, RichText, TextureHandle, Vec2};
use engine::{Engine, Event, Job};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use viewer::{Compare, View};
use web_time::Instant;
use wgpu_restore::image_io::{self, EncodeOptions, Format, Image, Replace};
use wgpu_restore::Tensor;

/// Where an item of the queue stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Queued,
    Loading,
    Classifying,
    Restoring { done: usize, total: usize },
    Done,
    Cancelled,
    Failed(String),
}

impl Status {
    pub fn busy(&self) -> bool {
        matches!(
            self,
            Status::Queued | Status::Loading | Status::Classifying | Status::Restoring { .. }
        )
    }
    fn text(&self) -> String {
        match self {
            Status::Queued => "queued".into(),
            Status::Loading => "loading…".into(),
            Status::Classifying => "classifying…".into(),
            Status::Restoring { done, total } if *total > 1 => {
                format!("restoring… tile {done}/{total}")
            }
            Status::Restoring { .. } => "restoring…".into(),
            Status::Done => "done".into(),
            Status::Cancelled => "cancelled".into(),
            Status::Failed(e) => format!("failed: {e}"),
        }
    }
}

/// One image of the queue.
pub struct Item {
    pub id: u64,
    pub path: PathBuf,
    pub name: String,
    pub status: Status,
    pub source: Option<Arc<Image>>,
    pub restored: Option<Tensor>,
    /// The classifier's probabilities.
    pub auto_probs: Option<Vec<f32>>,
    /// Restore with `manual` instead of `auto_probs`.
    pub manual_mode: bool,
    pub manual: Vec<f32>,
    /// The probabilities the shown result was restored with.
    pub used_probs: Option<Vec<f32>>,
    /// Seconds the last restoration took (tiles included, classification excluded).
    pub seconds: Option<f64>,
    /// Tile side and count of the last restoration.
    pub tiling: Option<(Option<usize>, usize)>,
    /// Forwards averaged for the shown result (1, or a self-ensemble's symmetries).
    pub passes: usize,
    /// Whether the queued or running job is a self-ensemble.
    ensemble_job: bool,
    pub saved_to: Option<PathBuf>,
    before: Option<TextureHandle>,
    after: Option<TextureHandle>,
    cancel: Arc<AtomicBool>,
    started: Option<Instant>,
    restore_started: Option<Instant>,
}

impl Item {
    /// The status as shown; a cancel that is waiting for the device reads "cancelling…".
    pub fn status_text(&self) -> String {
        if self.status.busy() && self.cancel.load(Ordering::Relaxed) {
            return "cancelling…".into();
        }
        match (&self.status, self.seconds) {
            (Status::Done, Some(s)) => format!("done in {s:.2} s"),
            (Status::Restoring { done, total }, _) if self.ensemble_job => {
                if *total > 1 {
                    format!("restoring (self-ensemble)… step {done}/{total}")
                } else {
                    "restoring (self-ensemble)…".into()
                }
            }
            (s, _) => s.text(),
        }
    }
}

/// The application state.
pub struct RestoreApp {
    engine: Engine,
    jobs: Sender<Job>,
    /// The worker thread, joined when the app is dropped (see `Drop`); a page's worker task
    /// has nothing to join.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    worker: Option<engine::Worker>,
    events: Receiver<Event>,
    ctx: Arc<OnceLock<egui::Context>>,
    items: Vec<Item>,
    selected: Option<u64>,
    next_id: u64,
    view: View,
    dialogs: Box<dyn Dialogs>,
    config: Config,
    config_path: Option<PathBuf>,
    /// Problems to show (newest last), with whether they were dismissed.
    errors: Vec<String>,
    notice: Option<String>,
    /// Print a line per finished restoration to stderr (timings for scripts).
    pub log_timings: bool,
    /// Seconds per pixel of the last whole-image restoration (for the progress estimate).
    rate: Option<f64>,
}

impl RestoreApp {
    /// A new app; the worker thread starts at once. `config_path`: where the last folder is
    /// remembered (`None`: not remembered).
    pub fn new(engine: Engine, dialogs: Box<dyn Dialogs>, config_path: Option<PathBuf>) -> Self {
        let (jobs_tx, jobs_rx) = channel();
        let (events_tx, events_rx) = channel();
        let ctx: Arc<OnceLock<egui::Context>> = Arc::new(OnceLock::new());
        let wake_ctx = ctx.clone();
        let worker = engine::spawn(engine.clone(), jobs_rx, events_tx, move || {
            if let Some(c) = wake_ctx.get() {
                c.request_repaint();
            }
        });
        let config = config_path.as_deref().map(Config::load).unwrap_or_default();
        let mut errors = Vec::new();
        if let Err(e) = &engine.runtime {
            errors.push(format!("No device for restoration: {e}"));
        }
        if let Err(e) = &engine.model {
            errors.push(format!("No model: {e}"));
        }
        RestoreApp {
            engine,
            jobs: jobs_tx,
            worker: Some(worker),
            events: events_rx,
            ctx,
            items: Vec::new(),
            selected: None,
            next_id: 1,
            view: View::default(),
            dialogs,
            config,
            config_path,
            errors,
            notice: None,
            log_timings: false,
            rate: None,
        }
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }
    pub fn errors(&self) -> &[String] {
        &self.errors
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn view(&self) -> &View {
        &self.view
    }
    pub fn view_mut(&mut self) -> &mut View {
        &mut self.view
    }
    pub fn selected(&self) -> Option<&Item> {
        self.selected
            .and_then(|id| self.items.iter().find(|i| i.id == id))
    }
    fn selected_mut(&mut self) -> Option<&mut Item> {
        let id = self.selected?;
        self.items.iter_mut().find(|i| i.id == id)
    }
    fn item_mut(&mut self, id: u64) -> Option<&mut Item> {
        self.items.iter_mut().find(|i| i.id == id)
    }
    /// Whether any item is queued or in progress.
    pub fn busy(&self) -> bool {
        self.items.iter().any(|i| i.status.busy())
    }
    fn degradations(&self) -> Vec<String> {
        match &self.engine.model {
            Ok(m) => m.degradations().to_vec(),
            Err(_) => Vec::new(),
        }
    }

    /// Adds images to the queue; each is decoded, classified and restored in turn.
    pub fn open_paths(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        let mut last = None;
        for path in paths {
            if path.is_dir() {
                self.errors.push(format!(
                    "{}: is a folder; open the images in it",
                    path.display()
                ));
                continue;
            }
            last = path.parent().map(Path::to_path_buf);
            self.enqueue(path, None);
        }
        if let Some(dir) = last.filter(|d| !d.as_os_str().is_empty()) {
            self.remember_folder(dir);
        }
    }

    /// Adds files handed over by the window (dropped on a web page, picked in a browser's
    /// file dialog) to the queue, as [`RestoreApp::open_paths`] adds files on disk.
    pub fn open_files(&mut self, files: impl IntoIterator<Item = egui::DroppedFileHandle>) {
        for file in files {
            self.enqueue(file.path().to_path_buf(), Some(file));
        }
    }

    fn enqueue(&mut self, path: PathBuf, file: Option<egui::DroppedFileHandle>) {
        let k = self.degradations().len();
        let id = self.next_id;
        self.next_id += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| path.display().to_string());
        let _ = self.jobs.send(Job {
            item: id,
            path: path.clone(),
            file,
            source: None,
            probs: None,
            ensemble: self.config.self_ensemble,
            cancel: cancel.clone(),
        });
        self.items.push(Item {
            id,
            path,
            name,
            status: Status::Queued,
            source: None,
            restored: None,
            auto_probs: None,
            manual_mode: false,
            manual: vec![0.5; k],
            used_probs: None,
            seconds: None,
            tiling: None,
            passes: 1,
            ensemble_job: self.config.self_ensemble,
            saved_to: None,
            before: None,
            after: None,
            cancel,
            started: None,
            restore_started: None,
        });
        if self.selected.is_none() {
            self.selected = Some(id);
            self.view.fit_to_window();
        }
    }

    fn remember_folder(&mut self, dir: PathBuf) {
        if self.config.last_folder.as_ref() == Some(&dir) {
            return;
        }
        self.config.last_folder = Some(dir);
        self.save_config("the folder");
    }

    /// Restore the images opened from now on, and "Restore again", with the self-ensemble
    /// (up to 8 times slower); remembered in the settings file.
    pub fn set_self_ensemble(&mut self, on: bool) {
        if self.config.self_ensemble != on {
            self.config.self_ensemble = on;
            self.save_config("the self-ensemble setting");
        }
    }

    fn save_config(&mut self, what: &str) {
        if let Some(p) = &self.config_path {
            if let Err(e) = self.config.save(p) {
                self.errors.push(format!("cannot remember {what}: {e}"));
            }
        }
    }

    /// Restores the selected item again with its current probabilities (manual or
    /// automatic). Returns false when it cannot (nothing loaded, or busy).
    pub fn restore_again(&mut self) -> bool {
        let ensemble = self.config.self_ensemble;
        let Some(item) = self.selected_mut() else {
            return false;
        };
        if item.status.busy() || item.source.is_none() {
            return false;
        }
        let probs = if item.manual_mode {
            Some(item.manual.clone())
        } else {
            item.auto_probs.clone()
        };
        item.cancel = Arc::new(AtomicBool::new(false));
        item.status = Status::Queued;
        item.ensemble_job = ensemble;
        let job = Job {
            item: item.id,
            path: item.path.clone(),
            file: None,
            source: item.source.clone(),
            probs,
            ensemble,
            cancel: item.cancel.clone(),
        };
        let _ = self.jobs.send(job);
        true
    }

    /// Switches the selected item between automatic and manual probabilities; manual
    /// starts from the automatic values.
    pub fn set_manual(&mut self, manual: bool) {
        if let Some(item) = self.selected_mut() {
            if manual && !item.manual_mode {
                if let Some(a) = &item.auto_probs {
                    item.manual = a.clone();
                }
            }
            item.manual_mode = manual;
        }
    }

    /// Sets one manual probability of the selected item.
    pub fn set_manual_prob(&mut self, k: usize, value: f32) {
        if let Some(item) = self.selected_mut() {
            if let Some(v) = item.manual.get_mut(k) {
                *v = value.clamp(0.0, 1.0);
            }
        }
    }

    /// Cancels the item in progress and everything queued.
    pub fn cancel_all(&mut self) {
        for i in &self.items {
            if i.status.busy() {
                i.cancel.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Cancels one item (queued or in progress).
    pub fn cancel(&mut self, id: u64) {
        if let Some(i) = self.items.iter().find(|i| i.id == id) {
            i.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// The format a result is saved in unless the user picks another: the source's where
    /// the app writes it, else PNG.
    pub fn default_save_format(item: &Item) -> Format {
        Format::from_path(&item.path)
            .filter(|f| SAVE_FORMATS.contains(f))
            .unwrap_or(Format::Png)
    }

    /// The suggested file name for the selected item's result.
    fn suggested_name(item: &Item) -> String {
        Self::result_name(item, Self::default_save_format(item))
    }

    /// Asks where to save the selected result (dialog) and saves it there.
    pub fn save_dialog(&mut self) {
        let Some(item) = self.selected() else { return };
        if item.restored.is_none() {
            return;
        }
        let name = Self::suggested_name(item);
        let folder = self
            .config
            .last_folder
            .clone()
            .or_else(|| item.path.parent().map(Path::to_path_buf));
        if let Some(path) = self.dialogs.save_image(folder.as_deref(), &name) {
            if let Err(e) = self.save_selected_to(&path) {
                self.errors.push(e);
            }
        }
    }

    /// Saves the selected result to `path` (PNG, JPEG or TIFF by extension), with the
    /// source's metadata (ICC profile, EXIF, orientation) as the CLI keeps it.
    pub fn save_selected_to(&mut self, path: &Path) -> Result<(), String> {
        let format = Format::from_path(path).ok_or_else(|| {
            format!(
                "{}: unknown extension; save as .png, .jpg or .tif",
                path.display()
            )
        })?;
        // The save dialog lets the user confirm "Replace" on the photo itself; the original
        // is never replaced (the CLI refuses the same).
        if self
            .items
            .iter()
            .any(|i| image_io::same_file(&i.path, path))
        {
            return Err(format!(
                "{}: is an original opened here; save the result under another name",
                path.display()
            ));
        }
        let (id, bytes) = self.encode_selected(format)?;
        image_io::write_atomic(path, &bytes, Replace::Always)
            .map_err(|e| format!("cannot save {}: {e}", path.display()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            self.remember_folder(dir.to_path_buf());
        }
        if let Some(item) = self.item_mut(id) {
            item.saved_to = Some(path.to_path_buf());
        }
        self.notice = Some(format!("Saved {}", path.display()));
        Ok(())
    }

    /// The selected result encoded as `format`, with the source's metadata (ICC profile,
    /// EXIF, orientation) as the CLI keeps it; and the item's id.
    fn encode_selected(&self, format: Format) -> Result<(u64, Vec<u8>), String> {
        let item = self.selected().ok_or("nothing is selected")?;
        let (Some(restored), Some(source)) = (&item.restored, &item.source) else {
            return Err("there is no restored image to save yet".into());
        };
        let bytes = image_io::encode_image(restored, source, format, &EncodeOptions::default())
            .map_err(|e| format!("cannot encode {} as {}: {e}", item.name, format.extension()))?;
        Ok((item.id, bytes))
    }

    /// The name a saved result gets in `format`.
    fn result_name(item: &Item, format: Format) -> String {
        let stem = item
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "image".into());
        format!("{stem}-restored.{}", format.extension())
    }

    /// Saves the selected result as the browser saves a page's files: a download, named
    /// after the source, in `format` (PNG, JPEG or TIFF) with the source's metadata.
    #[cfg(target_arch = "wasm32")]
    pub fn download_selected(&mut self, format: Format) -> Result<(), String> {
        let (id, bytes) = self.encode_selected(format)?;
        let item = self.selected().ok_or("nothing is selected")?;
        let name = Self::result_name(item, format);
        web::files::download(&name, &bytes, format_mime(format))?;
        if let Some(item) = self.item_mut(id) {
            item.saved_to = Some(PathBuf::from(&name));
        }
        self.notice = Some(format!("Downloaded {name}"));
        Ok(())
    }

    /// Applies the worker's events. Called every frame; public for tests.
    pub fn poll_events(&mut self, ctx: &egui::Context) {
        while let Ok(ev) = self.events.try_recv() {
            match ev {
                Event::Started(id) => {
                    if let Some(i) = self.item_mut(id) {
                        i.started = Some(Instant::now());
                        i.status = if i.source.is_none() {
                            Status::Loading
                        } else {
                            i.restore_started = Some(Instant::now());
                            Status::Restoring { done: 0, total: 1 }
                        };
                    }
                }
                Event::Loaded(id, img) => {
                    let tex = texture(ctx, &format!("before {id}"), &img.rgb);
                    if let Some(i) = self.item_mut(id) {
                        i.before = Some(tex);
                        i.source = Some(img);
                        i.status = Status::Classifying;
                    }
                }
                Event::Classified(id, p) => {
                    if let Some(i) = self.item_mut(id) {
                        if !i.manual_mode {
                            i.manual = p.clone();
                        }
                        i.auto_probs = Some(p);
                        i.restore_started = Some(Instant::now());
                        i.status = Status::Restoring { done: 0, total: 1 };
                    }
                }
                Event::Progress(id, done, total) => {
                    if let Some(i) = self.item_mut(id) {
                        i.status = Status::Restoring { done, total };
                    }
                }
                Event::Restored(r) => {
                    let tex = texture(ctx, &format!("after {}", r.item), &r.image);
                    if r.tile.is_none() && r.passes == 1 {
                        self.rate = Some(r.seconds / r.image.shape.plane().max(1) as f64);
                    }
                    let log = self.log_timings;
                    if let Some(i) = self.item_mut(r.item) {
                        if log {
                            let job = i.started.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
                            eprintln!(
                                "{}: {}x{} restored in {:.2} s ({}); {:.2} s for the whole job \
                                 (decode, classification, restoration)",
                                i.name,
                                r.image.shape.w,
                                r.image.shape.h,
                                r.seconds,
                                tiling_text(r.tile, r.tiles, r.passes),
                                job
                            );
                        }
                        i.after = Some(tex);
                        i.restored = Some(r.image);
                        i.used_probs = Some(r.probs);
                        i.seconds = Some(r.seconds);
                        i.tiling = Some((r.tile, r.tiles));
                        i.passes = r.passes;
                        i.status = Status::Done;
                    }
                }
                Event::Cancelled(id) => {
                    if let Some(i) = self.item_mut(id) {
                        i.status = Status::Cancelled;
                    }
                }
                Event::Failed(id, msg) => {
                    let mut text = None;
                    if let Some(i) = self.item_mut(id) {
                        text = Some(format!("{}: {msg}", i.name));
                        i.status = Status::Failed(msg);
                    }
                    self.errors.extend(text);
                }
            }
        }
    }

    /// The whole window.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let _ = self.ctx.set(ctx.clone());
        self.poll_events(&ctx);

        // A page gets dropped files as bytes (their path is only the name); the desktop
        // gets paths.
        #[cfg(target_arch = "wasm32")]
        {
            let dropped = ctx.input(|i| i.raw.dropped_files.clone());
            self.open_files(dropped);
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let dropped: Vec<PathBuf> = ctx.input(|i| {
                i.raw
                    .dropped_files
                    .iter()
                    .map(|f| f.path().to_path_buf())
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            });
            if !dropped.is_empty() {
                self.open_paths(dropped);
            }
        }
        let picked = self.dialogs.take_opened();
        self.open_files(picked);

        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::left("queue")
            .default_size(220.0)
            .show(ui, |ui| self.queue(ui));
        egui::Panel::right("controls")
            .default_size(280.0)
            .show(ui, |ui| self.controls(ui));
        egui::CentralPanel::default().show(ui, |ui| self.central(ui));

        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            let rect = ctx.content_rect();
            let p = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("drop overlay"),
            ));
            p.rect_filled(rect, 0.0, Color32::from_black_alpha(170));
            p.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop images to restore them",
                egui::FontId::proportional(24.0),
                Color32::WHITE,
            );
        }
        if self.busy() {
            // Keep the elapsed time moving. No continuous animation: on a software adapter
            // every repaint takes CPU time from the restoration.
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui.button("Open…").clicked() {
                let folder = self.config.last_folder.clone();
                let paths = self.dialogs.open_images(folder.as_deref());
                self.open_paths(paths);
            }
            let can_save = self.selected().is_some_and(|i| i.restored.is_some());
            #[cfg(not(target_arch = "wasm32"))]
            if ui
                .add_enabled(can_save, egui::Button::new("Save as…"))
                .on_disabled_hover_text("Restore an image first")
                .clicked()
            {
                self.save_dialog();
            }
            // A page has no save dialog: the format is picked here and the file downloaded.
            #[cfg(target_arch = "wasm32")]
            ui.add_enabled_ui(can_save, |ui| {
                ui.menu_button("Save as…", |ui| {
                    for format in SAVE_FORMATS {
                        if ui.button(format_label(format)).clicked() {
                            if let Err(e) = self.download_selected(format) {
                                self.errors.push(e);
                            }
                            ui.close();
                        }
                    }
                })
                .response
                .on_disabled_hover_text("Restore an image first");
            });
            ui.separator();
            ui.selectable_value(&mut self.view.compare, Compare::Split, "Split");
            ui.selectable_value(&mut self.view.compare, Compare::SideBySide, "Side by side");
            ui.separator();
            if ui.button("Fit").clicked() {
                self.view.fit_to_window();
            }
            if ui.button("1:1").clicked() {
                self.view.one_to_one();
            }
            let ppp = ui.ctx().pixels_per_point();
            ui.label(format!("{:.0} %", self.view.percent(ppp)));
        });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let active = self.items.iter().find(|i| {
                matches!(
                    i.status,
                    Status::Loading | Status::Classifying | Status::Restoring { .. }
                )
            });
            if let Some(item) = active {
                let pixels = item.source.as_ref().map(|s| s.rgb.shape.plane());
                let since = item.restore_started.map(|s| s.elapsed().as_secs_f64());
                let (frac, text) = match item.status {
                    Status::Restoring { done, total } if total > 1 => (
                        Some(done as f32 / total as f32),
                        if item.ensemble_job {
                            item.status_text()
                        } else {
                            format!("{} (tile {done}/{total})", item.status_text())
                        },
                    ),
                    // One forward: estimate from the last one's speed.
                    Status::Restoring { .. } => match (self.rate, pixels, since) {
                        (Some(rate), Some(px), Some(t)) => {
                            let est = rate * px as f64;
                            let left = (est - t).max(0.0);
                            (
                                Some((t / est).min(0.99) as f32),
                                format!("{} (about {left:.0} s left)", item.status_text()),
                            )
                        }
                        _ => (None, item.status_text()),
                    },
                    _ => (None, item.status_text()),
                };
                let secs = item
                    .started
                    .map(|s| s.elapsed().as_secs_f32())
                    .unwrap_or(0.0);
                ui.label(format!("{}: {text}, {secs:.0} s", item.name));
                if let Some(f) = frac {
                    ui.add(egui::ProgressBar::new(f).desired_width(160.0));
                }
                let id = item.id;
                if ui.button("Cancel").clicked() {
                    self.cancel(id);
                }
                let queued = self
                    .items
                    .iter()
                    .filter(|i| i.status == Status::Queued)
                    .count();
                if queued > 0 {
                    ui.label(format!("{queued} queued"));
                    if ui.button("Cancel all").clicked() {
                        self.cancel_all();
                    }
                }
            } else if let Some(n) = &self.notice {
                ui.label(n);
            } else {
                ui.label("Ready");
            }
        });
        if let Some(e) = self.errors.last().cloned() {
            ui.horizontal(|ui| {
                ui.colored_label(Color32::from_rgb(230, 80, 70), format!("Error: {e}"));
                if ui.small_button("Dismiss").clicked() {
                    self.errors.pop();
                }
            });
        }
    }

    fn queue(&mut self, ui: &mut egui::Ui) {
        ui.heading("Queue");
        if self.items.is_empty() {
            ui.label("Drop images here or use Open…");
            return;
        }
        let mut select = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for item in &self.items {
                let color = match item.status {
                    Status::Failed(_) => Color32::from_rgb(230, 80, 70),
                    Status::Done => Color32::from_rgb(110, 190, 110),
                    _ => ui.visuals().text_color(),
                };
                let selected = self.selected == Some(item.id);
                let r = ui.selectable_label(selected, &item.name);
                if r.clicked() {
                    select = Some(item.id);
                }
                ui.label(RichText::new(item.status_text()).small().color(color));
                ui.add_space(4.0);
            }
        });
        if let Some(id) = select {
            self.selected = Some(id);
            self.view.fit_to_window();
        }
    }

    fn central(&mut self, ui: &mut egui::Ui) {
        let Some(idx) = self
            .selected
            .and_then(|id| self.items.iter().position(|i| i.id == id))
        else {
            ui.centered_and_justified(|ui| {
                ui.label(RichText::new("Drop photos here, or click Open…").size(20.0));
            });
            return;
        };
        let item = &self.items[idx];
        match (&item.before, &item.source) {
            (Some(before), Some(src)) => {
                let size = Vec2::new(src.width() as f32, src.height() as f32);
                let (before, after) = (before.clone(), item.after.clone());
                self.view.show(ui, size, &before, after.as_ref());
            }
            _ => {
                ui.centered_and_justified(|ui| match &item.status {
                    Status::Failed(e) => {
                        ui.colored_label(
                            Color32::from_rgb(230, 80, 70),
                            format!("{}: {e}", item.name),
                        );
                    }
                    s => {
                        ui.label(format!("{}: {}", item.name, s.text()));
                    }
                });
            }
        }
    }
}

/// How long closing the app waits for the worker to stop. Cancelling takes effect between
/// tiles, so this is about one tile's forward; a whole-image forward on a slow device may
/// take longer, and then the worker is left to the process exit rather than keeping a
/// closed window waiting.
#[cfg(not(target_arch = "wasm32"))]
const WORKER_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Drop for RestoreApp {
    /// Stops the worker before the app (and then the process) goes away: a worker still in a
    /// device call while the process exits can crash in the driver's teardown.
    fn drop(&mut self) {
        self.cancel_all();
        // Closing the job channel ends the worker's loop after its current job.
        self.jobs = channel().0;
        // A page's worker task has nothing to join: it ends with the page.
        #[cfg(not(target_arch = "wasm32"))]
        let Some(worker) = self.worker.take() else {
            return;
        };
        #[cfg(not(target_arch = "wasm32"))]
        {
            let start = Instant::now();
            while !worker.is_finished() && start.elapsed() < WORKER_STOP_WAIT {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            if worker.is_finished() {
                let _ = worker.join();
            }
        }
    }
}

impl eframe::App for RestoreApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// The formats results are saved in, in menu order.
pub const SAVE_FORMATS: [Format; 3] = [Format::Png, Format::Jpeg, Format::Tiff];

#[cfg(target_arch = "wasm32")]
fn format_label(f: Format) -> &'static str {
    match f {
        Format::Png => "PNG (lossless)",
        Format::Jpeg => "JPEG (quality 95)",
        Format::Tiff => "TIFF",
        Format::WebP => "WebP",
    }
}

#[cfg(target_arch = "wasm32")]
fn format_mime(f: Format) -> &'static str {
    match f {
        Format::Png => "image/png",
        Format::Jpeg => "image/jpeg",
        Format::Tiff => "image/tiff",
        Format::WebP => "image/webp",
    }
}

fn tiling_text(tile: Option<usize>, tiles: usize, passes: usize) -> String {
    match (tile, passes) {
        (None, 1) => "whole image".into(),
        (None, p) => format!("whole image, self-ensemble of {p}"),
        (Some(t), 1) => format!("{tiles} tiles of {t} px"),
        (Some(t), p) => format!("self-ensemble of {p}, {tiles} tiles of {t} px over all passes"),
    }
}

/// A texture from a `3 x H x W` tensor, scaled down if the GPU cannot hold it whole.
fn texture(ctx: &egui::Context, name: &str, t: &Tensor) -> TextureHandle {
    let rgb = image_io::rgb8_from_tensor(t);
    let max = ctx.input(|i| i.max_texture_side).max(256);
    let (mut w, mut h, mut data) = (rgb.width, rgb.height, rgb.data);
    while w.max(h) > max {
        // 2x2 box filter.
        let (nw, nh) = (w.div_ceil(2), h.div_ceil(2));
        let mut out = vec![0u8; nw * nh * 3];
        for y in 0..nh {
            for x in 0..nw {
                for c in 0..3 {
                    let mut s = 0u32;
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let (sy, sx) = ((2 * y + dy).min(h - 1), (2 * x + dx).min(w - 1));
                        s += data[(sy * w + sx) * 3 + c] as u32;
                    }
                    out[(y * nw + x) * 3 + c] = ((s + 2) / 4) as u8;
                }
            }
        }
        (w, h, data) = (nw, nh, out);
    }
    let mut opts = egui::TextureOptions::LINEAR;
    opts.magnification = egui::TextureFilter::Nearest;
    ctx.load_texture(name, egui::ColorImage::from_rgb([w, h], &data), opts)
}
