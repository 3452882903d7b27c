// 1x1 convolution and linear layers as a product over the pixels:
// out[m, n] = sum_k W[m, k] x[k, n] (+ bias[m]) (+ res[m, n]), optionally on the layer-norm
// of x over its channels (NORM 1) or Restormer's bias-free form (NORM 2), with the norm's
// weight and bias already folded into W and the bias (src/fuse.rs).
// Each thread reads vec4s of 4 consecutive pixels and computes PX such quads for MB output
// channels (register blocking: MB * PX vec4 accumulators). The weights depend only on the
// workgroup's channel block and the loop counter, the same for every thread, so the
// compiler loads each once per workgroup step (a broadcast on CPU drivers, the constant
// path on GPUs). Grid: x (continued along z past the device limit) over pixel blocks,
// y over channel blocks. A linear layer is the same product with one pixel.
//
// A value too large for one binding comes in segments of whole channels (segments.rs):
// the product then runs once per (chunk of output channels, chunk of input channels), the
// first input chunk writing (with bias and residual) and the others adding; a norm over
// more than one input chunk takes its per-pixel sums from `norm_stats`, run over every
// input chunk first.

override HAS_BIAS: bool = false;
override HAS_RES: bool = false;
override NORM: u32 = 0u;
override NORM_STATS: bool = false;

const PX: u32 = 4u;
const MB: u32 = 8u;

struct Params {
    m: u32,         // output channels of this chunk
    k: u32,         // input channels of this chunk
    n4: u32,        // pixel quads to compute
    xp4: u32,       // input plane pitch / 4
    op4: u32,       // output (and residual) plane pitch / 4
    eps: f32,       // NORM: the layer norm's epsilon
    m0: u32,        // first output channel of the chunk (weight row, bias index)
    k0: u32,        // first input channel of the chunk (weight column)
    kw: u32,        // weight row length: all input channels
    x_off: u32,     // channel of x's binding where the chunk's inputs start
    o_off: u32,     // channel of dst's binding where the chunk's outputs start
    r_off: u32,     // channel of res's binding likewise
    accumulate: u32,  // 1: add to dst (a later input chunk)
    k_total: u32,   // all input channels (the norm's channel count)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<S4>;
@group(0) @binding(2) var<storage, read> weight: array<S>;
@group(0) @binding(3) var<storage, read> bias: array<S>;
@group(0) @binding(4) var<storage, read> res: array<S4>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec4<f32>>;   // 3 planes: shift, sum, sum of squares
@group(0) @binding(6) var<storage, read_write> dst: array<S4>;

fn xq(k: u32, t: u32) -> vec4<f32> {
    return vec4<f32>(x[(p.x_off + k) * p.xp4 + t]);
}

// Per-pixel sums of this input chunk for a norm over several chunks: the first chunk
// writes the shift (its first channel, the value's channel 0) and its sums, the others add
// theirs. One thread per quad.
@compute @workgroup_size(64)
fn norm_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let t = (wid.z * nwg.x + wid.x) * 64u + li;
    if (t >= p.n4) { return; }
    var shift = xq(0u, t);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    if (p.accumulate != 0u) {
        shift = stats[t];
        s1 = stats[p.xp4 + t];
        s2 = stats[2u * p.xp4 + t];
    }
    for (var k = 0u; k < p.k; k = k + 1u) {
        let d = xq(k, t) - shift;
        s1 = s1 + d;
        s2 = fma(d, d, s2);
    }
    stats[t] = shift;
    stats[p.xp4 + t] = s1;
    stats[2u * p.xp4 + t] = s2;
}

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let t0 = ((wid.z * nwg.x + wid.x) * 64u + li) * PX;
    if (t0 >= p.n4) { return; }
    let m0 = wid.y * MB;
    // Quads past the end read the last one and are not stored; rows past M likewise.
    var cols: array<u32, PX>;
    for (var q = 0u; q < PX; q = q + 1u) { cols[q] = min(t0 + q, p.n4 - 1u); }
    var rows: array<u32, MB>;
    for (var j = 0u; j < MB; j = j + 1u) {
        rows[j] = (p.m0 + min(m0 + j, p.m - 1u)) * p.kw + p.k0;
    }
    // NORM: per-pixel mean and 1/sqrt(var + eps) over the input channels, summed about the
    // first channel's value (see norm.wgsl); x is normalized as it is read below.
    var mean: array<vec4<f32>, PX>;
    var rstd: array<vec4<f32>, PX>;
    if (NORM != 0u) {
        var shift: array<vec4<f32>, PX>;
        var s1: array<vec4<f32>, PX>;
        var s2: array<vec4<f32>, PX>;
        if (NORM_STATS) {
            for (var q = 0u; q < PX; q = q + 1u) {
                shift[q] = stats[cols[q]];
                s1[q] = stats[p.xp4 + cols[q]];
                s2[q] = stats[2u * p.xp4 + cols[q]];
            }
        } else {
            for (var q = 0u; q < PX; q = q + 1u) {
                shift[q] = xq(0u, cols[q]);
                s1[q] = vec4<f32>(0.0);
                s2[q] = vec4<f32>(0.0);
            }
            for (var k = 0u; k < p.k; k = k + 1u) {
                for (var q = 0u; q < PX; q = q + 1u) {
                    let d = xq(k, cols[q]) - shift[q];
                    s1[q] = s1[q] + d;
                    s2[q] = fma(d, d, s2[q]);
                }
            }
        }
        let inv_k = 1.0 / f32(p.k_total);
        for (var q = 0u; q < PX; q = q + 1u) {
            let md = s1[q] * inv_k;
            mean[q] = select(vec4<f32>(0.0), shift[q] + md, NORM == 1u);
            rstd[q] = inverseSqrt(max(s2[q] * inv_k - md * md, vec4<f32>(0.0)) + p.eps);
        }
    }
    var acc: array<vec4<f32>, 32>;   // MB * PX
    for (var i = 0u; i < MB * PX; i = i + 1u) { acc[i] = vec4<f32>(0.0); }
    for (var k = 0u; k < p.k; k = k + 1u) {
        var xv: array<vec4<f32>, PX>;
        for (var q = 0u; q < PX; q = q + 1u) { xv[q] = xq(k, cols[q]); }
        if (NORM != 0u) {
            for (var q = 0u; q < PX; q = q + 1u) { xv[q] = (xv[q] - mean[q]) * rstd[q]; }
        }
        for (var j = 0u; j < MB; j = j + 1u) {
            let w = vec4<f32>(f32(weight[rows[j] + k]));
            for (var q = 0u; q < PX; q = q + 1u) {
                acc[j * PX + q] = fma(w, xv[q], acc[j * PX + q]);
            }
        }
    }
    for (var j = 0u; j < MB; j = j + 1u) {
        let m = m0 + j;
        if (m >= p.m) { break; }
        var b = 0.0;
        if (HAS_BIAS && p.accumulate == 0u) { b = f32(bias[p.m0 + m]); }
        for (var q = 0u; q < PX; q = q + 1u) {
            let t = t0 + q;
            if (t >= p.n4) { break; }
            let o = (p.o_off + m) * p.op4 + t;
            var v = acc[j * PX + q] + b;
            if (p.accumulate != 0u) {
                v = v + vec4<f32>(dst[o]);
            } else if (HAS_RES) {
                v = v + vec4<f32>(res[(p.r_off + m) * p.op4 + t]);
            }
            dst[o] = S4(v);
        }
    }
}
