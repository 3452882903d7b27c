// Matrix product out[M, N] = W[M, K] * X[K, N] (+ bias[M]) for 1x1 convolutions
// (M = Cout, K = Cin, N = H*W) and linear layers (N = 1). Register-blocked: each thread
// computes an 8 x 4 tile with no workgroup memory (fast on lavapipe, fine elsewhere).
// Grid: x (and z, when x would exceed the device limit) over column tiles, y over 8-row
// blocks, so the 8 weight rows are shared by the whole workgroup.

struct Params {
    m: u32,
    k: u32,
    n: u32,
    has_bias: u32,
    tiles_n: u32,   // ceil(n / 4)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

fn store4(row: u32, n0: u32, a: vec4<f32>) {
    if (row >= p.m) { return; }
    var b = 0.0;
    if (p.has_bias != 0u) { b = bias[row]; }
    let base = row * p.n;
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (n0 + j < p.n) { dst[base + n0 + j] = a[j] + b; }
    }
}

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let tn = (wid.z * nwg.x + wid.x) * 64u + li;
    if (tn >= p.tiles_n) { return; }
    let n0 = tn * 4u;
    let m0 = wid.y * 8u;
    let last_n = p.n - 1u;
    let c0 = min(n0, last_n);
    let c1 = min(n0 + 1u, last_n);
    let c2 = min(n0 + 2u, last_n);
    let c3 = min(n0 + 3u, last_n);
    let last_m = p.m - 1u;
    let r0 = min(m0, last_m) * p.k;
    let r1 = min(m0 + 1u, last_m) * p.k;
    let r2 = min(m0 + 2u, last_m) * p.k;
    let r3 = min(m0 + 3u, last_m) * p.k;
    let r4 = min(m0 + 4u, last_m) * p.k;
    let r5 = min(m0 + 5u, last_m) * p.k;
    let r6 = min(m0 + 6u, last_m) * p.k;
    let r7 = min(m0 + 7u, last_m) * p.k;
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    for (var kk = 0u; kk < p.k; kk = kk + 1u) {
        let xb = kk * p.n;
        let xv = vec4<f32>(x[xb + c0], x[xb + c1], x[xb + c2], x[xb + c3]);
        a0 = fma(vec4<f32>(weight[r0 + kk]), xv, a0);
        a1 = fma(vec4<f32>(weight[r1 + kk]), xv, a1);
        a2 = fma(vec4<f32>(weight[r2 + kk]), xv, a2);
        a3 = fma(vec4<f32>(weight[r3 + kk]), xv, a3);
        a4 = fma(vec4<f32>(weight[r4 + kk]), xv, a4);
        a5 = fma(vec4<f32>(weight[r5 + kk]), xv, a5);
        a6 = fma(vec4<f32>(weight[r6 + kk]), xv, a6);
        a7 = fma(vec4<f32>(weight[r7 + kk]), xv, a7);
    }
    store4(m0, n0, a0);
    store4(m0 + 1u, n0, a1);
    store4(m0 + 2u, n0, a2);
    store4(m0 + 3u, n0, a3);
    store4(m0 + 4u, n0, a4);
    store4(m0 + 5u, n0, a5);
    store4(m0 + 6u, n0, a6);
    store4(m0 + 7u, n0, a7);
}
