//! `wgpu-restore-app [--model FILE] [--separate-device] [IMAGES...]`: the desktop app.

use eframe::egui_wgpu;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wgpu_restore::{Model, Runtime, RuntimeOptions};
use wgpu_restore_app::config::Config;
use wgpu_restore_app::dialogs::NativeDialogs;
use wgpu_restore_app::engine::{adapter_rank, shared_device_descriptor, Engine};
use wgpu_restore_app::RestoreApp;

/// The shipped default model.
static EMBEDDED_MODEL: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../assets/models/allinone-small.safetensors"
));

/// Dispatches per submission on a shared software device (see `Runtime::set_submit_chunk`).
const SOFTWARE_SUBMIT_CHUNK: usize = 8;

const USAGE: &str = "\
usage: wgpu-restore-app [--model FILE] [--separate-device] [--log-timings] [IMAGES...]

Opens the desktop app; IMAGES are queued for restoration at start.
  --model FILE        use this model file instead of the embedded allinone-small model
  --separate-device   restore on a device of its own instead of the window's device
  --log-timings       print one line per finished restoration to stderr
Environment: WGPU_BACKEND (vulkan, metal, dx12, gl), WGPU_RESTORE_APP_CONFIG (settings file),
  WGPU_RESTORE_SUBMIT_CHUNK (dispatches per GPU submission on the shared device; 0: whole
  forwards; default 8 on software adapters, 0 on GPUs)";

fn main() -> ExitCode {
    // First, while this is the only thread: no false alarm from Mesa's Vulkan layer on a
    // headless machine (no Wayland or X display to ask).
    wgpu_restore::skip_device_select_layer_without_wayland();
    let mut model_path: Option<PathBuf> = None;
    let mut separate = false;
    let mut log_timings = false;
    let mut files = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Some("--version") => {
                println!("wgpu-restore-app {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            Some("--model") => match args.next() {
                Some(p) => model_path = Some(p.into()),
                None => {
                    eprintln!("error: --model needs a file\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            Some("--separate-device") => separate = true,
            Some("--log-timings") => log_timings = true,
            Some(s) if s.starts_with("--") => {
                eprintln!("error: unknown option {s}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => files.push(PathBuf::from(a)),
        }
    }
    // A bad model file is shown in the window, not fatal.
    let (model, model_name) = match &model_path {
        Some(p) => (
            Model::load(p)
                .map(Arc::new)
                .map_err(|e| format!("{}: {e}", p.display())),
            p.display().to_string(),
        ),
        None => (
            Model::from_bytes(EMBEDDED_MODEL)
                .map(Arc::new)
                .map_err(|e| format!("embedded model: {e}")),
            "allinone-small (embedded)".to_string(),
        ),
    };

    let mut setup = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    setup.native_adapter_selector = Some(Arc::new(|adapters, surface| {
        adapters
            .iter()
            .filter(|a| surface.is_none_or(|s| a.is_surface_supported(s)))
            .min_by_key(|a| adapter_rank(a))
            .cloned()
            .ok_or_else(|| "no adapter can draw to this window".to_string())
    }));
    // egui-wgpu's default descriptor asks for WebGPU default limits, too small for compute.
    setup.device_descriptor = Arc::new(shared_device_descriptor);
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("wgpu-restore")
            .with_app_id("wgpu-restore")
            .with_inner_size([1280.0, 800.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(setup),
            ..Default::default()
        },
        ..Default::default()
    };
    let result = eframe::run_native(
        "wgpu-restore",
        options,
        Box::new(move |cc| {
            let own = || {
                Runtime::new(RuntimeOptions {
                    quiet: true,
                    ..Default::default()
                })
                .map(Arc::new)
                .map_err(|e| e.to_string())
            };
            let (runtime, shared) = match (&cc.wgpu_render_state, separate) {
                (Some(rs), false) => {
                    match Runtime::from_device(&rs.adapter, rs.device.clone(), rs.queue.clone()) {
                        Ok(rt) => {
                            // A forward on a software adapter takes seconds to minutes: submit
                            // it in pieces so that the window's frames, queued on the same
                            // device, are drawn in between.
                            let chunk = std::env::var("WGPU_RESTORE_SUBMIT_CHUNK")
                                .ok()
                                .and_then(|v| v.parse().ok());
                            match chunk {
                                Some(n) => rt.set_submit_chunk(n),
                                None if rt.gpu().adapter.software => {
                                    rt.set_submit_chunk(SOFTWARE_SUBMIT_CHUNK)
                                }
                                None => {}
                            }
                            (Ok(Arc::new(rt)), true)
                        }
                        // The window's adapter cannot compute (e.g. GL without compute): use
                        // another device for restoration.
                        Err(e) => match own() {
                            Ok(rt) => (Ok(rt), false),
                            Err(e2) => (Err(format!("{e}; {e2}")), false),
                        },
                    }
                }
                _ => (own(), false),
            };
            let engine = Engine {
                runtime,
                model,
                model_name,
                shared_device: shared,
            };
            let mut app = RestoreApp::new(engine, Box::new(NativeDialogs), Config::default_path());
            app.log_timings = log_timings;
            app.open_paths(files);
            Ok(Box::new(app))
        }),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("wgpu-restore cannot open its window: {e}");
            eprintln!("error: {msg}");
            // Still try to tell a user who started it from a desktop.
            let _ = rfd::MessageDialog::new()
                .set_level(rfd::MessageLevel::Error)
                .set_title("wgpu-restore")
                .set_description(msg)
                .show();
            ExitCode::FAILURE
        }
    }
}
