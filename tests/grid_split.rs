//! Grid splitting: with the per-dimension workgroup limit forced down to 3, every flat grid
//! is split over x and y and the matrix product continues along z; results must not change.
//! Also a convolution wider than one workgroup strip, against a CPU reference.

mod common;

use std::collections::BTreeMap;
use wgpu_restore::model::{HostTensor, Node};
use wgpu_restore::{Model, Runtime, RuntimeOptions, Shape, Tensor};

fn conv_cpu(x: &Tensor, w: &[f32], cout: usize, k: usize, s: usize, p: usize) -> Tensor {
    let (c, h, wd) = (x.shape.c, x.shape.h, x.shape.w);
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (wd + 2 * p - k) / s + 1);
    let mut out = vec![0f32; cout * oh * ow];
    for co in 0..cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0f64;
                for ci in 0..c {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * s + ky) as isize - p as isize;
                            let ix = (ox * s + kx) as isize - p as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                acc += w[((co * c + ci) * k + ky) * k + kx] as f64
                                    * x.at(ci, iy as usize, ix as usize) as f64;
                            }
                        }
                    }
                }
                out[(co * oh + oy) * ow + ox] = acc as f32;
            }
        }
    }
    Tensor::new(Shape::new(cout, oh, ow), out)
}

#[test]
fn results_do_not_depend_on_grid_splitting() {
    // Must be set before the first dispatch is planned (this binary has only this test).
    std::env::set_var("WGPU_RESTORE_MAX_GROUPS_PER_DIM", "3");
    assert_eq!(wgpu_restore::ops::max_groups_per_dim(), 3);
    let rt = Runtime::new(RuntimeOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();

    // End to end with split grids.
    let model = Model::load(common::fixtures().join("tiny.safetensors")).unwrap();
    let file = common::read_fixture(&common::fixtures().join("e2e_24x70.safetensors"));
    let image = common::to_tensor("image", &file.tensors["image"]);
    let expected = common::to_tensor("restored", &file.tensors["restored"]);
    let out = rt
        .restore(&model, &image, &file.tensors["probs"].data)
        .unwrap();
    let err = out.max_abs_diff(&expected);
    assert!(err <= 1e-3, "restored differs by {err} with split grids");

    // A wide convolution (several strips of 512 pixels per row) and a wide 1x1 (matmul
    // with its column groups continued along z).
    let x = common::test_image(5, 1500, 9);
    for (k, s, p, cout) in [(3, 1, 1, 6), (3, 2, 1, 4), (1, 1, 0, 9), (7, 2, 3, 5)] {
        let wn = cout * 3 * k * k;
        let wv: Vec<f32> = (0..wn)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let node: Node = serde_json::from_value(serde_json::json!({
            "name": format!("conv{k}s{s}"), "op": "conv2d", "inputs": ["input.0"], "outputs": ["out"],
            "attrs": {"kernel": k, "stride": s, "padding": p, "groups": 1},
            "weights": {"weight": "w"},
        }))
        .unwrap();
        let weights = BTreeMap::from([(
            "w".to_string(),
            HostTensor {
                shape: vec![cout, 3, k, k],
                data: wv.clone(),
            },
        )]);
        let got = rt
            .run_node(&node, weights, std::slice::from_ref(&x))
            .unwrap();
        let want = conv_cpu(&x, &wv, cout, k, s, p);
        let err = got.max_abs_diff(&want);
        assert!(err <= 1e-4, "conv k{k} s{s}: error {err}");
    }
}
