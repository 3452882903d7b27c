//! The `wgpu-restore` binary, end to end on the tiny model (lavapipe in CI): folder runs and
//! output policies, formats, metadata and alpha, --probs, tiling, eval/classify/bench/info,
//! and every error case (one-line `error: <file>: <problem>` and a non-zero exit).

use image::{GenericImageView, ImageEncoder};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::cli::{bin, run, s, stderr, tiny};

/// A deterministic textured 8-bit RGB image.
fn pixels(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let t = (x * 7 + y * 5 + c * 40 + seed * 13) % 256;
                let n = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ (c + seed)) % 40;
                v.push(((t + n) % 256) as u8);
            }
        }
    }
    v
}

fn write_png(p: &Path, w: u32, h: u32, seed: u32) {
    image::save_buffer(p, &pixels(w, h, seed), w, h, image::ExtendedColorType::Rgb8).unwrap();
}

fn exif_with_orientation(o: u16) -> Vec<u8> {
    let mut v = b"MM\0\x2a\0\0\0\x08".to_vec();
    v.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    v.extend_from_slice(&o.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    v
}

fn icc() -> Vec<u8> {
    (0..200u32).map(|i| (i * 11 % 256) as u8).collect()
}

fn max_diff_u8(a: &image::DynamicImage, b: &image::DynamicImage) -> u8 {
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn folder_run_with_a_corrupt_file_and_output_policies() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    write_png(&input.join("a.png"), 32, 24, 1);
    image::save_buffer(
        input.join("b.jpg"),
        &pixels(24, 32, 2),
        24,
        32,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    write_png(&input.join("sub/c.png"), 24, 24, 3);
    std::fs::write(
        input.join("bad.png"),
        b"\x89PNG\r\n\x1a\n garbage, not a png",
    )
    .unwrap();
    std::fs::write(input.join("notes.txt"), b"not an image").unwrap();
    let out = t.path().join("out");
    let model = tiny();

    let o = run(&["restore", s(&input), "-o", s(&out), "--model", s(&model)]);
    assert_eq!(o.status.code(), Some(1), "a failed file makes the run fail");
    let err = stderr(&o);
    let bad = input.join("bad.png");
    assert!(
        err.contains(&format!("error: {}: ", bad.display())),
        "{err}"
    );
    assert!(
        err.contains("failures:") && err.contains("restored 2 of 3"),
        "{err}"
    );
    assert_eq!(
        files_in(&out),
        vec!["a.png", "b.jpg"],
        "sub/ only with --recursive; no temp files"
    );
    let a = image::open(out.join("a.png")).unwrap();
    assert_eq!(a.dimensions(), (32, 24));
    assert_eq!(
        image::open(out.join("b.jpg")).unwrap().dimensions(),
        (24, 32)
    );
    let a_bytes = std::fs::read(out.join("a.png")).unwrap();

    // Default policy: an existing output is an error, and the file is left alone.
    let a_in = input.join("a.png");
    let o = run(&[
        "restore",
        s(&a_in),
        "-o",
        s(&out),
        "--model",
        s(&model),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("a.png")).unwrap(), a_bytes);
    // --skip-existing: nothing to do, success.
    let o = run(&[
        "restore",
        s(&a_in),
        s(&input.join("b.jpg")),
        "-o",
        s(&out),
        "--model",
        s(&model),
        "--skip-existing",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // --recursive keeps the folder structure; --overwrite replaces.
    let o = run(&[
        "restore",
        s(&input.join("sub")),
        "-o",
        s(&out.join("sub")),
        "--model",
        s(&model),
        "-q",
        "-r",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        o.stderr.is_empty(),
        "-q prints nothing on success: {}",
        stderr(&o)
    );
    assert!(out.join("sub/c.png").exists());
    let o = run(&[
        "restore",
        s(&input.join("sub")),
        "-o",
        s(&out.join("sub")),
        "--model",
        s(&model),
        "--overwrite",
    ]);
    assert_eq!(o.status.code(), Some(0));
    // Never overwrite an input, even with --overwrite.
    let o = run(&[
        "restore",
        s(&a_in),
        "-o",
        s(&a_in),
        "--model",
        s(&model),
        "--overwrite",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("would overwrite the input"),
        "{}",
        stderr(&o)
    );
    // Nor when the input that would be replaced was itself dropped (its output is itself):
    // other/a.png's output is in/a.png, an input too.
    let other = t.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    write_png(&other.join("a.png"), 16, 16, 9);
    let a_in_bytes = std::fs::read(&a_in).unwrap();
    let o = run(&[
        "restore",
        s(&a_in),
        s(&other.join("a.png")),
        "-o",
        s(&input),
        "--model",
        s(&model),
        "--overwrite",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("would overwrite an input"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(&a_in).unwrap(),
        a_in_bytes,
        "the input is untouched"
    );
}

#[test]
fn probs_override_and_tiling() {
    let t = tempfile::tempdir().unwrap();
    let x = t.path().join("x.png");
    write_png(&x, 64, 48, 5);
    let model = tiny();
    let m = s(&model);
    let o1 = t.path().join("noise.png");
    let o2 = t.path().join("haze.png");
    let o3 = t.path().join("tiled.png");
    assert!(run(&[
        "restore",
        s(&x),
        "-o",
        s(&o1),
        "--model",
        m,
        "--probs",
        "noise=1",
        "-q"
    ])
    .status
    .success());
    assert!(run(&[
        "restore",
        s(&x),
        "-o",
        s(&o2),
        "--model",
        m,
        "--probs",
        "noise=0,rain=0,haze=1",
        "-q"
    ])
    .status
    .success());
    let (i1, i2) = (image::open(&o1).unwrap(), image::open(&o2).unwrap());
    let d = max_diff_u8(&i1, &i2);
    assert!(d > 0, "--probs must change the result");
    // Tiled against whole image, same probabilities.
    let o = run(&[
        "restore",
        s(&x),
        "-o",
        s(&o3),
        "--model",
        m,
        "--probs",
        "noise=1",
        "--tile",
        "32",
        "--tile-overlap",
        "16",
    ]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("tiles of 32"), "{}", stderr(&o));
    // The tiny model's random weights and global ops (channel attention, pooled prompts)
    // make tiles differ from the whole image; tests/tiling.rs checks the stitching itself.
    let tiled = image::open(&o3).unwrap();
    assert_eq!(tiled.dimensions(), (64, 48));
    eprintln!(
        "tiled (32, overlap 16) vs whole, 64x48, tiny model: max diff {} / 255",
        max_diff_u8(&i1, &tiled)
    );
    // Bad --probs: clear error.
    let o = run(&[
        "restore",
        s(&x),
        "-o",
        s(&t.path().join("z.png")),
        "--model",
        m,
        "--probs",
        "fog=1",
    ]);
    assert_eq!(o.status.code(), Some(2), "a wrong --probs is a usage error");
    assert!(
        stderr(&o).starts_with("error: --probs: unknown degradation `fog`"),
        "{}",
        stderr(&o)
    );
}

/// `--ensemble` averages flips and rotations (a group of them, always with the mirror), so
/// mirroring the input mirrors the output (up to float summation order), which a single
/// pass of the tiny random model does not; tests/e2e.rs checks the values against the
/// PyTorch reference.
#[test]
fn ensemble_is_mirror_equivariant_and_tiles() {
    let t = tempfile::tempdir().unwrap();
    let x = t.path().join("x.png");
    write_png(&x, 40, 28, 3);
    let flipped = t.path().join("flipped.png");
    image::open(&x).unwrap().fliph().save(&flipped).unwrap();
    let model = tiny();
    let restore = |input: &Path, out: &str, extra: &[&str]| {
        let out = t.path().join(out);
        let mut args = vec!["restore", s(input), "-o", s(&out), "--model", s(&model)];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (image::open(&out).unwrap(), stderr(&o))
    };
    let noise = ["--probs", "noise=1"];
    let (single, _) = restore(&x, "single.png", &noise);
    let (single_f, _) = restore(&flipped, "single_f.png", &noise);
    let (ens, log) = restore(&x, "ens.png", &[&noise[..], &["--ensemble"]].concat());
    assert!(log.contains("self-ensemble of 8"), "{log}");
    let (ens_f, _) = restore(
        &flipped,
        "ens_f.png",
        &[&noise[..], &["--ensemble"]].concat(),
    );
    let single_gap = max_diff_u8(&single, &single_f.fliph());
    let ens_gap = max_diff_u8(&ens, &ens_f.fliph());
    eprintln!("mirror gap: single pass {single_gap}/255, self-ensemble {ens_gap}/255");
    assert!(
        ens_gap <= 1,
        "the ensemble is not mirror-equivariant: {ens_gap}"
    );
    assert!(
        single_gap > 1,
        "the test needs a model that is not equivariant"
    );
    assert!(max_diff_u8(&ens, &single) > 1, "--ensemble changed nothing");
    // Haze present: the 2 mirrors only; each pass tiled on its own.
    let hazy = ["--probs", "noise=1,haze=0.5", "--ensemble", "--tile", "24"];
    let (tiled, log) = restore(&x, "ens_tiled.png", &hazy);
    assert!(
        log.contains("tiles of 24") && log.contains("self-ensemble of 2"),
        "{log}"
    );
    assert_eq!(tiled.dimensions(), (40, 28));
}

#[test]
fn formats_bit_depth_metadata_and_alpha() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    // 16-bit PNG, stored 40 wide x 24 high, EXIF orientation 6 and an ICC profile.
    let (w, h) = (40u32, 24u32);
    let p16: Vec<u16> = pixels(w, h, 7)
        .iter()
        .map(|&v| v as u16 * 256 + v as u16 % 7)
        .collect();
    let mut bytes = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut bytes);
    enc.set_icc_profile(icc()).unwrap();
    enc.set_exif_metadata(exif_with_orientation(6)).unwrap();
    enc.write_image(
        bytemuck::cast_slice(&p16),
        w,
        h,
        image::ExtendedColorType::Rgb16,
    )
    .unwrap();
    std::fs::write(input.join("p16.png"), &bytes).unwrap();
    // 16-bit TIFF.
    let mut cur = std::io::Cursor::new(Vec::new());
    image::codecs::tiff::TiffEncoder::new(&mut cur)
        .write_image(
            bytemuck::cast_slice(&p16),
            w,
            h,
            image::ExtendedColorType::Rgb16,
        )
        .unwrap();
    std::fs::write(input.join("t16.tif"), cur.get_ref()).unwrap();
    // JPEG with ICC and EXIF.
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90);
    enc.set_icc_profile(icc()).unwrap();
    enc.set_exif_metadata(exif_with_orientation(1)).unwrap();
    enc.write_image(&pixels(32, 24, 8), 32, 24, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(input.join("j.jpg"), &bytes).unwrap();
    // RGBA PNG and RGBA WebP (lossless).
    let rgba: Vec<u8> = pixels(24, 32, 9)
        .chunks(3)
        .enumerate()
        .flat_map(|(i, p)| [p[0], p[1], p[2], (i * 29 % 256) as u8])
        .collect();
    image::save_buffer(
        input.join("a8.png"),
        &rgba,
        24,
        32,
        image::ExtendedColorType::Rgba8,
    )
    .unwrap();
    let mut bytes = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut bytes)
        .write_image(&rgba, 24, 32, image::ExtendedColorType::Rgba8)
        .unwrap();
    std::fs::write(input.join("w.webp"), &bytes).unwrap();

    let out = t.path().join("out");
    let o = run(&["restore", s(&input), "-o", s(&out), "--model", s(&tiny())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        files_in(&out),
        vec!["a8.png", "j.jpg", "p16.png", "t16.tif", "w.webp"]
    );

    use wgpu_restore::image_io::{read_image, Depth};
    let p = read_image(&out.join("p16.png")).unwrap();
    assert_eq!(p.depth, Depth::Sixteen);
    assert_eq!(p.meta.icc, Some(icc()));
    assert_eq!(p.meta.exif, Some(exif_with_orientation(6)));
    let raw = image::open(out.join("p16.png")).unwrap();
    assert_eq!(
        raw.dimensions(),
        (40, 24),
        "stored layout kept with its orientation tag"
    );
    assert_eq!(raw.color(), image::ColorType::Rgb16);
    // 16-bit output really uses 16 bits (not 8-bit values scaled by 257).
    assert!(raw
        .as_rgb16()
        .unwrap()
        .as_raw()
        .iter()
        .any(|v| v % 257 != 0));
    let t16 = image::open(out.join("t16.tif")).unwrap();
    assert_eq!(t16.color(), image::ColorType::Rgb16);
    assert_eq!(t16.dimensions(), (40, 24));
    let j = read_image(&out.join("j.jpg")).unwrap();
    assert_eq!(j.meta.icc, Some(icc()));
    assert_eq!(j.meta.exif, Some(exif_with_orientation(1)));
    for name in ["a8.png", "w.webp"] {
        let o = image::open(out.join(name)).unwrap().to_rgba8();
        let alpha_out: Vec<u8> = o.pixels().map(|p| p[3]).collect();
        let alpha_in: Vec<u8> = rgba.chunks(4).map(|p| p[3]).collect();
        assert_eq!(
            alpha_out, alpha_in,
            "{name}: alpha must pass through untouched"
        );
        let rgb_changed = o
            .pixels()
            .zip(rgba.chunks(4))
            .any(|(a, b)| a[0] != b[0] || a[1] != b[1]);
        assert!(rgb_changed, "{name}: the colour channels were restored");
    }
    // --format changes the container; an alpha image cannot become a JPEG.
    let o = run(&[
        "restore",
        s(&input.join("a8.png")),
        "-o",
        s(&t.path().join("x.jpg")),
        "--model",
        s(&tiny()),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("alpha"), "{}", stderr(&o));
}

#[test]
fn eval_classify_bench_and_info() {
    let t = tempfile::tempdir().unwrap();
    let (inp, tgt) = (t.path().join("input"), t.path().join("target"));
    std::fs::create_dir_all(&inp).unwrap();
    std::fs::create_dir_all(&tgt).unwrap();
    write_png(&tgt.join("a.png"), 32, 24, 1);
    write_png(&inp.join("a.png"), 32, 24, 2);
    write_png(&tgt.join("b.png"), 32, 32, 3);
    write_png(&inp.join("b.png"), 32, 24, 4); // size mismatch
    let m = tiny();
    let o = run(&[
        "eval",
        "--input",
        s(&inp),
        "--target",
        s(&tgt),
        "--model",
        s(&m),
        "--json",
        "--baseline",
    ]);
    assert_eq!(o.status.code(), Some(1), "a mismatched pair fails the run");
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "error: {}: size 32x24 does not match",
            inp.join("b.png").display()
        )),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["count"], 1);
    let psnr = doc["images"][0]["psnr"].as_f64().unwrap();
    assert!(psnr > 5.0 && psnr < 60.0, "{psnr}");
    assert!(doc["images"][0]["ssim"].as_f64().unwrap() <= 1.0);
    assert!(doc["input_mean"]["psnr"].as_f64().is_some());
    std::fs::remove_file(inp.join("b.png")).unwrap();
    std::fs::remove_file(tgt.join("b.png")).unwrap();
    // Synthetic noise on the clean folder, CSV.
    let o = run(&[
        "eval",
        "--target",
        s(&tgt),
        "--synth",
        "noise:25",
        "--model",
        s(&m),
        "--csv",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(csv.starts_with("file,psnr,ssim,psnr_y\na,"), "{csv}");
    assert!(csv.contains("\nMEAN,"), "{csv}");
    // A symbolic link loop in a recursive walk: every image is listed once, no endless
    // recursion (tgt/deep/up -> tgt).
    #[cfg(unix)]
    {
        std::fs::create_dir_all(tgt.join("deep")).unwrap();
        write_png(&tgt.join("deep/c.png"), 16, 16, 5);
        std::os::unix::fs::symlink(&tgt, tgt.join("deep/up")).unwrap();
        let o = run(&["classify", s(&tgt), "-r", "--model", s(&m), "--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let listed: Vec<&str> = doc
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["file"].as_str().unwrap())
            .collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        std::fs::remove_dir_all(tgt.join("deep")).unwrap();
    }
    // Classify as JSON.
    let o = run(&[
        "classify",
        s(&tgt.join("a.png")),
        "--model",
        s(&m),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let probs = doc[0]["probs"].as_object().unwrap();
    assert_eq!(
        probs.keys().cloned().collect::<Vec<_>>(),
        vec!["haze", "noise", "rain"]
    );
    // Bench on a small synthetic image.
    let o = run(&["bench", "--size", "32x24", "--runs", "1", "--model", s(&m)]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("images/s") && out.contains("peak GPU memory"),
        "{out}"
    );
    // Info: adapters and the model (embedded by default).
    let o = run(&["info"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("adapters")
            && out.contains("chosen:")
            && out.contains("degradations: noise, rain, haze"),
        "{out}"
    );
}

/// A successful run on a headless machine (no XDG_RUNTIME_DIR, as on a
/// fresh server or in a container) raises no false alarm: no `error:` or `warning:` line,
/// and with `-q` (and for `info`, which prints its note on stdout) nothing on stderr at all.
/// Mesa's Vulkan device-select layer, which comes with lavapipe, used to make libwayland
/// print `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` (twice for
/// `restore`, four times for `info`) before the run went on and succeeded.
#[test]
fn a_successful_run_on_a_headless_machine_prints_no_false_alarm() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("a.png");
    write_png(&input, 32, 24, 1);
    let out = t.path().join("out");
    let model = tiny();
    let headless = |args: &[&str]| {
        let mut c = bin();
        // What the user's environment may hold that changes the layer's behaviour.
        for var in [
            "XDG_RUNTIME_DIR",
            "WAYLAND_DISPLAY",
            "WAYLAND_SOCKET",
            "NODEVICE_SELECT",
            "MESA_VK_DEVICE_SELECT",
        ] {
            c.env_remove(var);
        }
        let o = c.args(args).output().expect("run wgpu-restore");
        let err = stderr(&o);
        eprintln!("$ wgpu-restore {}\n--- stderr\n{err}", args.join(" "));
        assert_eq!(o.status.code(), Some(0), "{err}");
        err
    };
    let is_note = |l: &&str| l.starts_with("note: using the software adapter");

    let err = headless(&["restore", s(&input), "-o", s(&out), "--model", s(&model)]);
    let alarms: Vec<&str> = err
        .lines()
        .filter(|l| {
            let l = l.trim_start().to_ascii_lowercase();
            l.starts_with("error") || l.starts_with("warning")
        })
        .collect();
    assert!(alarms.is_empty(), "false alarms: {alarms:?}");
    assert!(err.contains("restored 1 of 1"), "{err}");
    assert!(out.join("a.png").exists());

    let err = headless(&[
        "restore",
        s(&input),
        "-o",
        s(&out),
        "--model",
        s(&model),
        "--overwrite",
        "-q",
    ]);
    assert_eq!(err, "", "-q prints only errors, and there were none");

    let err = headless(&["info"]);
    let other: Vec<&str> = err.lines().filter(|l| !is_note(l)).collect();
    assert!(other.is_empty(), "info wrote to stderr: {other:?}");
}

#[test]
fn error_cases_are_one_line_and_fail() {
    let t = tempfile::tempdir().unwrap();
    let m = tiny();
    let good = t.path().join("good.png");
    write_png(&good, 24, 24, 1);
    let out = t.path().join("out");
    let check = |args: &[&str], needle: &str| {
        let o = run(args);
        assert!(!o.status.success(), "{args:?} must fail");
        let e = stderr(&o);
        let line = e
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line: {e}"));
        assert!(line.contains(needle), "expected `{needle}` in `{line}`");
        assert!(!e.contains("panicked"), "{e}");
    };
    // Unreadable (missing) input.
    let missing = t.path().join("missing.png");
    check(
        &["restore", s(&missing), "-o", s(&out), "--model", s(&m)],
        &format!("{}: no such file", missing.display()),
    );
    // Corrupt file.
    let corrupt = t.path().join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 truncated jpeg").unwrap();
    check(
        &["restore", s(&corrupt), "-o", s(&out), "--model", s(&m)],
        &format!("{}: corrupt JPG", corrupt.display()),
    );
    // Unsupported format.
    let gif = t.path().join("anim.gif");
    std::fs::write(&gif, b"GIF89a\x01\0\x01\0\0\0\0;").unwrap();
    check(
        &["restore", s(&gif), "-o", s(&out), "--model", s(&m)],
        &format!("{}: unsupported image format GIF", gif.display()),
    );
    // Missing and invalid model files.
    let nomodel = t.path().join("nope.safetensors");
    check(
        &["restore", s(&good), "-o", s(&out), "--model", s(&nomodel)],
        &format!("{}: invalid model file", nomodel.display()),
    );
    let badmodel = t.path().join("bad.safetensors");
    std::fs::write(&badmodel, b"\x10\0\0\0\0\0\0\0{not json at all").unwrap();
    check(
        &["classify", s(&good), "--model", s(&badmodel)],
        &format!("{}: invalid model file", badmodel.display()),
    );
    // No adapter.
    check(
        &[
            "restore",
            s(&good),
            "-o",
            s(&out),
            "--model",
            s(&m),
            "--adapter",
            "no-such-gpu-xyz",
        ],
        "no GPU adapter found",
    );
    check(
        &["classify", s(&good), "--model", s(&m), "--backend", "metal"],
        "no GPU adapter found",
    );
    check(
        &["restore", s(&good), "-o", s(&out), "--backend", "quantum"],
        "unknown backend",
    );
    // Eval with a missing target folder.
    check(
        &[
            "eval",
            "--input",
            s(t.path()),
            "--target",
            s(&t.path().join("nothing")),
            "--model",
            s(&m),
        ],
        "not a folder",
    );
    // The output's folder does not exist: the error names the output, not only the input.
    let nowhere = t.path().join("no-such-folder/x.png");
    check(
        &["restore", s(&good), "-o", s(&nowhere), "--model", s(&m)],
        &format!("writing {}", nowhere.display()),
    );
    // An image over --max-megapixels is refused from its header (1001 x 1000 > 1 MP).
    let big = t.path().join("big.png");
    write_png(&big, 1001, 1000, 2);
    check(
        &[
            "restore",
            s(&big),
            "-o",
            s(&out),
            "--model",
            s(&m),
            "--max-megapixels",
            "1",
        ],
        &format!(
            "{}: 1001x1000 pixels (1.0 megapixels) is over the limit of 1 megapixels",
            big.display()
        ),
    );
    // Out-of-range numbers are refused up front.
    check(
        &["restore", s(&good), "-o", s(&out), "--max-memory", "0"],
        "--max-memory",
    );
    check(
        &["bench", "--size", "20000x20000", "--model", s(&m)],
        "over the 200-megapixel limit",
    );
    // Two files that pair with one name (a.png and a.jpg) are ambiguous.
    let pairs = t.path().join("pairs");
    std::fs::create_dir_all(&pairs).unwrap();
    write_png(&pairs.join("a.png"), 8, 8, 1);
    image::save_buffer(
        pairs.join("a.jpg"),
        &pixels(8, 8, 1),
        8,
        8,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    check(
        &[
            "eval",
            "--input",
            s(&pairs),
            "--target",
            s(&pairs),
            "--model",
            s(&m),
        ],
        "has the same name as",
    );
    assert!(
        !out.exists() || files_in(&out).is_empty(),
        "nothing written by failed runs"
    );
}

/// The tiny model with `restorer.embed.weight` multiplied by `factor` (finite weights, so
/// the file loads), written to `path`.
fn scaled_tiny(path: &Path, factor: f32) {
    use wgpu_restore::model::{read_safetensors, write_safetensors};
    let mut f = read_safetensors(&std::fs::read(tiny()).unwrap()).unwrap();
    let t = f.tensors.get_mut("restorer.embed.weight").unwrap();
    t.data.iter_mut().for_each(|v| *v *= factor);
    std::fs::write(path, write_safetensors(&f).unwrap()).unwrap();
}

/// A model that overflows f32 on an image (finite weights of 1e37) restores it to NaN; that
/// is an error for the file naming the cause, and nothing is written. It used to be written
/// as a black image with exit 0.
#[test]
fn a_non_finite_restoration_is_an_error_not_a_black_image() {
    let t = tempfile::tempdir().unwrap();
    let model = t.path().join("overflow.safetensors");
    scaled_tiny(&model, 1e38);
    let x = t.path().join("x.png");
    write_png(&x, 32, 24, 1);
    let out = t.path().join("out.png");
    let o = run(&["restore", s(&x), "-o", s(&out), "--model", s(&model)]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "error: {}: the restored image: 2304 of 2304 values are NaN or infinite",
            x.display()
        )),
        "{err}"
    );
    assert!(err.contains("the model overflows f32"), "{err}");
    assert!(!out.exists(), "no black image written");
    // eval refuses to score it too, instead of a PSNR against black.
    let (inp, tgt) = (t.path().join("in"), t.path().join("tgt"));
    std::fs::create_dir_all(&inp).unwrap();
    std::fs::create_dir_all(&tgt).unwrap();
    write_png(&inp.join("a.png"), 32, 24, 1);
    write_png(&tgt.join("a.png"), 32, 24, 2);
    let o = run(&[
        "eval",
        "--input",
        s(&inp),
        "--target",
        s(&tgt),
        "--model",
        s(&model),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("NaN or infinite"), "{}", stderr(&o));
}

/// A PNG signature, an IHDR for `w` x `h` RGBA16, a 2-byte IDAT and IEND, valid CRCs.
fn png_header_rgba16(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([16, 6, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c]);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// With `--max-megapixels` raised, a header that declares a 60000 x 60000 RGBA16 image (80
/// bytes) is refused from its header for want of memory, and the rest of the folder is
/// restored. The decoder used to allocate 28.8 GB for it and the process aborted (exit
/// 134), losing the batch.
#[test]
fn a_header_beyond_the_memory_is_a_per_file_error() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("huge.png"), png_header_rgba16(60000, 60000)).unwrap();
    write_png(&input.join("ok.png"), 32, 24, 1);
    let out = t.path().join("out");
    let o = run(&[
        "restore",
        s(&input),
        "-o",
        s(&out),
        "--model",
        s(&tiny()),
        "--max-megapixels",
        "4000",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "error: {}: 60000x60000 pixels would need about",
            input.join("huge.png").display()
        )) && err.contains("GB of memory to decode and restore"),
        "{err}"
    );
    assert!(err.contains("restored 1 of 2"), "{err}");
    assert_eq!(files_in(&out), vec!["ok.png"]);
}

/// Whether a restore run's stderr shows a forward for `input`: the line
/// `<input>: noise 0.5, ...; 0.12 s` printed after each restoration.
fn restored_line(err: &str, input: &Path) -> bool {
    let prefix = format!("{}: ", input.display());
    err.lines()
        .any(|l| l.starts_with(&prefix) && l.trim_end().ends_with(" s"))
}

/// Outputs that cannot be written are reported for their file before its forward (no
/// restoration line for it): an output under a file, a name over the file system's limit
/// (with --suffix), a folder that takes no new files. They used to be found only when the
/// restored image was written, so every file of a batch paid the forward first.
#[test]
fn outputs_that_cannot_be_written_fail_before_the_forward() {
    let t = tempfile::tempdir().unwrap();
    let m = tiny();
    let x = t.path().join("x.png");
    write_png(&x, 32, 24, 1);
    let expect_early_failure = |args: &[&str], input: &Path, needle: &str| {
        let o = run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("error: {}: writing ", input.display())) && err.contains(needle),
            "expected `{needle}`: {err}"
        );
        assert!(
            !restored_line(&err, input),
            "the forward ran before the output was checked: {err}"
        );
    };
    // The output's folder is a file.
    let file = t.path().join("file.png");
    write_png(&file, 8, 8, 2);
    let under = file.join("x.png");
    expect_early_failure(
        &["restore", s(&x), "-o", s(&under), "--model", s(&m)],
        &x,
        "is not a folder (a part of it is a file)",
    );
    // With --recursive, a sub-folder of the output that is a file.
    let input = t.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    write_png(&input.join("sub/c.png"), 16, 16, 3);
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("sub"), b"a file").unwrap();
    expect_early_failure(
        &["restore", s(&input), "-o", s(&out), "-r", "--model", s(&m)],
        &input.join("sub/c.png"),
        "cannot create the folder",
    );
    // A 250-byte name is legal; with a 9-byte suffix it is over the limit of 255.
    let long_dir = t.path().join("long");
    std::fs::create_dir_all(&long_dir).unwrap();
    let long = long_dir.join(format!("{}.png", "n".repeat(246)));
    write_png(&long, 16, 16, 4);
    expect_early_failure(
        &[
            "restore",
            s(&long),
            "-o",
            s(&t.path().join("long-out")),
            "--suffix",
            "_restored",
            "--model",
            s(&m),
        ],
        &long,
        "the file name is too long for the file system (259 bytes",
    );
    // A folder that takes no new files: read-only for a user, immutable for root (who
    // may write in a read-only folder anyway).
    #[cfg(unix)]
    {
        let locked = t.path().join("locked");
        std::fs::create_dir_all(&locked).unwrap();
        match Locked::new(&locked) {
            Some(_guard) => expect_early_failure(
                &["restore", s(&x), "-o", s(&locked), "--model", s(&m)],
                &x,
                "cannot create files in the folder",
            ),
            None => {
                eprintln!("skipped: neither a read-only nor an immutable folder is possible here")
            }
        }
    }
}

/// A folder made unwritable for the test's duration: read-only (mode 555), or immutable
/// (`chattr +i`) where the tests run as root; `None` if neither stops a new file.
#[cfg(unix)]
struct Locked(PathBuf, bool);

#[cfg(unix)]
impl Locked {
    fn new(dir: &Path) -> Option<Locked> {
        use std::os::unix::fs::PermissionsExt;
        let probe = dir.join("probe");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(&probe, b"").is_err() {
            return Some(Locked(dir.to_path_buf(), false));
        }
        let _ = std::fs::remove_file(&probe);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let chattr = Command::new("chattr").arg("+i").arg(dir).status();
        if chattr.is_ok_and(|s| s.success()) {
            if std::fs::write(&probe, b"").is_err() {
                return Some(Locked(dir.to_path_buf(), true));
            }
            let _ = Command::new("chattr").arg("-i").arg(dir).status();
        }
        None
    }
}

#[cfg(unix)]
impl Drop for Locked {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.1 {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        }
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

/// A 250-byte file name (legal on every common file system) is written: its temporary name
/// is cut to fit. It used to be `.{name}.{pid}-{n}.tmp`, over the 255-byte limit, so the
/// output could never be written ("cannot create a temporary file").
#[test]
fn a_legal_long_name_is_written() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let name = format!("{}.png", "n".repeat(246));
    assert_eq!(name.len(), 250);
    write_png(&input.join(&name), 16, 16, 4);
    let out = t.path().join("out");
    let o = run(&["restore", s(&input), "-o", s(&out), "--model", s(&tiny())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        files_in(&out),
        vec![name],
        "the output and no temporary file"
    );
}

/// A file name that is not UTF-8 keeps its bytes in the output's name; it used to be
/// written as `caf\u{FFFD}.png`.
#[cfg(unix)]
#[test]
fn a_name_that_is_not_utf8_keeps_its_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.png");
    write_png(&input.join(name), 16, 16, 5);
    let out = t.path().join("out");
    let o = run(&["restore", s(&input), "-o", s(&out), "--model", s(&tiny())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names: Vec<std::ffi::OsString> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![name.to_os_string()]);
}

/// A run that writes nothing leaves no output folder behind: not when it stops before the
/// first file (no such adapter), nor when every file fails; the folders of a recursive run
/// that stay empty go too. The output folder used to be created before the device was
/// opened.
#[test]
fn failed_runs_leave_no_folder_behind() {
    let t = tempfile::tempdir().unwrap();
    let m = tiny();
    let good = t.path().join("good.png");
    write_png(&good, 16, 16, 1);
    let out = t.path().join("out");
    let o = run(&[
        "restore",
        s(&good),
        "-o",
        s(&out.join("deeper")),
        "--model",
        s(&m),
        "--adapter",
        "no-such-gpu-xyz",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists(), "an early failure left {}", out.display());
    let input = t.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::write(input.join("bad.png"), b"\x89PNG\r\n\x1a\n not a png").unwrap();
    std::fs::write(input.join("sub/bad.png"), b"\x89PNG\r\n\x1a\n not a png").unwrap();
    let o = run(&["restore", s(&input), "-o", s(&out), "-r", "--model", s(&m)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !out.exists(),
        "a run that wrote nothing left {}",
        out.display()
    );
    // Some written: the output folder stays, the empty sub-folder goes.
    write_png(&input.join("ok.png"), 16, 16, 2);
    let o = run(&["restore", s(&input), "-o", s(&out), "-r", "--model", s(&m)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(files_in(&out), vec!["ok.png"]);
}

/// One rule for exit codes: 2 for a wrong command line (as clap's own usage errors), 1
/// for failures at run time. Each of these used to be accepted silently, or exit 1.
#[test]
fn usage_errors_exit_2_before_any_work() {
    let t = tempfile::tempdir().unwrap();
    let m = tiny();
    let x = t.path().join("x.png");
    write_png(&x, 32, 24, 1);
    let out = t.path().join("out");
    let usage = |args: &[&str], needle: &str| {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        let line = err.lines().next().unwrap_or_default();
        assert!(
            line.starts_with("error: ") && line.contains(needle) && !line.contains("input:"),
            "expected `{needle}` in `{line}`"
        );
    };
    // Was `error: input: unknown backend` with exit 1.
    usage(
        &["restore", s(&x), "-o", s(&out), "--backend", "nonsense"],
        "unknown backend `nonsense`",
    );
    usage(&["info", "--backend", "nonsense"], "unknown backend");
    // Was accepted, though the help says at most half a tile.
    usage(
        &[
            "restore",
            s(&x),
            "-o",
            s(&out),
            "--model",
            s(&m),
            "--tile",
            "64",
            "--tile-overlap",
            "40",
        ],
        "--tile-overlap 40 is more than half of --tile 64 (at most 32)",
    );
    // Was silently a folder `out.bmp` holding x.png.
    let bmp = t.path().join("out.bmp");
    usage(
        &["restore", s(&x), "-o", s(&bmp), "--model", s(&m)],
        ".bmp is not a format this tool writes",
    );
    assert!(!bmp.exists());
    // A folder of that name is still possible, said so.
    let o = run(&[
        "restore",
        s(&x),
        "-o",
        &format!("{}/", bmp.display()),
        "--model",
        s(&m),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(bmp.join("x.png").is_file());
    usage(
        &["bench", "--size", "12x", "--model", s(&m)],
        "--size: `12x` is not WxH",
    );
    assert!(!out.exists(), "nothing written by the refused runs");
}

/// What was silently lossy is now said: an animated WebP or PNG is refused (only its first
/// frame used to be restored, exit 0), and an overlap cut to half of an automatic tile is
/// a warning.
#[test]
fn lossy_cases_are_refused_or_warned() {
    let t = tempfile::tempdir().unwrap();
    let m = tiny();
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/inputs");
    for (name, kind) in [("animated.webp", "WEBP"), ("animated.png", "PNG")] {
        let input = images.join(name);
        let out = t.path().join(name);
        let o = run(&["restore", s(&input), "-o", s(&out), "--model", s(&m)]);
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "error: {}: an animated {kind} of 3 frames: only still images are restored",
                input.display()
            )),
            "{err}"
        );
        assert!(!out.exists());
    }
    // 1 MiB of activations: the tiny model restores a 96 x 72 image in tiles of 64.
    let x = t.path().join("x.png");
    write_png(&x, 96, 72, 1);
    let o = run(&[
        "restore",
        s(&x),
        "-o",
        s(&t.path().join("y.png")),
        "--model",
        s(&m),
        "--max-memory",
        "1",
        "--tile-overlap",
        "40",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "warning: {}: --tile-overlap 40 is more than half of the 64-pixel tile this image was restored with: 32 used",
            x.display()
        )),
        "{err}"
    );
    // bench has no --max-megapixels, and no longer suggests it.
    let huge = t.path().join("huge.png");
    std::fs::write(&huge, png_header_rgba16(20000, 20000)).unwrap();
    let o = run(&["bench", "--input", s(&huge), "--model", s(&m)]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("is over the limit of 200 megapixels") && !err.contains("--max-megapixels"),
        "{err}"
    );
}

/// With stderr not a terminal (a log, a pipe, this test) the progress bars draw nothing; a
/// tiled image still says where it is: a line after its first tile with the time left
/// (then one every 10 s). A small --tile on a large image used to run for minutes without
/// a line. -q keeps it quiet.
#[test]
fn tiled_progress_is_printed_without_a_terminal() {
    let t = tempfile::tempdir().unwrap();
    let x = t.path().join("x.png");
    write_png(&x, 64, 48, 1);
    let args = |out: &str, quiet: bool| {
        let mut v = vec![
            "restore".to_string(),
            s(&x).to_string(),
            "-o".into(),
            s(&t.path().join(out)).to_string(),
            "--model".into(),
            s(&tiny()).to_string(),
            "--tile".into(),
            "32".into(),
            "--tile-overlap".into(),
            "8".into(),
        ];
        if quiet {
            v.push("-q".into());
        }
        v
    };
    let a = args("y.png", false);
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.starts_with(&format!("{}: tile 1/", x.display())))
        .unwrap_or_else(|| panic!("no progress line: {err}"));
    assert!(
        line.contains(" after ") && line.ends_with(" s left"),
        "{line}"
    );
    let a = args("z.png", true);
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}
