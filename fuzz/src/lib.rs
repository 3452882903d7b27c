//! What each fuzz target runs on one input, shared with the replay test
//! (`tests/fuzz_corpus.rs`, which includes this file) so that every seed and every crash
//! input kept in `fuzz/corpus/` goes through exactly the code the fuzzer ran. Each function
//! may return an error for a bad input (that is the point); it must not panic, abort, hang
//! or allocate without bound, and what it accepts must make sense (the checks below).

use std::io::Cursor;
use wgpu_restore::image_io;
use wgpu_restore::import::{checkpoint::Checkpoint, pickle};

/// The largest image the image target decodes: small, so that a header cannot make the
/// fuzzer allocate gigabytes legitimately, yet larger than any seed.
pub const IMAGE_MAX_PIXELS: u64 = 1 << 22;

/// The model-file loader: safetensors header, graph JSON, validation (shape inference at
/// the validation sizes included).
pub fn model_file(data: &[u8]) {
    if let Ok(m) = wgpu_restore::Model::from_bytes(data) {
        // A model that loads has finite weights and a restore that keeps the image's size.
        assert!(m
            .tensors
            .values()
            .all(|t| t.data.iter().all(|v| v.is_finite())));
        if m.functions.contains_key("restore") {
            let shapes = m.infer_shapes("restore", &m.restore_inputs(19, 23));
            if let Ok(s) = shapes {
                let out = &m.functions["restore"].def.outputs[0];
                let _ = s[out];
            }
        }
    }
}

/// The image loader (PNG, JPEG, TIFF, WebP, whichever the content is).
pub fn image(data: &[u8]) {
    if let Ok(img) = image_io::decode_image_limited(data, None, IMAGE_MAX_PIXELS) {
        let (h, w) = (img.height(), img.width());
        assert_eq!(img.rgb.data.len(), 3 * h * w);
        assert!(img.rgb.data.iter().all(|v| (0.0..=1.0).contains(v)));
        if let Some(a) = &img.alpha {
            assert_eq!(a.len(), h * w);
        }
    }
}

/// The `--probs` parser. First line: the model's degradation names, comma-separated; the
/// rest: the option's text.
pub fn probs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (names, arg) = text.split_once('\n').unwrap_or(("noise,rain,haze", &text));
    let names: Vec<String> = names.split(',').map(str::to_string).collect();
    if let Ok(p) = wgpu_restore::probs::parse_probs(arg, &names) {
        assert_eq!(p.len(), names.len());
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{p:?}");
    }
}

/// The restricted unpickler (a checkpoint's `data.pkl`). A value it returns can be printed
/// (a reference cycle, once possible, would recurse without end).
pub fn pickle(data: &[u8]) {
    if let Ok(v) = pickle::unpickle(data) {
        let _ = v.kind();
        let _ = v.str_entries();
        let _ = format!("{v:?}");
    }
}

/// A checkpoint from memory: torch's zip container, its pickle, the state dict, and every
/// tensor's storage read (at most 16 of them).
pub fn checkpoint(data: &[u8]) {
    if let Ok(mut c) = Checkpoint::from_reader(Cursor::new(data)) {
        let names: Vec<String> = c.tensors.keys().take(16).cloned().collect();
        for n in names {
            if let Ok(t) = c.load(&n) {
                assert_eq!(t.data.len(), t.shape.iter().product::<usize>());
            }
        }
    }
}
