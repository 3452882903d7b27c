//! Kernel paths the golden fixtures do not reach, against CPU references written from
//! docs/model-format.md: window attention with heads wider than 16 channels (the paper
//! config's 48), channel attention over more pixels than one chunk of its Gram pass, and
//! grouped (non-depthwise) convolutions.

mod common;

use std::collections::BTreeMap;
use wgpu_restore::model::{HostTensor, Node};
use wgpu_restore::tensor::reflect_index;
use wgpu_restore::{Shape, Tensor};

fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(2862933555777941757)
        .wrapping_add(3037000493);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / ((1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn node(json: serde_json::Value) -> Node {
    serde_json::from_value(json).unwrap()
}

fn window_attention_cpu(qkv: &Tensor, heads: usize, win: usize, alpha: &[f32]) -> Tensor {
    let (h, w) = (qkv.shape.h, qkv.shape.w);
    let c = qkv.shape.c / 3;
    let d = c / heads;
    let mut out = vec![0f32; c * h * w];
    for hd in 0..heads {
        for y in 0..h {
            for x in 0..w {
                let (wy0, wx0) = (y / win * win, x / win * win);
                let mut scores = Vec::new();
                let mut keys = Vec::new();
                for ky in 0..win {
                    for kx in 0..win {
                        let (sy, sx) = (reflect_index(wy0 + ky, h), reflect_index(wx0 + kx, w));
                        let mut s = 0f64;
                        for e in 0..d {
                            s += qkv.at(hd * d + e, y, x) as f64
                                * qkv.at(c + hd * d + e, sy, sx) as f64;
                        }
                        scores.push(s / alpha[hd] as f64);
                        keys.push((sy, sx));
                    }
                }
                let m = scores.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = scores.iter().map(|s| (s - m).exp()).sum();
                for e in 0..d {
                    let mut acc = 0f64;
                    for (s, &(sy, sx)) in scores.iter().zip(&keys) {
                        acc += (s - m).exp() / z * qkv.at(2 * c + hd * d + e, sy, sx) as f64;
                    }
                    out[((hd * d + e) * h + y) * w + x] = acc as f32;
                }
            }
        }
    }
    Tensor::new(Shape::new(c, h, w), out)
}

#[test]
fn window_attention_wide_heads() {
    let rt = common::runtime();
    // One case per kernel variant: d = 20 (one 32-channel chunk), d = 48 (the paper's width: two
    // chunks of 24, q in registers) and d = 64 (chunks of 16, q read from memory).
    for (c, heads, win, h, w) in [(40, 2, 4, 9, 11), (48, 1, 8, 10, 13), (64, 1, 4, 6, 9)] {
        let qkv = Tensor::new(Shape::new(3 * c, h, w), rand(3 * c * h * w, c as u64));
        let alpha: Vec<f32> = (0..heads).map(|i| 2.0 + i as f32).collect();
        let n = node(serde_json::json!({
            "name": "wa", "op": "window_attention", "inputs": ["input.0"], "outputs": ["out"],
            "attrs": {"heads": heads, "window": win}, "weights": {"alpha": "alpha"}}));
        let weights = BTreeMap::from([(
            "alpha".to_string(),
            HostTensor {
                shape: vec![heads],
                data: alpha.clone(),
            },
        )]);
        let got = rt
            .run_node(&n, weights, std::slice::from_ref(&qkv))
            .unwrap();
        let want = window_attention_cpu(&qkv, heads, win, &alpha);
        let err = got.max_abs_diff(&want);
        println!("window attention c{c} h{heads} w{win}: max abs err {err:.2e}");
        assert!(err <= 1e-4, "c{c}: error {err}");
    }
}

fn channel_attention_cpu(qkv: &Tensor, heads: usize, temperature: &[f32]) -> Tensor {
    let c = qkv.shape.c / 3;
    let d = c / heads;
    let n = qkv.shape.plane();
    let row = |ch: usize| &qkv.data[ch * n..(ch + 1) * n];
    let norm = |ch: usize| {
        row(ch)
            .iter()
            .map(|&v| v as f64 * v as f64)
            .sum::<f64>()
            .sqrt()
            .max(1e-12)
    };
    let mut out = vec![0f32; c * n];
    for (h, &temp) in temperature.iter().enumerate().take(heads) {
        for i in 0..d {
            let q = h * d + i;
            let logits: Vec<f64> = (0..d)
                .map(|j| {
                    let k = c + h * d + j;
                    let dot: f64 = row(q)
                        .iter()
                        .zip(row(k))
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum();
                    dot / (norm(q) * norm(k)) * temp as f64
                })
                .collect();
            let m = logits.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
            for (j, l) in logits.iter().enumerate() {
                let a = (l - m).exp() / z;
                for (o, &v) in out[q * n..(q + 1) * n]
                    .iter_mut()
                    .zip(row(2 * c + h * d + j))
                {
                    *o += (a * v as f64) as f32;
                }
            }
        }
    }
    Tensor::new(Shape::new(c, qkv.shape.h, qkv.shape.w), out)
}

#[test]
fn channel_attention_over_several_chunks() {
    let rt = common::runtime();
    // 9215 and 8463 pixels: two chunks of the Gram pass (8192 pixels each), the last quad
    // part padding; heads of 4 and of 48 channels (entry blocks of 4, one partial).
    for (c, heads, h, w) in [(8, 2, 97, 95), (48, 1, 93, 91)] {
        let qkv = Tensor::new(Shape::new(3 * c, h, w), rand(3 * c * h * w, 40 + c as u64));
        let temperature: Vec<f32> = (0..heads).map(|i| 1.5 + i as f32).collect();
        let n = node(serde_json::json!({
            "name": "ca", "op": "channel_attention", "inputs": ["input.0"], "outputs": ["out"],
            "attrs": {"heads": heads}, "weights": {"temperature": "t"}}));
        let weights = BTreeMap::from([(
            "t".to_string(),
            HostTensor {
                shape: vec![heads],
                data: temperature.clone(),
            },
        )]);
        let got = rt
            .run_node(&n, weights, std::slice::from_ref(&qkv))
            .unwrap();
        let err = got.max_abs_diff(&channel_attention_cpu(&qkv, heads, &temperature));
        println!("channel attention c{c} h{heads} {h}x{w}: max abs err {err:.2e}");
        assert!(err <= 1e-4, "c{c}: error {err}");
    }
}

#[test]
fn grouped_convolution() {
    let rt = common::runtime();
    // groups 2 with 4 output channels per group (blocked kernel, second group offset) and
    // groups 3 with 2 per group (row kernel), stride 2 for the latter.
    for (cin, cout, groups, k, s, p) in [(6, 8, 2, 3, 1, 1), (6, 6, 3, 3, 2, 1)] {
        let (h, w) = (9, 21);
        let x = Tensor::new(Shape::new(cin, h, w), rand(cin * h * w, 5));
        let cinpg = cin / groups;
        let wv = rand(cout * cinpg * k * k, 6);
        let n = node(serde_json::json!({
            "name": "gc", "op": "conv2d", "inputs": ["input.0"], "outputs": ["out"],
            "attrs": {"kernel": k, "stride": s, "padding": p, "groups": groups},
            "weights": {"weight": "w"}}));
        let weights = BTreeMap::from([(
            "w".to_string(),
            HostTensor {
                shape: vec![cout, cinpg, k, k],
                data: wv.clone(),
            },
        )]);
        let got = rt.run_node(&n, weights, std::slice::from_ref(&x)).unwrap();
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let coutpg = cout / groups;
        let mut want = vec![0f32; cout * oh * ow];
        for co in 0..cout {
            let g = co / coutpg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0f64;
                    for cl in 0..cinpg {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * s + ky) as isize - p as isize;
                                let ix = (ox * s + kx) as isize - p as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += wv[((co * cinpg + cl) * k + ky) * k + kx] as f64
                                        * x.at(g * cinpg + cl, iy as usize, ix as usize) as f64;
                                }
                            }
                        }
                    }
                    want[(co * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
        let err = got.max_abs_diff(&Tensor::new(Shape::new(cout, oh, ow), want));
        assert!(err <= 1e-4, "groups {groups}: error {err}");
    }
}
