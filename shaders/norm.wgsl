// Layer norm over channels at each pixel (biased variance), Restormer's bias-free form,
// and per-channel affine.

struct Params {
    c: u32,
    hw: u32,
    n: u32,     // channel_affine: c * hw
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;   // layer_norm weight / affine scale
@group(0) @binding(3) var<storage, read> bias: array<f32>;     // layer_norm bias / affine shift
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn layer_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.hw) { return; }
    var s = 0.0;
    for (var c = 0u; c < p.c; c = c + 1u) {
        s = s + src[c * p.hw + i];
    }
    let mean = s / f32(p.c);
    var v = 0.0;
    for (var c = 0u; c < p.c; c = c + 1u) {
        let d = src[c * p.hw + i] - mean;
        v = v + d * d;
    }
    let rstd = 1.0 / sqrt(v / f32(p.c) + p.eps);
    for (var c = 0u; c < p.c; c = c + 1u) {
        dst[c * p.hw + i] = (src[c * p.hw + i] - mean) * rstd * weight[c] + bias[c];
    }
}

// Restormer's BiasFree_LayerNorm: the variance is taken about the mean, but x itself is
// not centred: x / sqrt(var + eps) * weight.
@compute @workgroup_size(256)
fn bias_free_layer_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.hw) { return; }
    var s = 0.0;
    for (var c = 0u; c < p.c; c = c + 1u) {
        s = s + src[c * p.hw + i];
    }
    let mean = s / f32(p.c);
    var v = 0.0;
    for (var c = 0u; c < p.c; c = c + 1u) {
        let d = src[c * p.hw + i] - mean;
        v = v + d * d;
    }
    let rstd = 1.0 / sqrt(v / f32(p.c) + p.eps);
    for (var c = 0u; c < p.c; c = c + 1u) {
        dst[c * p.hw + i] = src[c * p.hw + i] * rstd * weight[c];
    }
}

@compute @workgroup_size(256)
fn channel_affine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n) { return; }
    let c = i / p.hw;
    dst[i] = src[i] * weight[c] + bias[c];
}
