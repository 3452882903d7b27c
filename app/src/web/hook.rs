//! A read-only view of the app for the page's browser test (`web/test.mjs`), and one
//! request, "save the selected result as ...", which goes through the same download as the
//! Save menu. The view is refreshed on every frame the app draws; the app repaints after
//! every event of the worker, so it is never older than the last one.

use crate::{RestoreApp, Status};
use serde::Serialize;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wgpu_restore::image_io::Format;

#[derive(Default)]
struct Hook {
    ctx: Option<egui::Context>,
    state: String,
    save: Option<Format>,
}

thread_local! {
    static HOOK: RefCell<Hook> = RefCell::new(Hook::default());
}

#[derive(Serialize)]
struct State<'a> {
    /// The restoration device, or why there is none.
    device: Result<Device, &'a str>,
    model: &'a str,
    degradations: Vec<String>,
    /// Error lines shown in the status bar, oldest first.
    errors: &'a [String],
    items: Vec<ItemState<'a>>,
}

#[derive(Serialize)]
struct Device {
    adapter: String,
    backend: String,
    precision: &'static str,
    max_storage_buffer_binding_size: u64,
    max_buffer_size: u64,
    max_compute_workgroups_per_dimension: u32,
}

#[derive(Serialize)]
struct ItemState<'a> {
    name: &'a str,
    /// done, failed, cancelled or busy.
    state: &'static str,
    /// The text the queue shows.
    status: String,
    probs: Option<&'a [f32]>,
    seconds: Option<f64>,
    tiles: Option<usize>,
    width: Option<usize>,
    height: Option<usize>,
    saved_to: Option<String>,
}

/// Remembers the app's context, so that a request can wake the app.
pub(crate) fn attach(ctx: &egui::Context) {
    HOOK.with(|h| h.borrow_mut().ctx = Some(ctx.clone()));
}

/// Carries out the requests made since the last frame.
pub(crate) fn apply_requests(app: &mut RestoreApp) {
    if let Some(format) = HOOK.with(|h| h.borrow_mut().save.take()) {
        if let Err(e) = app.download_selected(format) {
            app.errors.push(e);
        }
    }
}

/// Refreshes the view from the app.
pub(crate) fn publish(app: &RestoreApp) {
    let device = match &app.engine.runtime {
        Ok(rt) => {
            let g = rt.gpu();
            Ok(Device {
                adapter: g.adapter.name.clone(),
                backend: g.adapter.backend.clone(),
                precision: rt.precision().name(),
                max_storage_buffer_binding_size: g.limits.max_storage_buffer_binding_size,
                max_buffer_size: g.limits.max_buffer_size,
                max_compute_workgroups_per_dimension: g.limits.max_compute_workgroups_per_dimension,
            })
        }
        Err(e) => Err(e.as_str()),
    };
    let state = State {
        device,
        model: &app.engine.model_name,
        degradations: app.degradations(),
        errors: app.errors(),
        items: app
            .items()
            .iter()
            .map(|i| ItemState {
                name: &i.name,
                state: match i.status {
                    Status::Done => "done",
                    Status::Failed(_) => "failed",
                    Status::Cancelled => "cancelled",
                    _ => "busy",
                },
                status: i.status_text(),
                probs: i.auto_probs.as_deref(),
                seconds: i.seconds,
                tiles: i.tiling.map(|t| t.1),
                width: i.source.as_ref().map(|s| s.width()),
                height: i.source.as_ref().map(|s| s.height()),
                saved_to: i.saved_to.as_ref().map(|p| p.display().to_string()),
            })
            .collect(),
    };
    let json = serde_json::to_string(&state).unwrap_or_default();
    HOOK.with(|h| h.borrow_mut().state = json);
}

/// The app as JSON: device and its limits, model, errors, and each queued image's state,
/// probabilities and timing.
#[wasm_bindgen]
pub fn app_state() -> String {
    HOOK.with(|h| h.borrow().state.clone())
}

/// Saves the selected result as `format` (png, jpg or tif) the way the Save menu does: a
/// download. Errors are shown in the app, as the menu's are.
#[wasm_bindgen]
pub fn save_result(format: &str) -> Result<(), JsValue> {
    let format: Format = format.parse().map_err(|e: String| JsValue::from_str(&e))?;
    HOOK.with(|h| {
        let mut h = h.borrow_mut();
        h.save = Some(format);
        if let Some(ctx) = &h.ctx {
            ctx.request_repaint();
        }
    });
    Ok(())
}
