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

// The 4 quads `c` of input channel k as the columns of a matrix.
fn xq4(k: u32, c: vec4<u32>) -> mat4x4<f32> {
    return mat4x4<f32>(xq(k, c.x), xq(k, c.y), xq(k, c.z), xq(k, c.w));
}

fn store_quad(m: u32, t: u32, acc: vec4<f32>) {
    let o = (p.o_off + m) * p.op4 + t;
    var v = acc;
    if (p.accumulate != 0u) {
        v = v + vec4<f32>(dst[o]);
    } else if (HAS_RES) {
        v = v + vec4<f32>(res[(p.r_off + m) * p.op4 + t]);
    }
    dst[o] = S4(v);
}

// Output channel m of the thread's quads t0.. (the columns of `a`), those that exist.
fn store_row(m: u32, t0: u32, a: mat4x4<f32>) {
    if (m >= p.m) { return; }
    var b = 0.0;
    if (HAS_BIAS && p.accumulate == 0u) { b = f32(bias[p.m0 + m]); }
    store_quad(m, t0, a[0] + b);
    if (t0 + 1u < p.n4) { store_quad(m, t0 + 1u, a[1] + b); }
    if (t0 + 2u < p.n4) { store_quad(m, t0 + 2u, a[2] + b); }
    if (t0 + 3u < p.n4) { store_quad(m, t0 + 3u, a[3] + b); }
}

// The MB x PX accumulators are eight 4x4 matrices (a row's 4 quads as columns) indexed only
// by constants: software drivers (SwiftShader, which runs the browser's WebGPU without a
// GPU) keep a dynamically indexed array in memory with a gather per lane, 30x slower.
@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let t0 = ((wid.z * nwg.x + wid.x) * 64u + li) * PX;
    if (t0 >= p.n4) { return; }
    let m0 = wid.y * MB;
    // Quads past the end read the last one and are not stored; rows past M likewise.
    let last = p.n4 - 1u;
    let cols = vec4<u32>(t0, min(t0 + 1u, last), min(t0 + 2u, last), min(t0 + 3u, last));
    let rm = p.m - 1u;
    let r0 = (p.m0 + min(m0, rm)) * p.kw + p.k0;
    let r1 = (p.m0 + min(m0 + 1u, rm)) * p.kw + p.k0;
    let r2 = (p.m0 + min(m0 + 2u, rm)) * p.kw + p.k0;
    let r3 = (p.m0 + min(m0 + 3u, rm)) * p.kw + p.k0;
    let r4 = (p.m0 + min(m0 + 4u, rm)) * p.kw + p.k0;
    let r5 = (p.m0 + min(m0 + 5u, rm)) * p.kw + p.k0;
    let r6 = (p.m0 + min(m0 + 6u, rm)) * p.kw + p.k0;
    let r7 = (p.m0 + min(m0 + 7u, rm)) * p.kw + p.k0;
    // NORM: per-pixel mean and 1/sqrt(var + eps) over the input channels, summed about the
    // first channel's value (see norm.wgsl); x is normalized as it is read below.
    var mean = mat4x4<f32>();
    var rstd = mat4x4<f32>();
    if (NORM != 0u) {
        var shift: mat4x4<f32>;
        var s1 = mat4x4<f32>();
        var s2 = mat4x4<f32>();
        if (NORM_STATS) {
            shift = mat4x4<f32>(stats[cols.x], stats[cols.y], stats[cols.z], stats[cols.w]);
            let o1 = p.xp4;
            s1 = mat4x4<f32>(stats[o1 + cols.x], stats[o1 + cols.y], stats[o1 + cols.z],
                             stats[o1 + cols.w]);
            let o2 = 2u * p.xp4;
            s2 = mat4x4<f32>(stats[o2 + cols.x], stats[o2 + cols.y], stats[o2 + cols.z],
                             stats[o2 + cols.w]);
        } else {
            shift = xq4(0u, cols);
            for (var k = 0u; k < p.k; k = k + 1u) {
                let d = xq4(k, cols) - shift;
                s1 = s1 + d;
                s2 = mat4x4<f32>(fma(d[0], d[0], s2[0]), fma(d[1], d[1], s2[1]),
                                 fma(d[2], d[2], s2[2]), fma(d[3], d[3], s2[3]));
            }
        }
        let inv_k = 1.0 / f32(p.k_total);
        let md = s1 * inv_k;
        if (NORM == 1u) { mean = shift + md; }
        let z = vec4<f32>(0.0);
        rstd = mat4x4<f32>(inverseSqrt(max(s2[0] * inv_k - md[0] * md[0], z) + p.eps),
                           inverseSqrt(max(s2[1] * inv_k - md[1] * md[1], z) + p.eps),
                           inverseSqrt(max(s2[2] * inv_k - md[2] * md[2], z) + p.eps),
                           inverseSqrt(max(s2[3] * inv_k - md[3] * md[3], z) + p.eps));
    }
    var a0 = mat4x4<f32>();
    var a1 = mat4x4<f32>();
    var a2 = mat4x4<f32>();
    var a3 = mat4x4<f32>();
    var a4 = mat4x4<f32>();
    var a5 = mat4x4<f32>();
    var a6 = mat4x4<f32>();
    var a7 = mat4x4<f32>();
    for (var k = 0u; k < p.k; k = k + 1u) {
        var xv = xq4(k, cols);
        if (NORM != 0u) {
            xv = mat4x4<f32>((xv[0] - mean[0]) * rstd[0], (xv[1] - mean[1]) * rstd[1],
                             (xv[2] - mean[2]) * rstd[2], (xv[3] - mean[3]) * rstd[3]);
        }
        a0 = a0 + xv * f32(weight[r0 + k]);
        a1 = a1 + xv * f32(weight[r1 + k]);
        a2 = a2 + xv * f32(weight[r2 + k]);
        a3 = a3 + xv * f32(weight[r3 + k]);
        a4 = a4 + xv * f32(weight[r4 + k]);
        a5 = a5 + xv * f32(weight[r5 + k]);
        a6 = a6 + xv * f32(weight[r6 + k]);
        a7 = a7 + xv * f32(weight[r7 + k]);
    }
    store_row(m0, t0, a0);
    store_row(m0 + 1u, t0, a1);
    store_row(m0 + 2u, t0, a2);
    store_row(m0 + 3u, t0, a3);
    store_row(m0 + 4u, t0, a4);
    store_row(m0 + 5u, t0, a5);
    store_row(m0 + 6u, t0, a6);
    store_row(m0 + 7u, t0, a7);
}
