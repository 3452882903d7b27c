//! The app in a browser: the page's entry point (`start`), called by `web/index.html` once
//! it has fetched the model. The window is the same `RestoreApp` as on the desktop, drawn
//! by eframe's web runner on WebGPU; what differs is set up here: the restoration opens a
//! WebGPU device of its own (a lost one is reopened for the next image without taking the
//! page's drawing down), files arrive as bytes (`files`), settings live in localStorage
//! (`crate::config`), and the page exposes a small read-only view of the app for its
//! browser test (`hook`).

pub mod files;
pub mod hook;

use crate::config::Config;
use crate::engine::Engine;
use crate::RestoreApp;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wgpu_restore::{Model, Runtime, RuntimeOptions};

/// Dispatches per submission: the worker task awaits each piece, so the page keeps drawing
/// and answering input while a forward runs (see `Runtime::set_submit_chunk`).
const SUBMIT_CHUNK: usize = 8;

thread_local! {
    /// The running app's runner, kept for as long as the page lives.
    static RUNNER: std::cell::RefCell<Option<eframe::WebRunner>> = const { std::cell::RefCell::new(None) };
}

/// Starts the app on `canvas`. `model` is the model file's bytes (`None` when the page could
/// not fetch it; `model_error` then says why), `model_name` how the page names it (its
/// URL). A model that cannot be read is shown in the app as on the desktop, not thrown.
#[wasm_bindgen]
pub async fn start(
    canvas: web_sys::HtmlCanvasElement,
    model: Option<Vec<u8>>,
    model_name: String,
    model_error: Option<String>,
) -> Result<(), JsValue> {
    show_panics_in_the_page();
    let runtime = Runtime::new_async(RuntimeOptions {
        quiet: true,
        ..Default::default()
    })
    .await
    .map(|rt| {
        rt.set_submit_chunk(SUBMIT_CHUNK);
        Arc::new(rt)
    })
    .map_err(|e| e.to_string());
    let model = match (model, model_error) {
        (Some(bytes), _) => Model::from_bytes(&bytes)
            .map(Arc::new)
            .map_err(|e| format!("{model_name}: {e}")),
        (None, Some(e)) => Err(format!("{model_name}: {e}")),
        (None, None) => Err(format!("{model_name}: no model file was given")),
    };
    let engine = Engine {
        runtime,
        model,
        model_name,
        shared_device: false,
    };
    let runner = eframe::WebRunner::new();
    runner
        .start(
            canvas,
            eframe::WebOptions::default(),
            Box::new(move |cc| {
                let app = RestoreApp::new(
                    engine,
                    Box::new(files::WebDialogs::new(cc.egui_ctx.clone())),
                    Config::default_path(),
                );
                hook::attach(&cc.egui_ctx);
                Ok(Box::new(WebApp { app }))
            }),
        )
        .await?;
    RUNNER.with(|r| *r.borrow_mut() = Some(runner));
    Ok(())
}

/// The desktop app as the page runs it, plus the test hook's requests and view.
struct WebApp {
    app: RestoreApp,
}

impl eframe::App for WebApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        hook::apply_requests(&mut self.app);
        self.app.show(ui);
        hook::publish(&self.app);
    }
}

/// A future that completes after `ms` milliseconds, from the page's timer (the page's one
/// thread must not sleep).
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A panic stops a wasm program for good (there is no unwinding): say so in the page's
/// message line rather than leaving a frozen canvas. eframe's own hook, installed after
/// this one, still logs the panic to the console.
fn show_panics_in_the_page() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let what = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        show_message(&format!(
            "The app stopped on an internal error ({}); reload the page to go on.",
            wgpu_restore::error::one_line(&what)
        ));
        previous(info);
    }));
}

/// Writes `text` into the page's message line (`#message` in index.html) and shows it.
pub fn show_message(text: &str) {
    let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("message"))
    else {
        return;
    };
    el.set_text_content(Some(text));
    let _ = el.remove_attribute("hidden");
}
