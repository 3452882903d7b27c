// 2D convolution, zero padding, any kernel size, stride and group count (the 3x3
// stride-1 padding-1 convolutions over rows of whole quads have faster kernels in
// conv3x3.wgsl). Grids are 3D ( x strips of output pixels along a row, y output row,
// z output channels, so no thread divides indices and every workgroup shares one row and
// one channel block: uniform branches, broadcast weight loads):
// `conv_blocked`: each thread computes 4 output channels x 8 consecutive output pixels
// (register blocking, no workgroup memory); used when the 4 channels share a group.
// `conv_rows`: each thread computes 8 consecutive output pixels of one channel (depthwise
// and other grouped convolutions).

struct Params {
    cin: u32,
    ih: u32,
    iw: u32,
    cout: u32,
    oh: u32,
    ow: u32,
    k: u32,
    stride: u32,
    pad: u32,
    cinpg: u32,     // input channels per group
    coutpg: u32,    // output channels per group
    has_bias: u32,
    ipitch: u32,    // input plane pitch (elements)
    opitch: u32,    // output plane pitch
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read> weight: array<S>;   // [cout, cinpg, k, k]
@group(0) @binding(3) var<storage, read> bias: array<S>;
@group(0) @binding(4) var<storage, read_write> dst: array<S>;

const PX: u32 = 8u;

// Input value at column `ix` of the row starting at `row`, zero outside [0, iw).
fn load_x(row: u32, ix: i32) -> f32 {
    let inside = ix >= 0 && ix < i32(p.iw);
    let v = f32(src[row + u32(clamp(ix, 0, i32(p.iw) - 1))]);
    return select(0.0, v, inside);
}

fn load8(row: u32, ix0: i32, s: i32) -> array<f32, 8> {
    return array<f32, 8>(
        load_x(row, ix0), load_x(row, ix0 + s), load_x(row, ix0 + 2 * s), load_x(row, ix0 + 3 * s),
        load_x(row, ix0 + 4 * s), load_x(row, ix0 + 5 * s), load_x(row, ix0 + 6 * s), load_x(row, ix0 + 7 * s));
}

fn store8(base: u32, ox0: u32, lo: vec4<f32>, hi: vec4<f32>, b: f32) {
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (ox0 + j < p.ow) { dst[base + ox0 + j] = S(lo[j] + b); }
        if (ox0 + 4u + j < p.ow) { dst[base + ox0 + 4u + j] = S(hi[j] + b); }
    }
}

@compute @workgroup_size(64)
fn conv_blocked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let ox0 = (wid.x * 64u + li) * PX;
    let oy = wid.y;
    let co0 = wid.z * 4u;
    if (ox0 >= p.ow) { return; }
    let g = co0 / p.coutpg;
    let kk = p.k * p.k;
    let wrow = p.cinpg * kk;
    let w0 = min(co0, p.cout - 1u) * wrow;
    let w1 = min(co0 + 1u, p.cout - 1u) * wrow;
    let w2 = min(co0 + 2u, p.cout - 1u) * wrow;
    let w3 = min(co0 + 3u, p.cout - 1u) * wrow;
    var a0 = vec4<f32>(0.0); var b0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    let s = i32(p.stride);
    let ix0 = i32(ox0 * p.stride) - i32(p.pad);
    for (var ky = 0u; ky < p.k; ky = ky + 1u) {
        let iy = i32(oy * p.stride + ky) - i32(p.pad);
        if (iy < 0 || iy >= i32(p.ih)) { continue; }
        for (var cl = 0u; cl < p.cinpg; cl = cl + 1u) {
            let row = (g * p.cinpg + cl) * p.ipitch + u32(iy) * p.iw;
            let wk = cl * kk + ky * p.k;
            for (var kx = 0u; kx < p.k; kx = kx + 1u) {
                let x = load8(row, ix0 + i32(kx), s);
                let lo = vec4<f32>(x[0], x[1], x[2], x[3]);
                let hi = vec4<f32>(x[4], x[5], x[6], x[7]);
                let wi = wk + kx;
                let v0 = f32(weight[w0 + wi]);
                let v1 = f32(weight[w1 + wi]);
                let v2 = f32(weight[w2 + wi]);
                let v3 = f32(weight[w3 + wi]);
                a0 = fma(vec4<f32>(v0), lo, a0); b0 = fma(vec4<f32>(v0), hi, b0);
                a1 = fma(vec4<f32>(v1), lo, a1); b1 = fma(vec4<f32>(v1), hi, b1);
                a2 = fma(vec4<f32>(v2), lo, a2); b2 = fma(vec4<f32>(v2), hi, b2);
                a3 = fma(vec4<f32>(v3), lo, a3); b3 = fma(vec4<f32>(v3), hi, b3);
            }
        }
    }
    var bv = vec4<f32>(0.0);
    if (p.has_bias != 0u) {
        bv = vec4<f32>(f32(bias[min(co0, p.cout - 1u)]), f32(bias[min(co0 + 1u, p.cout - 1u)]),
                       f32(bias[min(co0 + 2u, p.cout - 1u)]), f32(bias[min(co0 + 3u, p.cout - 1u)]));
    }
    let base = co0 * p.opitch + oy * p.ow;
    store8(base, ox0, a0, b0, bv.x);
    if (co0 + 1u < p.cout) { store8(base + p.opitch, ox0, a1, b1, bv.y); }
    if (co0 + 2u < p.cout) { store8(base + 2u * p.opitch, ox0, a2, b2, bv.z); }
    if (co0 + 3u < p.cout) { store8(base + 3u * p.opitch, ox0, a3, b3, bv.w); }
}

@compute @workgroup_size(64)
fn conv_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let ox0 = (wid.x * 64u + li) * PX;
    let oy = wid.y;
    let co = wid.z;
    if (ox0 >= p.ow) { return; }
    let g = co / p.coutpg;
    let kk = p.k * p.k;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    let s = i32(p.stride);
    let ix0 = i32(ox0 * p.stride) - i32(p.pad);
    for (var ky = 0u; ky < p.k; ky = ky + 1u) {
        let iy = i32(oy * p.stride + ky) - i32(p.pad);
        if (iy < 0 || iy >= i32(p.ih)) { continue; }
        for (var cl = 0u; cl < p.cinpg; cl = cl + 1u) {
            let row = (g * p.cinpg + cl) * p.ipitch + u32(iy) * p.iw;
            let wb = (co * p.cinpg + cl) * kk + ky * p.k;
            for (var kx = 0u; kx < p.k; kx = kx + 1u) {
                let x = load8(row, ix0 + i32(kx), s);
                let wv = vec4<f32>(f32(weight[wb + kx]));
                lo = fma(wv, vec4<f32>(x[0], x[1], x[2], x[3]), lo);
                hi = fma(wv, vec4<f32>(x[4], x[5], x[6], x[7]), hi);
            }
        }
    }
    var b = 0.0;
    if (p.has_bias != 0u) { b = f32(bias[co]); }
    store8(co * p.opitch + oy * p.ow, ox0, lo, hi, b);
}

