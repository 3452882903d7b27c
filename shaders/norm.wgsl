// Layer norm over channels at each pixel (biased variance), Restormer's bias-free form,
// and per-channel affine. One thread per 4 consecutive pixels.

struct Params {
    c: u32,
    n4: u32,      // pixel quads per plane: pitch / 4
    total4: u32,  // channel_affine: c * pitch / 4
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<S4>;
@group(0) @binding(2) var<storage, read> weight: array<S>;   // layer_norm weight / affine scale
@group(0) @binding(3) var<storage, read> bias: array<S>;     // layer_norm bias / affine shift
@group(0) @binding(4) var<storage, read_write> dst: array<S4>;

// Mean and 1/sqrt(var + eps) of the 4 pixels' channel vectors. Sums are taken about the
// first channel's value (a shift that keeps E[x^2] - E[x]^2 accurate when the mean is large
// against the spread).
fn stats(q: u32) -> array<vec4<f32>, 2> {
    let k = vec4<f32>(src[q]);
    var s = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    for (var c = 0u; c < p.c; c = c + 1u) {
        let d = vec4<f32>(src[c * p.n4 + q]) - k;
        s = s + d;
        s2 = fma(d, d, s2);
    }
    let inv_c = 1.0 / f32(p.c);
    let mean_d = s * inv_c;
    let var_ = max(s2 * inv_c - mean_d * mean_d, vec4<f32>(0.0));
    return array<vec4<f32>, 2>(k + mean_d, inverseSqrt(var_ + p.eps));
}

@compute @workgroup_size(64)
fn layer_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let q = linear_wg(wid, nwg) * 64u + li;
    if (q >= p.n4) { return; }
    let st = stats(q);
    for (var c = 0u; c < p.c; c = c + 1u) {
        let x = vec4<f32>(src[c * p.n4 + q]);
        dst[c * p.n4 + q] = S4((x - st[0]) * st[1] * f32(weight[c]) + f32(bias[c]));
    }
}

// Restormer's BiasFree_LayerNorm: the variance is taken about the mean, but x itself is
// not centred: x / sqrt(var + eps) * weight.
@compute @workgroup_size(64)
fn bias_free_layer_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) li: u32) {
    let q = linear_wg(wid, nwg) * 64u + li;
    if (q >= p.n4) { return; }
    let st = stats(q);
    for (var c = 0u; c < p.c; c = c + 1u) {
        let x = vec4<f32>(src[c * p.n4 + q]);
        dst[c * p.n4 + q] = S4(x * st[1] * f32(weight[c]));
    }
}

@compute @workgroup_size(256)
fn channel_affine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.total4) { return; }
    let c = i / p.n4;
    dst[i] = S4(vec4<f32>(src[i]) * f32(weight[c]) + f32(bias[c]));
}
