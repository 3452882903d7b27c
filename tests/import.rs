//! `wgpu-restore import`: published PromptIR / Restormer checkpoints, read without Python.
//! The fixtures (tests/fixtures/import/, written by training/import_fixtures.py) are tiny
//! seeded instances of the PyTorch ports in the authors' containers, the Python importer's
//! model files, and the ports' f64 restorations at 24x32 and 29x37 (not a multiple of 8).

mod common;
#[path = "common/torchzip.rs"]
mod torchzip;

use std::path::{Path, PathBuf};
use std::process::Command;
use wgpu_restore::import::{self, checkpoint::Checkpoint, Arch, ImportOptions};
use wgpu_restore::model::HostTensor;
use wgpu_restore::Model;

fn dir() -> PathBuf {
    common::fixtures().join("import")
}

/// (checkpoint, architecture, Python's model file, reference restorations)
const CASES: [(&str, Arch, &str, &str); 3] = [
    (
        "promptir_tiny.ckpt",
        Arch::PromptIr,
        "promptir_tiny.safetensors",
        "promptir_tiny_ref.safetensors",
    ),
    (
        "restormer_with_bias/deraining.pth",
        Arch::Restormer,
        "restormer_with_bias.safetensors",
        "restormer_with_bias_ref.safetensors",
    ),
    (
        "restormer_bias_free/real_denoising.pth",
        Arch::Restormer,
        "restormer_bias_free.safetensors",
        "restormer_bias_free_ref.safetensors",
    ),
];

fn opts(arch: Arch) -> ImportOptions {
    ImportOptions {
        arch,
        variant: None,
        f32: false,
    }
}

#[test]
fn imports_are_byte_identical_to_the_python_importer() {
    for (ck, arch, py, _) in CASES {
        let got = import::import_file(&dir().join(ck), &opts(arch))
            .unwrap_or_else(|e| panic!("{ck}: {e}"));
        let want = std::fs::read(dir().join(py)).unwrap();
        if got.bytes != want {
            let at = got
                .bytes
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.bytes.len().min(want.len()));
            let lo = at.saturating_sub(60);
            panic!(
                "{ck}: differs from {py} at byte {at} (lengths {} and {}):\n rust:   {}\n python: {}",
                got.bytes.len(),
                want.len(),
                String::from_utf8_lossy(&got.bytes[lo..(at + 60).min(got.bytes.len())]),
                String::from_utf8_lossy(&want[lo..(at + 60).min(want.len())])
            );
        }
    }
}

#[test]
fn imported_models_restore_like_the_pytorch_ports() {
    let rt = common::runtime();
    for (ck, arch, _, reference) in CASES {
        // f32 weights, so that the comparison measures the runtime, not f16 storage.
        let imported = import::import_file(
            &dir().join(ck),
            &ImportOptions {
                f32: true,
                ..opts(arch)
            },
        )
        .unwrap();
        let model = Model::from_bytes(&imported.bytes).unwrap();
        assert!(!model.has_prompt_net());
        let refs = common::read_fixture(&dir().join(reference));
        let mut sizes = 0;
        for (name, t) in &refs.tensors {
            let Some(size) = name.strip_prefix("image_") else {
                continue;
            };
            let image = common::to_tensor(name, t);
            let want = common::to_tensor(name, &refs.tensors[&format!("restored_{size}")]);
            let got = rt.restore(&model, &image, &[]).unwrap();
            let diff = got
                .data
                .iter()
                .zip(&want.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            eprintln!("{ck} at {size}: max |runtime - port| = {diff:.2e}");
            assert!(diff <= 1e-3, "{ck} at {size}: max abs difference {diff}");
            sizes += 1;
        }
        assert_eq!(sizes, 2, "{reference}: two sizes expected");
    }
}

/// The tensors of a fixture checkpoint, read through the importer's own reader.
fn tensors_of(path: &Path) -> Vec<(String, HostTensor)> {
    let mut ck = Checkpoint::open(path).unwrap();
    let names: Vec<String> = ck.tensors.keys().cloned().collect();
    names
        .into_iter()
        .map(|n| {
            let t = ck.load(&n).unwrap();
            (n, t)
        })
        .collect()
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wgpu-restore"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `import` on `ck` and expects a one-line error containing `needle`, exit 1, and no
/// output file.
fn refused(arch: &str, ck: &Path, needle: &str) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.safetensors");
    let o = cli(&[
        "import",
        arch,
        ck.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}: {err}", ck.display());
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "an output was written for {}", ck.display());
}

#[test]
fn bad_checkpoints_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // The other architecture's checkpoint, both ways.
    refused(
        "restormer",
        &dir().join("promptir_tiny.ckpt"),
        "not a Restormer checkpoint",
    );
    refused(
        "promptir",
        &dir().join("restormer_with_bias/deraining.pth"),
        "not a PromptIR checkpoint",
    );
    let good = tensors_of(&dir().join("restormer_with_bias/deraining.pth"));
    // A missing tensor.
    let missing: Vec<_> = good
        .iter()
        .filter(|(n, _)| n != "encoder_level2.0.ffn.dwconv.weight")
        .cloned()
        .collect();
    refused(
        "restormer",
        &write("deraining.pth", &torchzip::params_checkpoint(&missing)),
        "`encoder_level2.0.ffn.dwconv.weight` is missing",
    );
    // A mis-shaped tensor.
    let mut misshaped = good.clone();
    for (n, t) in &mut misshaped {
        if n == "latent.0.attn.project_out.weight" {
            t.shape[0] += 1;
            t.data.extend(vec![0.0; t.data.len() / (t.shape[0] - 1)]);
        }
    }
    refused(
        "restormer",
        &write("deraining.pth", &torchzip::params_checkpoint(&misshaped)),
        "`latent.0.attn.project_out.weight` has shape",
    );
    // An extra tensor.
    let mut extra = good.clone();
    extra.push((
        "decoder_level1.9.norm1.body.weight".into(),
        HostTensor {
            shape: vec![2],
            data: vec![1.0, 1.0],
        },
    ));
    refused(
        "restormer",
        &write("deraining.pth", &torchzip::params_checkpoint(&extra)),
        "decoder_level1",
    );
    // A truncated archive (the central directory is at the end).
    let whole = std::fs::read(dir().join("restormer_with_bias/deraining.pth")).unwrap();
    refused(
        "restormer",
        &write("deraining.pth", &whole[..whole.len() / 2]),
        "not a readable PyTorch zip archive",
    );
    // Not a checkpoint at all.
    refused(
        "restormer",
        &write("deraining.pth", b"hello"),
        "not a PyTorch checkpoint",
    );
    // A pickle that asks for os.system (posix.system on Linux): refused by name, nothing run.
    let marker = tmp.path().join("ran");
    let mut evil = b"\x80\x02cposix\nsystem\nX".to_vec();
    let cmd = format!("touch {}", marker.display());
    evil.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    evil.extend_from_slice(cmd.as_bytes());
    evil.extend_from_slice(b"\x85R.");
    refused(
        "restormer",
        &write("deraining.pth", &torchzip::archive("archive", &evil, &[])),
        "posix.system",
    );
    assert!(!marker.exists(), "the pickle's command ran");
    // A storage shorter than its tensor.
    let shapes: Vec<(String, Vec<usize>)> = good
        .iter()
        .map(|(n, t)| (n.clone(), t.shape.clone()))
        .collect();
    let mut storages: Vec<Vec<u8>> = good
        .iter()
        .map(|(_, t)| t.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    storages[0].truncate(2);
    refused(
        "restormer",
        &write(
            "deraining.pth",
            &torchzip::archive("archive", &torchzip::params_pickle(&shapes), &storages),
        ),
        "holds 2 bytes",
    );
    // Non-finite weights.
    let mut nan = good.clone();
    nan[3].1.data[0] = f32::NAN;
    refused(
        "restormer",
        &write("deraining.pth", &torchzip::params_checkpoint(&nan)),
        "non-finite",
    );
}

#[test]
fn variants_come_from_the_file_name_or_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tensors_of(&dir().join("restormer_with_bias/deraining.pth"));
    let p = tmp.path().join("net_g_latest.pth");
    std::fs::write(&p, torchzip::params_checkpoint(&good)).unwrap();
    refused("restormer", &p, "give --variant");
    // A denoising variant needs bias-free layer norms; these weights have biases.
    let e = import::import_file(
        &p,
        &ImportOptions {
            variant: Some("real-denoising".into()),
            ..opts(Arch::Restormer)
        },
    )
    .err()
    .unwrap();
    assert!(e.contains("layer norms"), "{e}");
    let ok = import::import_file(
        &p,
        &ImportOptions {
            variant: Some("motion-deblurring".into()),
            ..opts(Arch::Restormer)
        },
    )
    .unwrap();
    let model = Model::from_bytes(&ok.bytes).unwrap();
    assert_eq!(model.tasks(), vec!["motion-deblurring".to_string()]);
    assert_eq!(model.architecture(), "restormer");
}

#[test]
fn the_cli_writes_the_model_and_never_over_an_existing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.safetensors");
    let ck = dir().join("promptir_tiny.ckpt");
    let o = cli(&[
        "import",
        "promptir",
        ck.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read(&out).unwrap()
            == std::fs::read(dir().join("promptir_tiny.safetensors")).unwrap(),
        "the CLI's file differs from the Python importer's"
    );
    let again = cli(&[
        "import",
        "promptir",
        ck.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
}

#[test]
fn the_cli_runs_a_model_without_a_prompt_net() {
    let tmp = tempfile::tempdir().unwrap();
    let model = dir().join("restormer_with_bias.safetensors");
    let m = model.to_str().unwrap();
    let img = tmp.path().join("in.png");
    let rgb = common::test_image(21, 30, 5);
    let bytes = wgpu_restore::image_io::encode_image(
        &rgb,
        &wgpu_restore::image_io::Image::from_rgb(rgb.clone()),
        wgpu_restore::image_io::Format::Png,
        &Default::default(),
    )
    .unwrap();
    std::fs::write(&img, bytes).unwrap();
    let i = img.to_str().unwrap();
    let out = tmp.path().join("out.png");
    // restore: written, and the line names no probabilities.
    let o = cli(&["restore", i, "-o", out.to_str().unwrap(), "--model", m]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(out.exists());
    assert!(!err.contains("noise") && !err.contains("rain "), "{err}");
    // With the self-ensemble (all 8 symmetries: the network has no preferred orientation).
    let o = cli(&[
        "restore",
        i,
        "-o",
        tmp.path().join("ens.png").to_str().unwrap(),
        "--model",
        m,
        "--ensemble",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("self-ensemble of 8"), "{err}");
    // eval on a folder, against itself.
    let folder = tmp.path().join("set");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&img, folder.join("a.png")).unwrap();
    let f = folder.to_str().unwrap();
    let o = cli(&["eval", "--input", f, "--target", f, "--model", m, "--csv"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("file,psnr"));
    // classify and --probs: one-line refusals naming what the model restores (--probs is a
    // command line the model cannot take: exit 2, as for an unknown degradation name).
    for (code, args) in [
        (1, vec!["classify", i, "--model", m]),
        (
            2,
            vec![
                "restore",
                i,
                "-o",
                tmp.path().join("p.png").to_str().unwrap(),
                "--model",
                m,
                "--probs",
                "rain=1",
            ],
        ),
    ] {
        let o = cli(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("no Prompt Net"), "{err}");
        assert!(err.contains("restores deraining"), "{err}");
    }
    // info names the architecture and the task.
    let o = cli(&["info", "--model", m]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("architecture: restormer"), "{text}");
    assert!(text.contains("restores:     deraining"), "{text}");
}
