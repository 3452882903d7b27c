// Elementwise ops: add, weighted_add, relu, sigmoid, gelu_gate (exact erf GELU).

struct Params {
    n: u32,      // number of output elements
    _pad: u32,
    wa: f32,     // weighted_add: out = wa * a + wb * b
    wb: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7).
fn erf_approx(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
        + 0.254829592) * t;
    let y = 1.0 - poly * exp(-z * z);
    return select(y, -y, x < 0.0);
}

fn gelu(x: f32) -> f32 {
    return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
}

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n) { return; }
    dst[i] = a[i] + b[i];
}

@compute @workgroup_size(256)
fn weighted_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n) { return; }
    dst[i] = p.wa * a[i] + p.wb * b[i];
}

@compute @workgroup_size(256)
fn relu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n) { return; }
    dst[i] = max(a[i], 0.0);
}

@compute @workgroup_size(256)
fn sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n) { return; }
    let x = a[i];
    // Stable in both tails.
    if (x >= 0.0) {
        dst[i] = 1.0 / (1.0 + exp(-x));
    } else {
        let e = exp(x);
        dst[i] = e / (1.0 + e);
    }
}

// x has 2m channels; out = gelu(x[:m]) * x[m:]; p.n = m * H * W.
@compute @workgroup_size(256)
fn gelu_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n) { return; }
    dst[i] = gelu(a[i]) * a[i + p.n];
}
