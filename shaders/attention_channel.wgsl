// Channel ("transposed") attention, Restormer MDTA. qkv has 3c channels: q, k, v.
// Per head (d = c / heads channels), q and k rows are L2-normalized over the N = H*W
// pixels, A = softmax(q k^T * temperature[h]) row-wise (d x d), out = A v.
// Four passes: l2norm (norms of the 2c q/k rows), gram (A logits), softmax_rows, apply.

struct Params {
    c: u32,
    n: u32,       // H * W
    heads: u32,
    d: u32,       // c / heads
    pitch: u32,   // plane pitch of qkv and the output
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<S>;
@group(0) @binding(2) var<storage, read> temperature: array<S>;
@group(0) @binding(3) var<storage, read_write> norms: array<f32>;   // 2c
@group(0) @binding(4) var<storage, read_write> attn: array<f32>;    // heads * d * d
@group(0) @binding(5) var<storage, read_write> dst: array<S>;

var<workgroup> partial: array<f32, 256>;

fn reduce_partial(li: u32) {
    workgroupBarrier();
    for (var step = 128u; step > 0u; step = step >> 1u) {
        if (li < step) {
            partial[li] = partial[li] + partial[li + step];
        }
        workgroupBarrier();
    }
}

// One workgroup per q/k row (2c rows).
@compute @workgroup_size(256)
fn l2norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let row = linear_wg(wid, nwg);
    var s = 0.0;
    if (row < 2u * p.c) {
        for (var i = li; i < p.n; i = i + 256u) {
            let v = f32(qkv[row * p.pitch + i]);
            s = s + v * v;
        }
    }
    partial[li] = s;
    reduce_partial(li);
    if (li == 0u && row < 2u * p.c) {
        norms[row] = max(sqrt(partial[0]), 1e-12);
    }
}

// One workgroup per entry (h, i, j) of the logits.
@compute @workgroup_size(256)
fn gram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_wg(wid, nwg);
    let total = p.heads * p.d * p.d;
    let j = e % p.d;
    let i = (e / p.d) % p.d;
    let h = e / (p.d * p.d);
    let qrow = h * p.d + i;
    let krow = p.c + h * p.d + j;
    var s = 0.0;
    if (e < total) {
        for (var t = li; t < p.n; t = t + 256u) {
            s = s + f32(qkv[qrow * p.pitch + t]) * f32(qkv[krow * p.pitch + t]);
        }
    }
    partial[li] = s;
    reduce_partial(li);
    if (li == 0u && e < total) {
        attn[e] = partial[0] / (norms[qrow] * norms[krow]) * f32(temperature[h]);
    }
}

// One thread per row of A (heads * d rows), in place.
@compute @workgroup_size(64)
fn softmax_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let row = linear_wg(wid, nwg) * 64u + li;
    if (row >= p.heads * p.d) { return; }
    let base = row * p.d;
    var m = -3.4028235e38;
    for (var j = 0u; j < p.d; j = j + 1u) {
        m = max(m, attn[base + j]);
    }
    var s = 0.0;
    for (var j = 0u; j < p.d; j = j + 1u) {
        let e = exp(attn[base + j] - m);
        attn[base + j] = e;
        s = s + e;
    }
    let inv = 1.0 / s;
    for (var j = 0u; j < p.d; j = j + 1u) {
        attn[base + j] = attn[base + j] * inv;
    }
}

// One thread per 4 consecutive pixels of an output row: out[h*d+i, :] = sum_j A[h,i,j] v[h*d+j, :].
@compute @workgroup_size(64)
fn apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let t = linear_wg(wid, nwg) * 64u + li;
    let tiles = (p.n + 3u) / 4u;
    if (t >= tiles * p.c) { return; }
    let n0 = (t % tiles) * 4u;
    let o = t / tiles;
    let h = o / p.d;
    let i = o % p.d;
    let last = p.n - 1u;
    var acc = vec4<f32>(0.0);
    for (var j = 0u; j < p.d; j = j + 1u) {
        let a = attn[(h * p.d + i) * p.d + j];
        let vb = (2u * p.c + h * p.d + j) * p.pitch;
        let v = vec4<f32>(f32(qkv[vb + min(n0, last)]), f32(qkv[vb + min(n0 + 1u, last)]),
                          f32(qkv[vb + min(n0 + 2u, last)]), f32(qkv[vb + min(n0 + 3u, last)]));
        acc = acc + a * v;
    }
    for (var q = 0u; q < 4u; q = q + 1u) {
        if (n0 + q < p.n) { dst[o * p.pitch + n0 + q] = S(acc[q]); }
    }
}
