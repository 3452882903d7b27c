// Matrix product out[M, N] = W[M, K] * X[K, N] (+ bias[M]) for 1x1 convolutions
// (M = Cout, K = Cin, N = H*W) and linear layers (N = 1). Register-blocked: each thread
// computes an 8 x 4 tile with no workgroup memory (fast on lavapipe, fine elsewhere).

struct Params {
    m: u32,
    k: u32,
    n: u32,
    has_bias: u32,
    tiles_n: u32,   // ceil(n / 4)
    threads: u32,   // tiles_n * ceil(m / 8)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let t = linear_wg(wid, nwg) * 64u + li;
    if (t >= p.threads) { return; }
    let n0 = (t % p.tiles_n) * 4u;
    let m0 = (t / p.tiles_n) * 8u;
    let last_n = p.n - 1u;
    let c0 = min(n0, last_n);
    let c1 = min(n0 + 1u, last_n);
    let c2 = min(n0 + 2u, last_n);
    let c3 = min(n0 + 3u, last_n);
    var rows: array<u32, 8>;
    for (var r = 0u; r < 8u; r = r + 1u) {
        rows[r] = min(m0 + r, p.m - 1u) * p.k;
    }
    var acc: array<vec4<f32>, 8>;
    for (var r = 0u; r < 8u; r = r + 1u) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var kk = 0u; kk < p.k; kk = kk + 1u) {
        let xb = kk * p.n;
        let xv = vec4<f32>(x[xb + c0], x[xb + c1], x[xb + c2], x[xb + c3]);
        for (var r = 0u; r < 8u; r = r + 1u) {
            acc[r] = acc[r] + weight[rows[r] + kk] * xv;
        }
    }
    for (var r = 0u; r < 8u; r = r + 1u) {
        let mr = m0 + r;
        if (mr >= p.m) { break; }
        var b = 0.0;
        if (p.has_bias != 0u) { b = bias[mr]; }
        let a = acc[r];
        let base = mr * p.n;
        for (var j = 0u; j < 4u; j = j + 1u) {
            if (n0 + j < p.n) { dst[base + n0 + j] = a[j] + b; }
        }
    }
}
