//! Invalid model files are rejected before any GPU work, with errors naming the node or
//! tensor; device problems are errors, not panics. The broken files are made in memory
//! from the tiny model.

mod common;

use wgpu_restore::model::{
    read_safetensors, write_safetensors, GraphDoc, HostTensor, SafetensorsFile,
};
use wgpu_restore::{
    AdapterChoice, BackendChoice, Error, Model, Runtime, RuntimeOptions, Shape, Tensor,
};

fn tiny_bytes() -> Vec<u8> {
    std::fs::read(common::fixtures().join("tiny.safetensors")).unwrap()
}

fn tiny_file() -> SafetensorsFile {
    read_safetensors(&tiny_bytes()).unwrap()
}

fn graph(f: &SafetensorsFile) -> GraphDoc {
    serde_json::from_str(&f.metadata["graph"]).unwrap()
}

fn with_graph(mut f: SafetensorsFile, g: &GraphDoc) -> SafetensorsFile {
    f.metadata
        .insert("graph".into(), serde_json::to_string(g).unwrap());
    f
}

fn load(f: &SafetensorsFile) -> Result<Model, Error> {
    Model::from_bytes(&write_safetensors(f).unwrap())
}

/// The embedding convolution of `restore` and its weight tensor.
const NODE: &str = "embed";
const TENSOR: &str = "restorer.embed.weight";

#[test]
fn the_unmodified_file_loads() {
    // Guards the tests below: each one breaks exactly one thing.
    let f = tiny_file();
    assert!(f.tensors.contains_key(TENSOR));
    let g = graph(&f);
    assert!(g.functions["restore"].nodes.iter().any(|n| n.name == NODE));
    let m = load(&f).unwrap();
    assert!(m.parameter_count() > 0);
    assert_eq!(m.degradations(), ["noise", "rain", "haze"]);
}

#[test]
fn missing_tensor_names_node_and_tensor() {
    let mut f = tiny_file();
    f.tensors.remove(TENSOR);
    let e = load(&f).unwrap_err();
    assert!(
        matches!(&e, Error::MissingTensor { node, tensor, .. } if node == NODE && tensor == TENSOR),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains(NODE) && msg.contains(TENSOR), "{msg}");
}

#[test]
fn misshaped_tensor_names_node_and_tensor() {
    let mut f = tiny_file();
    let t = f.tensors[TENSOR].clone();
    // [8, 3, 3, 3] -> [8, 3, 9]: same data, wrong rank.
    let mut shape = t.shape.clone();
    assert_eq!(shape.len(), 4);
    shape = vec![shape[0], shape[1], shape[2] * shape[3]];
    f.tensors.insert(
        TENSOR.into(),
        HostTensor {
            shape,
            data: t.data.clone(),
        },
    );
    let e = load(&f).unwrap_err();
    assert!(
        matches!(&e, Error::TensorShape { node, tensor, expected, .. }
        if node == NODE && tensor == TENSOR && expected == &t.shape),
        "{e}"
    );
    // Wrong output channel count on a bias-carrying weight: a 1-D tensor of the wrong length.
    let mut f = tiny_file();
    let g = graph(&f);
    let (node, bias) = g.functions["classify"]
        .nodes
        .iter()
        .find_map(|n| n.weights.get("bias").map(|b| (n.name.clone(), b.clone())))
        .unwrap();
    let mut b = f.tensors[&bias].clone();
    b.shape[0] += 1;
    b.data.push(0.0);
    f.tensors.insert(bias.clone(), b);
    let e = load(&f).unwrap_err().to_string();
    assert!(e.contains(&node) && e.contains(&bias), "{e}");
}

#[test]
fn unknown_op_names_the_node() {
    let f = tiny_file();
    let mut g = graph(&f);
    let n = g
        .functions
        .get_mut("restore")
        .unwrap()
        .nodes
        .iter_mut()
        .find(|n| n.name == NODE)
        .unwrap();
    n.op = "conv3d".into();
    let e = load(&with_graph(f, &g)).unwrap_err();
    assert!(
        matches!(&e, Error::UnknownOp { node, op } if node == NODE && op == "conv3d"),
        "{e}"
    );
}

#[test]
fn unsupported_version_is_rejected() {
    let mut f = tiny_file();
    f.metadata.insert("format_version".into(), "2".into());
    let e = load(&f).unwrap_err();
    assert!(
        matches!(&e, Error::UnsupportedVersion { found, .. } if found == "2"),
        "{e}"
    );
    // The graph's own version field too.
    let f = tiny_file();
    let mut g = graph(&f);
    g.version = 7;
    let e = load(&with_graph(f, &g)).unwrap_err();
    assert!(matches!(&e, Error::UnsupportedVersion { .. }), "{e}");
    // And a file without the metadata at all.
    let mut f = tiny_file();
    f.metadata.remove("format_version");
    assert!(matches!(load(&f).unwrap_err(), Error::Metadata(_)));
}

#[test]
fn truncated_or_corrupt_files_are_rejected() {
    let bytes = tiny_bytes();
    for cut in [0, 4, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let e = Model::from_bytes(&bytes[..cut]).unwrap_err();
        assert!(matches!(e, Error::Corrupt(_)), "cut at {cut}: {e}");
    }
    let mut bad = bytes.clone();
    bad[8] = b'#'; // header JSON no longer parses
    assert!(matches!(
        Model::from_bytes(&bad).unwrap_err(),
        Error::Corrupt(_)
    ));
    let mut f = tiny_file();
    f.metadata.insert("graph".into(), "{not json".into());
    assert!(matches!(load(&f).unwrap_err(), Error::GraphJson(_)));
}

#[test]
fn unreferenced_tensor_is_rejected() {
    let mut f = tiny_file();
    f.tensors.insert(
        "stray".into(),
        HostTensor {
            shape: vec![2],
            data: vec![1.0, 2.0],
        },
    );
    let e = load(&f).unwrap_err();
    assert!(
        matches!(&e, Error::UnreferencedTensor { tensor } if tensor == "stray"),
        "{e}"
    );
}

#[test]
fn value_used_before_produced_is_rejected() {
    let f = tiny_file();
    let mut g = graph(&f);
    let nodes = &mut g.functions.get_mut("restore").unwrap().nodes;
    let later = nodes[5].outputs[0].clone();
    let name = nodes[1].name.clone();
    nodes[1].inputs[0] = later.clone();
    let e = load(&with_graph(f, &g)).unwrap_err().to_string();
    assert!(
        e.contains(&name) && e.contains(&later) && e.contains("before"),
        "{e}"
    );
    // A function output that is never produced.
    let f = tiny_file();
    let mut g = graph(&f);
    g.functions.get_mut("classify").unwrap().outputs[0] = "nowhere".into();
    let e = load(&with_graph(f, &g)).unwrap_err().to_string();
    assert!(e.contains("nowhere"), "{e}");
}

#[test]
fn bad_attributes_and_input_counts_name_the_node() {
    let f = tiny_file();
    let mut g = graph(&f);
    let n = g
        .functions
        .get_mut("restore")
        .unwrap()
        .nodes
        .iter_mut()
        .find(|n| n.name == NODE)
        .unwrap();
    n.attrs.remove("kernel");
    let e = load(&with_graph(f, &g)).unwrap_err().to_string();
    assert!(e.contains(NODE) && e.contains("kernel"), "{e}");
    let f = tiny_file();
    let mut g = graph(&f);
    let n = g
        .functions
        .get_mut("restore")
        .unwrap()
        .nodes
        .iter_mut()
        .find(|n| n.name == NODE)
        .unwrap();
    n.inputs.push("image".into());
    let e = load(&with_graph(f, &g)).unwrap_err().to_string();
    assert!(e.contains(NODE) && e.contains("inputs"), "{e}");
}

#[test]
fn wrong_input_shapes_are_errors() {
    let m = Model::load(common::fixtures().join("tiny.safetensors")).unwrap();
    let e = m
        .infer_shapes("restore", &[Shape::new(4, 8, 8), Shape::new(3, 1, 1)])
        .unwrap_err();
    assert!(matches!(e, Error::Input(_)), "{e}");
    let e = m
        .infer_shapes("restore", &[Shape::new(3, 8, 8)])
        .unwrap_err();
    assert!(matches!(e, Error::Input(_)), "{e}");
    assert!(matches!(
        m.infer_shapes("nope", &[]).unwrap_err(),
        Error::UnknownFunction(_)
    ));
}

#[test]
fn missing_adapters_are_errors_not_panics() {
    let e = Runtime::new(RuntimeOptions {
        adapter: AdapterChoice::Name("no-such-adapter-xyz".into()),
        quiet: true,
        ..Default::default()
    })
    .err()
    .expect("an adapter name that matches nothing must fail");
    assert!(matches!(e, Error::NoAdapter(_)), "{e}");
    let e = Runtime::new(RuntimeOptions {
        adapter: AdapterChoice::Index(999),
        quiet: true,
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(matches!(e, Error::NoAdapter(_)), "{e}");
    #[cfg(not(target_os = "macos"))]
    {
        let e = Runtime::new(RuntimeOptions {
            backend: BackendChoice::Metal,
            quiet: true,
            ..Default::default()
        })
        .err()
        .expect("no Metal adapters off macOS");
        assert!(matches!(e, Error::NoAdapter(_)), "{e}");
    }
}

#[test]
fn tensors_over_the_binding_limit_are_a_clear_error() {
    let rt = common::runtime();
    let limit = rt.gpu().max_binding_bytes();
    if limit > (1 << 30) {
        eprintln!("skipped: the device allows {limit}-byte bindings; the image would be too big");
        return;
    }
    let m = Model::load(common::fixtures().join("tiny.safetensors")).unwrap();
    // Values are split into segments of whole channels, attention heads into pieces, but
    // one f32 plane over the limit cannot be split (the image is tiled instead).
    let side = ((limit / 4) as f64).sqrt().ceil() as usize + 8;
    let image = Tensor::zeros(Shape::new(3, side, side));
    let e = match rt.restore(&m, &image, &[0.0, 0.0, 0.0]) {
        Ok(out) => panic!("a {side}x{side} image was restored whole ({})", out.shape),
        Err(e) => e,
    };
    match &e {
        Error::BufferTooLarge {
            bytes, limit: l, ..
        } => {
            assert!(*bytes > limit && *l == limit, "{e}");
            assert!(e.to_string().contains(&bytes.to_string()), "{e}");
        }
        other => panic!("expected BufferTooLarge, got {other}"),
    }
}

/// What the runtime assumes of `restore` and `classify` (see `check_entry_points`) is
/// checked at load: a file that breaks it is refused with the function and the reason,
/// instead of panicking or indexing out of bounds on every image.
#[test]
fn entry_points_that_break_the_runtime_contract_are_refused_at_load() {
    let refused = |edit: &dyn Fn(&mut GraphDoc)| -> String {
        let f = tiny_file();
        let mut g = graph(&f);
        edit(&mut g);
        load(&with_graph(f, &g)).unwrap_err().to_string()
    };
    let first_output = |g: &GraphDoc, function: &str| -> String {
        g.functions[function].nodes[0].outputs[0].clone()
    };
    // restore returns an inner value (not 3 channels of the image's size).
    let e = refused(&|g| {
        let inner = first_output(g, "restore");
        g.functions.get_mut("restore").unwrap().outputs = vec![inner];
    });
    assert!(
        e.contains("`restore`") && e.contains("image's shape"),
        "{e}"
    );
    // classify returns an inner value: one with 3 channels of the crop's size, then one
    // with another channel count (not one probability per degradation either way).
    let e = refused(&|g| {
        let inner = first_output(g, "classify");
        g.functions.get_mut("classify").unwrap().outputs = vec![inner];
    });
    assert!(
        e.contains("`classify`") && e.contains("must be 3 x 1 x 1"),
        "{e}"
    );
    let m = load(&tiny_file()).unwrap();
    let wide = m.functions["classify"]
        .channels
        .iter()
        .filter(|(_, &c)| c != 3)
        .map(|(v, _)| v.clone())
        .min() // the same value every run (the map's order is not)
        .unwrap();
    let e = refused(&|g| g.functions.get_mut("classify").unwrap().outputs = vec![wide.clone()]);
    assert!(
        e.contains("`classify`") && e.contains("3 degradations"),
        "{e}"
    );
    // A fourth degradation name that neither function knows about.
    let e = refused(&|g| g.degradations.push("snow".into()));
    assert!(e.contains("`restore`") && e.contains("probs: 4"), "{e}");
    // A Prompt Net crop of 2^40 pixels a side.
    let e = refused(&|g| g.prompt.as_mut().unwrap().crop = 1 << 40);
    assert!(e.contains("prompt") && e.contains("crop"), "{e}");
    // An integer attribute of 2^32 (which would overflow the dispatch arithmetic).
    let e = refused(&|g| {
        let n = g.functions.get_mut("restore").unwrap();
        let n = n.nodes.iter_mut().find(|n| n.name == NODE).unwrap();
        n.attrs
            .insert("kernel".into(), serde_json::json!(1u64 << 32));
    });
    assert!(e.contains(NODE) && e.contains("over the limit"), "{e}");
}

/// Weights with a NaN or an infinity are refused at load, naming the tensor: one such value
/// reaches every pixel after a few layers, and the encoder used to write NaN as 0, so every
/// image came out black with a success status.
#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut f = tiny_file();
        let t = f.tensors.get_mut(TENSOR).unwrap();
        t.data[5] = bad;
        let e = load(&f).unwrap_err();
        assert!(
            matches!(&e, Error::Tensor { tensor, .. } if tensor == TENSOR),
            "{bad}: {e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("not finite") && msg.contains("index 5") && !msg.contains('\n'),
            "{msg}"
        );
    }
}

/// The first node of `restore` whose op is `op`, for the tests that edit one.
fn first_node<'a>(g: &'a mut GraphDoc, op: &str) -> &'a mut wgpu_restore::model::Node {
    g.functions
        .get_mut("restore")
        .unwrap()
        .nodes
        .iter_mut()
        .find(|n| n.op == op)
        .unwrap()
}

/// A layer norm's eps must be a positive normal number: a negative one gives NaN wherever
/// the variance is smaller, zero divides 0 by 0 on flat patches; both restored every image
/// to black.
#[test]
fn normalization_eps_must_be_positive() {
    for eps in [-1.0f64, -1e-5, 0.0, 1e-45] {
        let f = tiny_file();
        let mut g = graph(&f);
        let n = first_node(&mut g, "layer_norm");
        let name = n.name.clone();
        n.attrs.insert("eps".into(), serde_json::json!(eps));
        let e = load(&with_graph(f, &g)).unwrap_err().to_string();
        assert!(e.contains(&name) && e.contains("`eps`"), "eps {eps}: {e}");
    }
    // The default and any ordinary value load.
    for eps in [1e-6f64, 1e-5, 0.1] {
        let f = tiny_file();
        let mut g = graph(&f);
        first_node(&mut g, "layer_norm")
            .attrs
            .insert("eps".into(), serde_json::json!(eps));
        load(&with_graph(f, &g)).unwrap();
    }
}

/// Paddings are bounded by what the model can use, at load: a conv2d padding of the kernel
/// or more, and a reflect_pad multiple past the function's down-sampling times its largest
/// window. A pad to 4096 used to load and then fail every image with "use a smaller image
/// or tiles".
#[test]
fn paddings_are_bounded_at_load() {
    let f = tiny_file();
    let mut g = graph(&f);
    let n = g
        .functions
        .get_mut("restore")
        .unwrap()
        .nodes
        .iter_mut()
        .find(|n| n.name == NODE)
        .unwrap();
    assert_eq!(n.attrs["kernel"], 3);
    n.attrs.insert("padding".into(), serde_json::json!(3));
    let e = load(&with_graph(f, &g)).unwrap_err().to_string();
    assert!(
        e.contains(NODE) && e.contains("padding 3 must be smaller than the kernel 3"),
        "{e}"
    );
    let f = tiny_file();
    let mut g = graph(&f);
    let n = first_node(&mut g, "reflect_pad");
    let name = n.name.clone();
    n.attrs.insert("multiple".into(), serde_json::json!(4096));
    let e = load(&with_graph(f, &g)).unwrap_err().to_string();
    assert!(
        e.contains(&name) && e.contains("multiple 4096 is more than the function can use"),
        "{e}"
    );
    // The tiny model down-samples x8 and attends in windows of up to 8: a multiple of 64 is
    // still of use.
    let f = tiny_file();
    let mut g = graph(&f);
    first_node(&mut g, "reflect_pad")
        .attrs
        .insert("multiple".into(), serde_json::json!(64));
    load(&with_graph(f, &g)).unwrap();
}
