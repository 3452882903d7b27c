// 3x3 convolutions with stride 1 and zero padding 1 over rows that are whole quads (W a
// multiple of 4, as at the finer levels of a network that pads its input to a multiple
// of 8): each thread takes one quad of 4 pixels of several consecutive output rows and
// reads each input row once as a vec4, with its neighbours' edge pixels, for all 3 taps of
// every output row it feeds. The weights are the same for the whole workgroup.
// `dw3x3`: depthwise, RQ = 4 rows per thread; `dw3x3_gelu_gate`: the same over 2m
// channels, writing gelu(channel c) * channel c + m (the GDFN's gate, fused); `conv3x3`:
// dense, QN = 4 quads of one row x CB = 4 output channels per thread.

struct Params {
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    has_bias: u32,
    pitch: u32,     // plane pitch of input and output (same size)
    half: u32,      // dw3x3_gelu_gate: m, the channel offset of the gate's second half
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src4: array<S4>;
@group(0) @binding(2) var<storage, read> weight: array<S>;
@group(0) @binding(3) var<storage, read> bias: array<S>;
@group(0) @binding(4) var<storage, read_write> dst4: array<S4>;

// The quad of input row `y` (plane base `b4`, quads per row `w4`) and its two shifted
// copies: (left neighbour, x0, x1, x2) and (x1, x2, x3, right neighbour), zero outside.
fn row_taps(b4: u32, y: i32, q: u32, w4: u32) -> array<vec4<f32>, 3> {
    if (y < 0 || y >= i32(p.h)) {
        return array<vec4<f32>, 3>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    }
    let r = b4 + u32(y) * w4;
    let m = vec4<f32>(src4[r + q]);
    let l = select(0.0, f32(src4[r + max(q, 1u) - 1u].w), q > 0u);
    let rt = select(0.0, f32(src4[r + min(q + 1u, w4 - 1u)].x), q + 1u < w4);
    return array<vec4<f32>, 3>(vec4<f32>(l, m.xyz), m, vec4<f32>(m.yzw, rt));
}

const RQ: u32 = 4u;

// Depthwise 3x3: grid x over quads of a row, y over blocks of RQ rows, z over channels.
@compute @workgroup_size(64)
fn dw3x3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w4 = p.w / 4u;
    let q = wid.x * 64u + li;
    if (q >= w4) { return; }
    let y0 = wid.y * RQ;
    let c = wid.z;
    let ib4 = c * (p.pitch / 4u);
    var w: array<f32, 9>;
    for (var i = 0u; i < 9u; i = i + 1u) { w[i] = f32(weight[c * 9u + i]); }
    var acc: array<vec4<f32>, RQ>;
    var b = 0.0;
    if (p.has_bias != 0u) { b = f32(bias[c]); }
    for (var r = 0u; r < RQ; r = r + 1u) { acc[r] = vec4<f32>(b); }
    // Input rows y0-1 .. y0+RQ; row i feeds output rows i-2 .. i (kernel rows 2 .. 0).
    for (var i = 0u; i < RQ + 2u; i = i + 1u) {
        let t = row_taps(ib4, i32(y0 + i) - 1, q, w4);
        for (var ky = 0u; ky < 3u; ky = ky + 1u) {
            let r = i32(i) - i32(ky);
            if (r >= 0 && r < i32(RQ)) {
                let k = ky * 3u;
                acc[r] = fma(vec4<f32>(w[k]), t[0], fma(vec4<f32>(w[k + 1u]), t[1],
                         fma(vec4<f32>(w[k + 2u]), t[2], acc[r])));
            }
        }
    }
    let ob4 = c * (p.pitch / 4u);
    for (var r = 0u; r < RQ; r = r + 1u) {
        if (y0 + r < p.h) { dst4[ob4 + (y0 + r) * w4 + q] = S4(acc[r]); }
    }
}

const QN: u32 = 4u;
const CB: u32 = 4u;

// Dense 3x3: each thread computes QN consecutive quads of one output row for CB output
// channels. Per input channel and kernel row it reads QN + 2 quads once and forms the
// three shifted vectors of every quad from them. Grid x over groups of QN*64 quads of a
// row, y over rows, z over blocks of CB output channels.
@compute @workgroup_size(64)
fn conv3x3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w4 = p.w / 4u;
    let q0 = (wid.x * 64u + li) * QN;
    if (q0 >= w4) { return; }
    let y = wid.y;
    let co0 = wid.z * CB;
    var wrow: array<u32, CB>;
    for (var j = 0u; j < CB; j = j + 1u) { wrow[j] = min(co0 + j, p.cout - 1u) * p.cin * 9u; }
    var acc: array<vec4<f32>, 16>;   // CB * QN
    for (var i = 0u; i < CB * QN; i = i + 1u) { acc[i] = vec4<f32>(0.0); }
    let p4 = p.pitch / 4u;
    for (var ci = 0u; ci < p.cin; ci = ci + 1u) {
        for (var ky = 0u; ky < 3u; ky = ky + 1u) {
            let iy = i32(y + ky) - 1;
            if (iy < 0 || iy >= i32(p.h)) { continue; }
            let row = ci * p4 + u32(iy) * w4;
            // Quads q0 - 1 .. q0 + QN of the row, zero outside it.
            var v: array<vec4<f32>, 6>;   // QN + 2
            for (var i = 0u; i < QN + 2u; i = i + 1u) {
                let qq = i32(q0 + i) - 1;
                let inside = qq >= 0 && qq < i32(w4);
                v[i] = select(vec4<f32>(0.0), vec4<f32>(src4[row + u32(clamp(qq, 0, i32(w4) - 1))]), inside);
            }
            for (var i = 0u; i < QN; i = i + 1u) {
                let m = v[i + 1u];
                let l = vec4<f32>(v[i].w, m.xyz);
                let r = vec4<f32>(m.yzw, v[i + 2u].x);
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
        var b = 0.0;
        if (p.has_bias != 0u) { b = f32(bias[co]); }
        for (var i = 0u; i < QN; i = i + 1u) {
            if (q0 + i < w4) { dst4[co * p4 + y * w4 + q0 + i] = S4(acc[j * QN + i] + b); }
        }
    }
}

// Depthwise 3x3 over 2m channels fused with the gate: out[c] = gelu(dw[c]) * dw[c + m].
// Grid as dw3x3, z over the m output channels.
@compute @workgroup_size(64)
fn dw3x3_gelu_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let w4 = p.w / 4u;
    let q = wid.x * 64u + li;
    if (q >= w4) { return; }
    let y0 = wid.y * RQ;
    let c = wid.z;
    let c2 = c + p.half;
    let p4 = p.pitch / 4u;
    var wa: array<f32, 9>;
    var wb: array<f32, 9>;
    for (var i = 0u; i < 9u; i = i + 1u) {
        wa[i] = f32(weight[c * 9u + i]);
        wb[i] = f32(weight[c2 * 9u + i]);
    }
    var a: array<vec4<f32>, RQ>;
    var b: array<vec4<f32>, RQ>;
    var ba = 0.0;
    var bb = 0.0;
    if (p.has_bias != 0u) { ba = f32(bias[c]); bb = f32(bias[c2]); }
    for (var r = 0u; r < RQ; r = r + 1u) { a[r] = vec4<f32>(ba); b[r] = vec4<f32>(bb); }
    for (var i = 0u; i < RQ + 2u; i = i + 1u) {
        let y = i32(y0 + i) - 1;
        let ta = row_taps(c * p4, y, q, w4);
        let tb = row_taps(c2 * p4, y, q, w4);
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
        if (y0 + r < p.h) { dst4[c * p4 + (y0 + r) * w4 + q] = S4(gelu(a[r]) * b[r]); }
    }
}
