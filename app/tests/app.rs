//! The app end to end with egui_kittest on the wgpu renderer: drop an image, restore it with
//! the tiny model (on the same device the harness renders with), see the probabilities,
//! override one, restore again, save; plus the failure paths. Snapshots in
//! `tests/snapshots/` (write them with `UPDATE_SNAPSHOTS=1`).

use egui::Vec2;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgpu_restore::image_io::{self, Format, Image, Metadata};
use wgpu_restore::{Model, Runtime, RuntimeOptions, Shape, Tensor};
use wgpu_restore_app::dialogs::{FixedDialogs, MemoryFile};
use wgpu_restore_app::engine::{open_headless_device, Engine};
use wgpu_restore_app::{RestoreApp, Status};

fn tiny_model() -> Arc<Model> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny.safetensors");
    Arc::new(Model::load(p).expect("tiny model"))
}

/// A deterministic test picture: gradients, a checkerboard and a noisy band.
fn test_image(w: usize, h: usize) -> Tensor {
    let mut data = vec![0.0f32; 3 * w * h];
    let mut seed = 12345u32;
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = ((seed >> 16) & 0xff) as f32 / 255.0 - 0.5;
            let check = if ((x / 8) + (y / 8)) % 2 == 0 {
                0.2
            } else {
                0.0
            };
            let band = if y > h / 2 { 0.3 * n } else { 0.0 };
            data[i] = (x as f32 / w as f32 * 0.8 + check + band).clamp(0.0, 1.0);
            data[w * h + i] = (y as f32 / h as f32 * 0.8 + band).clamp(0.0, 1.0);
            data[2 * w * h + i] = (0.5 + check - band).clamp(0.0, 1.0);
        }
    }
    Tensor::new(Shape::new(3, h, w), data)
}

/// Writes a PNG with an ICC profile, so that saving can be checked to keep it.
fn write_png(path: &Path, t: &Tensor, icc: Option<Vec<u8>>) {
    let mut img = Image::from_rgb(t.clone());
    img.meta = Metadata {
        icc,
        exif: None,
        orientation: 1,
    };
    let bytes = image_io::encode_image(t, &img, Format::Png, &Default::default()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

struct Setup<'a> {
    harness: Harness<'a, RestoreApp>,
    dir: tempfile::TempDir,
}

/// The headless device, and an engine that restores on it with the tiny model (or, when
/// `engine_ok` is false, holds the error the app shows without a device).
fn test_engine(engine_ok: bool) -> (Engine, eframe::egui_wgpu::WgpuSetupExisting) {
    test_engine_with(engine_ok, tiny_model(), "tiny (test fixture)")
}

/// As [`test_engine`], with another model.
fn test_engine_with(
    engine_ok: bool,
    model: Arc<Model>,
    model_name: &str,
) -> (Engine, eframe::egui_wgpu::WgpuSetupExisting) {
    std::env::set_var("XDG_RUNTIME_DIR", "/tmp/xdg");
    let _ = std::fs::create_dir_all("/tmp/xdg");
    let (instance, adapter, device, queue) = open_headless_device().expect("a device");
    let runtime = if engine_ok {
        Runtime::from_device(&adapter, device.clone(), queue.clone())
            .map(|rt| {
                // As the app does on a software adapter; the snapshots show that the
                // results are the same as with one submission per forward.
                rt.set_submit_chunk(8);
                Arc::new(rt)
            })
            .map_err(|e| e.to_string())
    } else {
        Err("no adapter for backend Vulkan (test)".to_string())
    };
    let engine = Engine {
        runtime,
        model: Ok(model),
        model_name: model_name.into(),
        shared_device: true,
    };
    let gpu = eframe::egui_wgpu::WgpuSetupExisting {
        instance,
        adapter,
        device,
        queue,
    };
    (engine, gpu)
}

/// The app on one device shared by the harness's renderer and the runtime.
fn setup(engine_ok: bool) -> Setup<'static> {
    let (engine, gpu) = test_engine(engine_ok);
    setup_with(engine, gpu)
}

fn setup_with(engine: Engine, gpu: eframe::egui_wgpu::WgpuSetupExisting) -> Setup<'static> {
    let dir = tempfile::tempdir().unwrap();
    let dialogs = FixedDialogs {
        save: Some(dir.path().join("out/restored.jpg")),
        ..Default::default()
    };
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    let app = RestoreApp::new(
        engine,
        Box::new(dialogs),
        Some(dir.path().join("config/app.json")),
    );
    let harness = Harness::builder()
        .with_size(Vec2::new(1000.0, 640.0))
        .wgpu_setup(eframe::egui_wgpu::WgpuSetup::Existing(gpu))
        .build_ui_state(|ui, app: &mut RestoreApp| app.show(ui), app);
    Setup { harness, dir }
}

/// Steps the harness until `done` holds (the worker runs on its own thread).
fn wait_for(h: &mut Harness<'_, RestoreApp>, what: &str, done: impl Fn(&RestoreApp) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "timed out waiting for {what}; errors: {:?}",
            h.state().errors()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(3);
}

/// A file dropped on the window.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Masks the measured times (they change from run to run) out of snapshots.
fn mask_timings(h: &mut Harness<'_, RestoreApp>) {
    let rects: Vec<egui::Rect> = ["Restored in", "done in"]
        .iter()
        .flat_map(|t| {
            h.get_all_by_label_contains(t)
                .map(|n| n.rect())
                .collect::<Vec<_>>()
        })
        .collect();
    for r in rects {
        h.mask(r);
    }
}

fn drop_file(h: &mut Harness<'_, RestoreApp>, path: PathBuf) {
    h.input_mut().dropped_files.push(Arc::new(Dropped(path)));
    h.step();
}

#[test]
fn load_restore_override_save() {
    let Setup { mut harness, dir } = setup(true);
    let input = dir.path().join("photo.png");
    let icc = b"test icc profile bytes".to_vec();
    write_png(&input, &test_image(96, 64), Some(icc.clone()));

    // Load by drag and drop; it is classified and restored on the worker.
    drop_file(&mut harness, input.clone());
    assert_eq!(harness.state().items().len(), 1);
    wait_for(&mut harness, "the first restoration", |a| {
        a.items()[0].status == Status::Done
    });
    let item = &harness.state().items()[0];
    let auto = item.auto_probs.clone().expect("probabilities");
    assert_eq!(auto.len(), 3);
    assert_eq!(item.used_probs.as_ref(), Some(&auto));
    assert_eq!(item.restored.as_ref().unwrap().shape, Shape::new(3, 64, 96));

    // The probabilities are shown as labelled bars, with the device.
    for (name, p) in ["noise", "rain", "haze"].iter().zip(&auto) {
        harness.get_by_label(name);
        harness.get_by_label_contains(&format!("{name} {p:.2}"));
    }
    harness.get_by_label_contains("Restored in");
    harness.get_by_label("Backend");
    mask_timings(&mut harness);
    harness.snapshot("restored_split");

    // Side by side, same view.
    harness.get_by_label("Side by side").click();
    harness.run_steps(2);
    mask_timings(&mut harness);
    harness.snapshot("restored_side_by_side");
    harness.get_by_label("Split").click();
    harness.run_steps(2);

    // Manual: set haze to 1 with its slider, restore again.
    harness.get_by_label("Manual").click();
    harness.run_steps(2);
    assert!(harness.state().items()[0].manual_mode);
    let sliders = harness
        .get_all_by_role(egui::accesskit::Role::Slider)
        .collect::<Vec<_>>();
    assert_eq!(sliders.len(), 3, "one slider per degradation");
    sliders[2].set_value_accesskit(1.0);
    harness.run_steps(2);
    let manual = harness.state().items()[0].manual.clone();
    assert_eq!(manual[2], 1.0);
    // The other sliders start at the automatic values (shown to 2 decimals).
    for k in 0..2 {
        assert!(
            (manual[k] - auto[k]).abs() <= 0.005,
            "{manual:?} vs {auto:?}"
        );
    }
    harness.get_by_label("Restore again").click();
    harness.step();
    wait_for(&mut harness, "the second restoration", |a| {
        a.items()[0].status == Status::Done
            && a.items()[0].used_probs.as_ref().map(|p| p[2]) == Some(1.0)
    });
    let item = &harness.state().items()[0];
    assert_eq!(item.used_probs.as_ref(), Some(&manual));
    assert_eq!(
        item.auto_probs.as_ref(),
        Some(&auto),
        "the classifier's values stay"
    );
    mask_timings(&mut harness);
    harness.snapshot("manual_override");

    // Save (the dialog answers out/restored.jpg): JPEG with the ICC profile kept.
    harness.get_by_label("Save as…").click();
    harness.run_steps(2);
    let out = dir.path().join("out/restored.jpg");
    let saved = image_io::read_image(&out).expect("the saved file decodes");
    assert_eq!(saved.format, Format::Jpeg);
    assert_eq!((saved.width(), saved.height()), (96, 64));
    assert_eq!(saved.meta.icc.as_deref(), Some(&icc[..]));
    assert!(
        harness.state().errors().is_empty(),
        "{:?}",
        harness.state().errors()
    );
    // The last folder is remembered in the settings file.
    let cfg = std::fs::read_to_string(dir.path().join("config/app.json")).unwrap();
    assert!(cfg.contains("out"), "{cfg}");
    assert_eq!(
        harness.state().config().last_folder.as_deref(),
        Some(dir.path().join("out").as_path())
    );

    // PNG and TIFF through the same path.
    for name in ["r.png", "r.tif"] {
        let p = dir.path().join(name);
        harness.state_mut().save_selected_to(&p).unwrap();
        let img = image_io::read_image(&p).unwrap();
        assert_eq!((img.width(), img.height()), (96, 64));
    }
    // An unknown extension is an error message, not a panic.
    let e = harness
        .state_mut()
        .save_selected_to(&dir.path().join("r.bmp"))
        .unwrap_err();
    assert!(e.contains("unknown extension"), "{e}");
    // Saving over the opened photo itself is refused, and the photo stays as it was.
    let before = std::fs::read(&input).unwrap();
    let e = harness.state_mut().save_selected_to(&input).unwrap_err();
    assert!(e.contains("is an original"), "{e}");
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

/// The "Self-ensemble" checkbox: remembered in the settings file, used by "Restore again"
/// and by images opened afterwards, and its result is the library's `ensemble::restore`.
#[test]
fn self_ensemble_checkbox() {
    let Setup { mut harness, dir } = setup(true);
    let input = dir.path().join("photo.png");
    write_png(&input, &test_image(48, 40), None);
    drop_file(&mut harness, input.clone());
    wait_for(&mut harness, "the first restoration", |a| {
        a.items()[0].status == Status::Done
    });
    assert_eq!(harness.state().items()[0].passes, 1);
    let single = harness.state().items()[0].restored.clone().unwrap();

    harness.get_by_label("Self-ensemble").click();
    harness.run_steps(2);
    assert!(harness.state().config().self_ensemble);
    let cfg = std::fs::read_to_string(dir.path().join("config/app.json")).unwrap();
    assert!(cfg.contains("\"self_ensemble\": true"), "{cfg}");
    harness.get_by_label("Restore again").click();
    harness.step();
    wait_for(&mut harness, "the ensemble restoration", |a| {
        a.items()[0].status == Status::Done && a.items()[0].passes > 1
    });
    let passes = harness.state().items()[0].passes;
    harness.get_by_label_contains(&format!("self-ensemble of {passes}"));
    let item = &harness.state().items()[0];
    let ens = item.restored.clone().unwrap();
    let probs = item.used_probs.clone().unwrap();
    let image = item.source.as_ref().unwrap().rgb.clone();
    assert!(
        ens.max_abs_diff(&single) > 1e-3,
        "the ensemble changed nothing"
    );

    let rt = Runtime::new(wgpu_restore::RuntimeOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let opts = wgpu_restore::tiling::TileOptions::for_runtime(&rt);
    let (lib, report) = wgpu_restore::ensemble::restore(
        &rt,
        &tiny_model(),
        &image,
        &probs,
        &opts,
        true,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(report.passes, passes);
    let d = ens.max_abs_diff(&lib);
    assert!(
        d <= 1e-5,
        "the app's ensemble differs from the library's by {d}"
    );

    // An image opened now is restored with the ensemble too.
    let second = dir.path().join("second.png");
    write_png(&second, &test_image(32, 24), None);
    drop_file(&mut harness, second);
    wait_for(&mut harness, "the second image", |a| {
        a.items()[1].status == Status::Done
    });
    assert!(harness.state().items()[1].passes > 1);
}

#[test]
fn failures_are_shown_in_the_window() {
    let Setup { mut harness, dir } = setup(true);
    let bad = dir.path().join("broken.png");
    std::fs::write(&bad, b"this is not a png").unwrap();
    drop_file(&mut harness, bad);
    drop_file(&mut harness, dir.path().join("missing.jpg"));
    wait_for(&mut harness, "both failures", |a| {
        a.items()
            .iter()
            .all(|i| matches!(i.status, Status::Failed(_)))
    });
    assert!(harness.get_all_by_label_contains("broken.png").count() >= 1);
    harness.get_by_label_contains("missing.jpg: cannot open");
    assert_eq!(harness.state().errors().len(), 2);
    harness.snapshot("failures");
}

#[test]
fn no_device_is_shown_not_a_panic() {
    let Setup { mut harness, dir } = setup(false);
    let input = dir.path().join("small.png");
    write_png(&input, &test_image(40, 30), None);
    drop_file(&mut harness, input);
    wait_for(&mut harness, "the failure", |a| {
        matches!(a.items()[0].status, Status::Failed(_))
    });
    // The image is still shown; the reason is in the window.
    assert!(harness.state().items()[0].source.is_some());
    harness.get_by_label_contains("Unavailable: no adapter");
    assert!(
        harness
            .get_all_by_label_contains("restoration unavailable")
            .count()
            >= 1
    );
}

#[test]
fn queue_and_cancel() {
    let Setup { mut harness, dir } = setup(true);
    let mut paths = Vec::new();
    for i in 0..3 {
        let p = dir.path().join(format!("q{i}.png"));
        write_png(&p, &test_image(48 + 8 * i, 40), None);
        paths.push(p);
    }
    harness.state_mut().open_paths(paths);
    // Cancel everything that has not finished yet.
    harness.state_mut().cancel_all();
    wait_for(&mut harness, "the queue to settle", |a| {
        a.items().iter().all(|i| !i.status.busy())
    });
    let statuses: Vec<Status> = harness
        .state()
        .items()
        .iter()
        .map(|i| i.status.clone())
        .collect();
    assert!(statuses.contains(&Status::Cancelled), "{statuses:?}");
    // A cancelled item can be restored again.
    let sel = harness.state().selected().unwrap().id;
    let first = harness
        .state()
        .items()
        .iter()
        .position(|i| i.id == sel)
        .unwrap();
    if harness.state().items()[first].source.is_some() {
        assert!(harness.state_mut().restore_again());
        wait_for(&mut harness, "the restoration", |a| {
            a.items()[first].status == Status::Done
        });
    }
}

/// Closing the app stops its worker: the worker's share of the model is released by the
/// time the app is dropped, though images were still queued. (A worker left running while
/// the process exits can crash in the driver's teardown.)
#[test]
fn dropping_the_app_stops_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _gpu) = test_engine(true);
    let model = engine.model.clone().expect("the tiny model");
    let dialogs = FixedDialogs::default();
    let mut app = RestoreApp::new(engine, Box::new(dialogs), None);
    let paths: Vec<PathBuf> = (0..4)
        .map(|i| {
            let p = dir.path().join(format!("d{i}.png"));
            write_png(&p, &test_image(160, 120), None);
            p
        })
        .collect();
    app.open_paths(paths);
    assert!(app.busy());
    drop(app);
    assert_eq!(
        Arc::strong_count(&model),
        1,
        "the worker still holds the model after the app was dropped"
    );
}

#[test]
fn tiled_restore_matches_the_cli_tiling_and_cancels() {
    use std::sync::atomic::AtomicBool;
    use wgpu_restore::ensemble::restore_cancellable; // what the app's worker runs
    use wgpu_restore::tiling::{restore_tiled, TileOptions};
    let rt = Runtime::new(wgpu_restore::RuntimeOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let model = tiny_model();
    let img = test_image(96, 64);
    let probs = [0.2f32, 0.5, 0.9];
    let mut opts = TileOptions::for_runtime(&rt);
    opts.tile = Some(32);
    opts.overlap = 8;
    let (cli, report) = restore_tiled(&rt, &model, &img, &probs, &opts, &mut |_, _| {}).unwrap();
    let mut seen = Vec::new();
    let never = AtomicBool::new(false);
    let (app, app_report) = restore_cancellable(
        &rt,
        &model,
        &img,
        &probs,
        &opts,
        false,
        &never,
        &mut |d, t| seen.push((d, t)),
    )
    .unwrap()
    .expect("not cancelled");
    let (tile, n, passes) = (app_report.tile, app_report.tiles, app_report.passes);
    assert_eq!((tile, passes), (Some(32), 1));
    assert_eq!(n, report.tiles);
    assert!(n > 1);
    assert_eq!(seen.last(), Some(&(n, n)));
    assert_eq!(app.shape, cli.shape);
    assert!(app.max_abs_diff(&cli) == 0.0, "same tiles, same blending");
    // A forward split over several submissions gives the same result.
    let whole = rt.restore(&model, &img, &probs).unwrap();
    rt.set_submit_chunk(5);
    let chunked = rt.restore(&model, &img, &probs).unwrap();
    rt.set_submit_chunk(0);
    assert_eq!(whole.data, chunked.data);
    // Cancelled after the first tile: no result.
    let cancel = AtomicBool::new(false);
    let r = restore_cancellable(
        &rt,
        &model,
        &img,
        &probs,
        &opts,
        false,
        &cancel,
        &mut |d, _| {
            if d == 1 {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
    )
    .unwrap();
    assert!(r.is_none());
}

#[test]
fn split_pan_zoom_fit_and_one_to_one() {
    use egui::{Pos2, Vec2};
    let Setup { mut harness, dir } = setup(true);
    let input = dir.path().join("view.png");
    write_png(&input, &test_image(96, 64), None);
    drop_file(&mut harness, input);
    wait_for(&mut harness, "the restoration", |a| {
        a.items()[0].status == Status::Done
    });
    let rect = harness.state().view().last_rect.expect("the view is drawn");
    assert!(harness.state().view().fit);
    let fit_zoom = harness.state().view().zoom;
    let cy = rect.center().y;

    // Drag the split line 100 points to the left.
    let x = rect.left() + 0.5 * rect.width();
    harness.hover_at(Pos2::new(x, cy));
    harness.step();
    harness.drag_at(Pos2::new(x, cy));
    harness.step();
    for dx in [10.0, 50.0, 100.0] {
        harness.hover_at(Pos2::new(x - dx, cy));
        harness.step();
    }
    harness.drop_at(Pos2::new(x - 100.0, cy));
    harness.run_steps(2);
    let split = harness.state().view().split;
    let want = (x - 100.0 - rect.left()) / rect.width();
    assert!((split - want).abs() < 0.01, "split {split}, want {want}");
    assert!(
        harness.state().view().fit,
        "dragging the split line does not pan"
    );

    // Drag elsewhere pans both images.
    let c0 = harness.state().view().center;
    let p = Pos2::new(rect.right() - 80.0, cy);
    harness.hover_at(p);
    harness.step();
    harness.drag_at(p);
    harness.step();
    for d in [5.0, 15.0, 30.0] {
        harness.hover_at(p + Vec2::new(d, d / 2.0));
        harness.step();
    }
    harness.drop_at(p + Vec2::new(30.0, 15.0));
    harness.run_steps(2);
    let v = harness.state().view();
    assert!(!v.fit);
    let moved = (c0 - v.center) * v.zoom;
    assert!(
        (moved - Vec2::new(30.0, 15.0)).length() < 6.0,
        "panned by {moved:?}"
    );

    // The wheel zooms in about the pointer.
    let at = Pos2::new(rect.left() + 120.0, cy - 40.0);
    harness.hover_at(at);
    harness.step();
    let before = harness.state().view().clone();
    let under = before.center + (at - rect.center()) / before.zoom;
    harness.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: Vec2::new(0.0, 120.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run_steps(20);
    let after = harness.state().view().clone();
    assert!(
        after.zoom > before.zoom * 1.1,
        "{} -> {}",
        before.zoom,
        after.zoom
    );
    let still = after.center + (at - rect.center()) / after.zoom;
    assert!((under - still).length() < 0.5, "{under:?} vs {still:?}");

    // Fit and 1:1.
    harness.remove_cursor();
    harness.get_by_label("1:1").click();
    harness.run_steps(3);
    let ppp = harness.ctx.pixels_per_point();
    assert!((harness.state().view().zoom - 1.0 / ppp).abs() < 1e-6);
    harness.get_by_label("Fit").click();
    harness.run_steps(3);
    assert!(harness.state().view().fit);
    assert!((harness.state().view().zoom - fit_zoom).abs() < 1e-4);
}

#[test]
fn a_model_without_a_prompt_net_shows_what_it_restores() {
    // A tiny imported Restormer (tests/fixtures/import): no degradations, restore(image).
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/import/restormer_with_bias.safetensors");
    let model = Arc::new(Model::load(p).expect("imported model"));
    let (engine, gpu) = test_engine_with(true, model, "restormer (test fixture)");
    let Setup { mut harness, dir } = setup_with(engine, gpu);
    harness.get_by_label("This model restores deraining. Open an image.");
    let input = dir.path().join("photo.png");
    write_png(&input, &test_image(40, 24), None);
    drop_file(&mut harness, input);
    wait_for(&mut harness, "the restoration", |a| {
        a.items()[0].status == Status::Done
    });
    let item = &harness.state().items()[0];
    assert_eq!(item.restored.as_ref().unwrap().shape, Shape::new(3, 24, 40));
    assert_eq!(item.used_probs.as_deref(), Some(&[][..]));
    harness.get_by_label("This model restores deraining; it detects no degradations.");
    harness.get_by_label("restormer: deraining");
    // No probability panel: neither the mode switch nor sliders nor bars.
    assert!(harness.query_by_label("Manual").is_none());
    assert!(harness.query_by_label("Automatic").is_none());
    assert_eq!(
        harness
            .query_all_by_role(egui::accesskit::Role::Slider)
            .count(),
        0
    );
    harness.get_by_label_contains("Restored in");
    assert!(
        harness.state().errors().is_empty(),
        "{:?}",
        harness.state().errors()
    );
}

/// Files handed over as bytes (a browser's file picker delivers them so, a few frames after
/// Open…; a page never sees paths) are queued under their names, decoded from memory and
/// restored; a corrupt one fails alone, in one line.
#[test]
fn files_delivered_as_bytes_are_restored() {
    let (engine, gpu) = test_engine(true);
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("source.png");
    write_png(&png, &test_image(80, 48), None);
    let dialogs = FixedDialogs {
        delivered: vec![
            MemoryFile::handle("picked.png", std::fs::read(&png).unwrap()),
            MemoryFile::handle("broken.png", b"\x89PNG\r\n\x1a\nnot an image".to_vec()),
        ],
        ..Default::default()
    };
    let app = RestoreApp::new(engine, Box::new(dialogs), None);
    let mut harness = Harness::builder()
        .with_size(Vec2::new(1000.0, 640.0))
        .wgpu_setup(eframe::egui_wgpu::WgpuSetup::Existing(gpu))
        .build_ui_state(|ui, app: &mut RestoreApp| app.show(ui), app);
    harness.step();
    let names: Vec<&str> = harness
        .state()
        .items()
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["picked.png", "broken.png"]);
    wait_for(&mut harness, "both files", |a| {
        a.items().iter().all(|i| !i.status.busy())
    });
    let items = harness.state().items();
    assert_eq!(
        items[0].status,
        Status::Done,
        "{:?}",
        harness.state().errors()
    );
    assert_eq!(
        items[0].restored.as_ref().unwrap().shape,
        Shape::new(3, 48, 80)
    );
    assert!(matches!(&items[1].status, Status::Failed(e) if e.starts_with("cannot open: ")));
    let line = harness.state().errors().last().unwrap();
    assert!(line.starts_with("broken.png: cannot open: "), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

/// A restoration device of its own that gets lost (a driver reset; in a browser, the page's
/// GPU reclaimed) fails in one line, and is reopened for the next image, keeping its
/// submission chunk.
#[test]
fn a_lost_device_is_reopened_for_the_next_image() {
    let rt = Runtime::new(RuntimeOptions {
        quiet: true,
        ..Default::default()
    })
    .expect("a device");
    rt.set_submit_chunk(4);
    let model = tiny_model();
    let mut engine = Engine {
        runtime: Ok(Arc::new(rt)),
        model: Ok(model.clone()),
        model_name: "tiny (test fixture)".into(),
        shared_device: false,
    };
    let image = test_image(40, 24);
    let probs = [0.2, 0.5, 0.1];
    let old = engine.runtime.clone().unwrap();
    let before = old.restore(&model, &image, &probs).expect("a restoration");
    old.gpu().device.destroy();
    let e = old.restore(&model, &image, &probs).unwrap_err().to_string();
    assert!(e.contains("was lost"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    assert!(old.gpu().lost().is_some());

    pollster::block_on(engine.reopen_lost_device());
    let new = engine.runtime.clone().expect("a new device");
    assert!(!Arc::ptr_eq(&old, &new), "the lost runtime was kept");
    assert_eq!(new.gpu().lost(), None);
    assert_eq!(new.submit_chunk(), 4);
    let after = new.restore(&model, &image, &probs).expect("a restoration");
    assert_eq!(after, before, "the same result on the new device");

    // A device shared with the window is the window's: left alone.
    engine.shared_device = true;
    new.gpu().device.destroy();
    let _ = new.restore(&model, &image, &probs);
    pollster::block_on(engine.reopen_lost_device());
    assert!(Arc::ptr_eq(&new, engine.runtime.as_ref().unwrap()));
}

/// The worker refuses a restoration that is not finite (a model whose finite weights
/// overflow f32: the tiny model's embedding times 1e38) with the reason, instead of
/// showing and offering to save a black image.
#[test]
fn a_non_finite_restoration_fails_the_item() {
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc::channel;
    use wgpu_restore::model::{read_safetensors, write_safetensors};
    use wgpu_restore_app::engine::{spawn, Event, Job};
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny.safetensors");
    let mut f = read_safetensors(&std::fs::read(p).unwrap()).unwrap();
    let w = f.tensors.get_mut("restorer.embed.weight").unwrap();
    w.data.iter_mut().for_each(|v| *v *= 1e38);
    let model = Arc::new(Model::from_bytes(&write_safetensors(&f).unwrap()).unwrap());
    let (engine, _gpu) = test_engine_with(true, model, "overflowing");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.png");
    write_png(&path, &test_image(48, 32), None);
    let (jobs, job_rx) = channel();
    let (event_tx, events) = channel();
    let worker = spawn(engine, job_rx, event_tx, || {});
    jobs.send(Job {
        item: 1,
        path,
        file: None,
        source: None,
        probs: Some(vec![0.5; 3]),
        ensemble: false,
        cancel: Arc::new(AtomicBool::new(false)),
    })
    .unwrap();
    drop(jobs);
    worker.join().unwrap();
    let mut failed = None;
    for e in events.try_iter() {
        match e {
            Event::Failed(1, msg) => failed = Some(msg),
            Event::Restored(_) => panic!("a non-finite restoration was shown as restored"),
            _ => {}
        }
    }
    let msg = failed.expect("the item failed");
    assert!(msg.contains("NaN or infinite"), "{msg}");
}
