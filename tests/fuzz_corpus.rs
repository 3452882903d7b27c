//! Replays the fuzzers' corpus (`fuzz/corpus/<target>/`: the seeds of `fuzz/make_seeds.py`
//! and every input that once crashed a loader) through the functions the fuzz targets call
//! (`fuzz/src/lib.rs`, included here), on stable and without cargo-fuzz, so that a fixed
//! crash stays fixed.

#[path = "../fuzz/src/lib.rs"]
mod entries;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let r = std::panic::catch_unwind(|| run(&data));
        assert!(r.is_ok(), "{} fails `{target}`", f.display());
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn model_file_corpus() {
    replay("model_file", entries::model_file);
}

#[test]
fn image_corpus() {
    replay("image", entries::image);
}

#[test]
fn probs_corpus() {
    replay("probs", entries::probs);
}

#[test]
fn pickle_corpus() {
    replay("pickle", entries::pickle);
}

#[test]
fn checkpoint_corpus() {
    replay("checkpoint", entries::checkpoint);
}

/// The seeds are valid inputs of each kind, so that the fuzzers start past the first
/// checks: a format change that makes them stale (every seed refused at the header) would
/// leave the fuzzers testing only the refusal, silently. Regenerate them with
/// `fuzz/make_seeds.py` when this fails.
#[test]
fn seeds_are_accepted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let read = |t: &str, f: &str| std::fs::read(dir.join(t).join(f)).unwrap();
    for f in [
        "allinone.safetensors",
        "allinone_f16.safetensors",
        "no_prompt_net.safetensors",
    ] {
        let r = wgpu_restore::Model::from_bytes(&read("model_file", f));
        assert!(r.is_ok(), "{f}: {:?}", r.err().map(|e| e.to_string()));
    }
    for f in [
        "alpha.webp",
        "baseline.jpg",
        "deflate.tif",
        "gray16.png",
        "gray16.tif",
        "lossy.webp",
        "progressive.jpg",
        "rgba.png",
    ] {
        let r = wgpu_restore::image_io::decode_image_limited(
            &read("image", f),
            None,
            entries::IMAGE_MAX_PIXELS,
        );
        assert!(r.is_ok(), "{f}: {:?}", r.err().map(|e| e.to_string()));
    }
    for f in ["params_data.pkl", "state_dict_data.pkl", "views_data.pkl"] {
        let r = wgpu_restore::import::pickle::unpickle(&read("pickle", f));
        assert!(r.is_ok(), "{f}: {:?}", r.err());
    }
    for f in [
        "lightning.ckpt",
        "params.pth",
        "state_dict.pth",
        "views.pth",
    ] {
        let data = read("checkpoint", f);
        let c = wgpu_restore::import::checkpoint::Checkpoint::from_reader(std::io::Cursor::new(
            &data[..],
        ));
        let mut c = c.unwrap_or_else(|e| panic!("{f}: {e}"));
        let names: Vec<String> = c.tensors.keys().cloned().collect();
        assert!(!names.is_empty(), "{f}: no tensors");
        for n in names {
            c.load(&n).unwrap_or_else(|e| panic!("{f}: {n}: {e}"));
        }
    }
    let names: Vec<String> = ["noise", "rain", "haze"].map(String::from).into();
    assert!(wgpu_restore::probs::parse_probs("noise=0.9,rain=0,haze=0.2", &names).is_ok());
}
