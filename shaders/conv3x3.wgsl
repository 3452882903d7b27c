// 3x3 convolutions with stride 1 and zero padding 1, any width: each thread computes 4
// consecutive pixels (a quad) of an output row, reading each input row it needs once, as
// the 6 pixels from one left of the quad to one right of it, and forming the quad's three
// shifted vectors from them. The weights are the same for the whole workgroup.
// `dw3x3`: depthwise, RQ = 4 rows of one quad per thread; `dw3x3_gelu_gate`: the same over
// 2m channels, writing gelu(channel c) * channel c + m (the GDFN's gate, fused); `conv3x3`:
// dense, QN = 4 quads of one row x CB = 4 output channels per thread.
// Measured on lavapipe (481x321 input, small model levels): dense 10-14 GFLOP/s, 2-8x the
// general kernel of conv.wgsl.
// Channels come in chunks that lie in one segment of each value (segments.rs): the
// offsets say where a chunk starts in each binding, c0/ci0 where it starts in the weights;
// a dense convolution over several input chunks adds the later ones to the first's result.

struct Params {
    cin: u32,       // input channels of the chunk (dense)
    h: u32,
    w: u32,
    cout: u32,      // output channels of the chunk
    has_bias: u32,
    pitch: u32,     // plane pitch of input and output (same size)
    half: u32,      // dw3x3_gelu_gate: m, the channel offset of the gate's second half
    c0: u32,        // first output channel of the chunk (weight row, bias index)
    ci0: u32,       // dense: first input channel of the chunk (weight column)
    cin_all: u32,   // dense: input channels of the whole value (weight row length / 9)
    x_off: u32,     // channel of src's binding where the chunk starts
    x2_off: u32,    // dw3x3_gelu_gate: channel of src2's binding for the second half
    o_off: u32,     // channel of dst's binding where the chunk starts
    accumulate: u32,  // dense: 1 to add to dst (a later input chunk)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read> src2: array<S>;   // dw3x3_gelu_gate's second half
@group(0) @binding(3) var<storage, read> weight: array<S>;
@group(0) @binding(4) var<storage, read> bias: array<S>;
@group(0) @binding(5) var<storage, read_write> dst: array<S>;

// Pixel x of the row starting at `row`, zero outside [0, w).
fn px(row: u32, x: i32) -> f32 {
    let inside = x >= 0 && x < i32(p.w);
    return select(0.0, f32(src[row + u32(clamp(x, 0, i32(p.w) - 1))]), inside);
}

fn px2(row: u32, x: i32) -> f32 {
    let inside = x >= 0 && x < i32(p.w);
    return select(0.0, f32(src2[row + u32(clamp(x, 0, i32(p.w) - 1))]), inside);
}

fn taps(a: f32, b: f32, c: f32, d: f32, e: f32, f: f32) -> array<vec4<f32>, 3> {
    return array<vec4<f32>, 3>(vec4<f32>(a, b, c, d), vec4<f32>(b, c, d, e), vec4<f32>(c, d, e, f));
}

const ZERO_TAPS = array<vec4<f32>, 3>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));

// The three shifted quads (x0-1.., x0.., x0+1..) of row y of plane `base` of src (of src2
// for row_taps2), zero outside.
fn row_taps(base: u32, y: i32, x0: i32) -> array<vec4<f32>, 3> {
    if (y < 0 || y >= i32(p.h)) {
        return ZERO_TAPS;
    }
    let r = base + u32(y) * p.w;
    return taps(px(r, x0 - 1), px(r, x0), px(r, x0 + 1), px(r, x0 + 2), px(r, x0 + 3), px(r, x0 + 4));
}

fn row_taps2(base: u32, y: i32, x0: i32) -> array<vec4<f32>, 3> {
    if (y < 0 || y >= i32(p.h)) {
        return ZERO_TAPS;
    }
    let r = base + u32(y) * p.w;
    return taps(px2(r, x0 - 1), px2(r, x0), px2(r, x0 + 1), px2(r, x0 + 2), px2(r, x0 + 3), px2(r, x0 + 4));
}

// Stores the lanes of quad `v` at row y, pixels x0.. that lie inside the row.
fn store_quad(base: u32, y: u32, x0: u32, v: vec4<f32>) {
    for (var e = 0u; e < 4u; e = e + 1u) {
        if (x0 + e < p.w) { dst[base + y * p.w + x0 + e] = S(v[e]); }
    }
}

const RQ: u32 = 4u;

// Quads per row.
fn row_quads() -> u32 {
    return (p.w + 3u) / 4u;
}

// Depthwise: threads numbered over (block of RQ rows, quad), so a narrow image still fills
// the workgroup; grid x (and y past the device limit) over those, z over channels.
@compute @workgroup_size(64)
fn dw3x3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let t = (wid.y * nwg.x + wid.x) * 64u + li;
    let rq = row_quads();
    let y0 = (t / rq) * RQ;
    if (y0 >= p.h) { return; }
    let q = t % rq;
    let x0 = i32(q * 4u);
    let c = p.c0 + wid.z;
    let base = (p.x_off + wid.z) * p.pitch;
    var w: array<f32, 9>;
    for (var i = 0u; i < 9u; i = i + 1u) { w[i] = f32(weight[c * 9u + i]); }
    var b = 0.0;
    if (p.has_bias != 0u) { b = f32(bias[c]); }
    var acc: array<vec4<f32>, RQ>;
    for (var r = 0u; r < RQ; r = r + 1u) { acc[r] = vec4<f32>(b); }
    // Input rows y0-1 .. y0+RQ; row i feeds output rows i-2 .. i (kernel rows 2 .. 0).
    for (var i = 0u; i < RQ + 2u; i = i + 1u) {
        let t = row_taps(base, i32(y0 + i) - 1, x0);
        for (var ky = 0u; ky < 3u; ky = ky + 1u) {
            let r = i32(i) - i32(ky);
            if (r >= 0 && r < i32(RQ)) {
                let k = ky * 3u;
                acc[r] = fma(vec4<f32>(w[k]), t[0], fma(vec4<f32>(w[k + 1u]), t[1],
                         fma(vec4<f32>(w[k + 2u]), t[2], acc[r])));
            }
        }
    }
    let obase = (p.o_off + wid.z) * p.pitch;
    for (var r = 0u; r < RQ; r = r + 1u) {
        if (y0 + r < p.h) { store_quad(obase, y0 + r, q * 4u, acc[r]); }
    }
}

// Depthwise over 2m channels fused with the gate: out[c] = gelu(dw[c]) * dw[c + m].
// Grid as dw3x3, z over the m output channels.
@compute @workgroup_size(64)
fn dw3x3_gelu_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
    let t = (wid.y * nwg.x + wid.x) * 64u + li;
    let rq = row_quads();
    let y0 = (t / rq) * RQ;
    if (y0 >= p.h) { return; }
    let q = t % rq;
    let x0 = i32(q * 4u);
    let c = p.c0 + wid.z;
    let c2 = c + p.half;
    var wa: array<f32, 9>;
    var wb: array<f32, 9>;
    for (var i = 0u; i < 9u; i = i + 1u) {
        wa[i] = f32(weight[c * 9u + i]);
        wb[i] = f32(weight[c2 * 9u + i]);
    }
    var ba = 0.0;
    var bb = 0.0;
    if (p.has_bias != 0u) { ba = f32(bias[c]); bb = f32(bias[c2]); }
    var a: array<vec4<f32>, RQ>;
    var b: array<vec4<f32>, RQ>;
    for (var r = 0u; r < RQ; r = r + 1u) { a[r] = vec4<f32>(ba); b[r] = vec4<f32>(bb); }
    for (var i = 0u; i < RQ + 2u; i = i + 1u) {
        let y = i32(y0 + i) - 1;
        let ta = row_taps((p.x_off + wid.z) * p.pitch, y, x0);
        let tb = row_taps2((p.x2_off + wid.z) * p.pitch, y, x0);
        for (var ky = 0u; ky < 3u; ky = ky + 1u) {
            let r = i32(i) - i32(ky);
            if (r >= 0 && r < i32(RQ)) {
                let k = ky * 3u;
                a[r] = fma(vec4<f32>(wa[k]), ta[0], fma(vec4<f32>(wa[k + 1u]), ta[1],
                       fma(vec4<f32>(wa[k + 2u]), ta[2], a[r])));
                b[r] = fma(vec4<f32>(wb[k]), tb[0], fma(vec4<f32>(wb[k + 1u]), tb[1],
                       fma(vec4<f32>(wb[k + 2u]), tb[2], b[r])));
            }
        }
    }
    for (var r = 0u; r < RQ; r = r + 1u) {
        if (y0 + r < p.h) {
            store_quad((p.o_off + wid.z) * p.pitch, y0 + r, q * 4u, gelu(a[r]) * b[r]);
        }
    }
}

const QN: u32 = 4u;
const CB: u32 = 4u;

// Dense: each thread computes QN consecutive quads of one output row for CB output
// channels; per input channel and kernel row it reads the 4*QN + 2 pixels once. Threads are
// numbered over (row, group of QN quads); grid x (and y past the device limit) over those,
// z over blocks of CB output channels.
@compute @workgroup_size(64)
fn conv3x3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let t = (wid.y * nwg.x + wid.x) * 64u + li;
    let groups = (row_quads() + QN - 1u) / QN;
    let y = t / groups;
    if (y >= p.h) { return; }
    let q0 = (t % groups) * QN;
    let x0 = i32(q0 * 4u);
    let co0 = wid.z * CB;
    var wrow: array<u32, CB>;
    for (var j = 0u; j < CB; j = j + 1u) {
        wrow[j] = ((p.c0 + min(co0 + j, p.cout - 1u)) * p.cin_all + p.ci0) * 9u;
    }
    var acc: array<vec4<f32>, 16>;   // CB * QN
    for (var i = 0u; i < CB * QN; i = i + 1u) { acc[i] = vec4<f32>(0.0); }
    for (var ci = 0u; ci < p.cin; ci = ci + 1u) {
        for (var ky = 0u; ky < 3u; ky = ky + 1u) {
            let iy = i32(y + ky) - 1;
            if (iy < 0 || iy >= i32(p.h)) { continue; }
            let row = (p.x_off + ci) * p.pitch + u32(iy) * p.w;
            var v: array<f32, 18>;   // 4 * QN + 2
            for (var i = 0; i < 18; i = i + 1) { v[i] = px(row, x0 - 1 + i); }
            for (var i = 0u; i < QN; i = i + 1u) {
                let o = 4u * i;
                let l = vec4<f32>(v[o], v[o + 1u], v[o + 2u], v[o + 3u]);
                let m = vec4<f32>(v[o + 1u], v[o + 2u], v[o + 3u], v[o + 4u]);
                let r = vec4<f32>(v[o + 2u], v[o + 3u], v[o + 4u], v[o + 5u]);
                for (var j = 0u; j < CB; j = j + 1u) {
                    let k = wrow[j] + ci * 9u + ky * 3u;
                    acc[j * QN + i] = fma(vec4<f32>(f32(weight[k])), l,
                                      fma(vec4<f32>(f32(weight[k + 1u])), m,
                                      fma(vec4<f32>(f32(weight[k + 2u])), r, acc[j * QN + i])));
                }
            }
        }
    }
    for (var j = 0u; j < CB; j = j + 1u) {
        let co = co0 + j;
        if (co >= p.cout) { break; }
        let ob = (p.o_off + co) * p.pitch;
        var b = 0.0;
        if (p.has_bias != 0u && p.accumulate == 0u) { b = f32(bias[p.c0 + co]); }
        for (var i = 0u; i < QN; i = i + 1u) {
            var v = acc[j * QN + i] + b;
            if (p.accumulate != 0u) {
                let x = (q0 + i) * 4u;
                for (var e = 0u; e < 4u; e = e + 1u) {
                    if (x + e < p.w) { v[e] = v[e] + f32(dst[ob + y * p.w + x + e]); }
                }
            }
            store_quad(ob, y, (q0 + i) * 4u, v);
        }
    }
}
