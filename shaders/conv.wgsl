// 2D convolution, zero padding, any kernel size, stride and group count.
// `conv_blocked`: each thread computes 4 output channels x 4 consecutive output pixels of
// one row (register blocking, no workgroup memory); used when the 4 channels share a group.
// `conv_generic`: one output per thread (depthwise and other grouped convolutions).

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
    tiles_x: u32,   // ceil(ow / 4) (conv_blocked)
    tiles_c: u32,   // ceil(cout / 4) (conv_blocked)
    n: u32,         // number of threads
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;   // [cout, cinpg, k, k]
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn conv_blocked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let t = linear_wg(wid, nwg) * 64u + li;
    if (t >= p.n) { return; }
    let tx = t % p.tiles_x;
    let rest = t / p.tiles_x;
    let oy = rest % p.oh;
    let tc = rest / p.oh;
    let ox0 = tx * 4u;
    let co0 = tc * 4u;
    let g = co0 / p.coutpg;
    let kk = p.k * p.k;
    // Weight row offsets of the 4 output channels (clamped inside the tensor).
    let wrow = p.cinpg * kk;
    let w0 = min(co0, p.cout - 1u) * wrow;
    let w1 = min(co0 + 1u, p.cout - 1u) * wrow;
    let w2 = min(co0 + 2u, p.cout - 1u) * wrow;
    let w3 = min(co0 + 3u, p.cout - 1u) * wrow;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let ix0 = i32(ox0 * p.stride) - i32(p.pad);
    let s = i32(p.stride);
    let iw = i32(p.iw);
    for (var cl = 0u; cl < p.cinpg; cl = cl + 1u) {
        let ci = g * p.cinpg + cl;
        for (var ky = 0u; ky < p.k; ky = ky + 1u) {
            let iy = i32(oy * p.stride + ky) - i32(p.pad);
            if (iy < 0 || iy >= i32(p.ih)) { continue; }
            let row = (ci * p.ih + u32(iy)) * p.iw;
            let wk = cl * kk + ky * p.k;
            for (var kx = 0u; kx < p.k; kx = kx + 1u) {
                let ix = ix0 + i32(kx);
                var x = vec4<f32>(0.0);
                if (ix >= 0 && ix < iw) { x.x = src[row + u32(ix)]; }
                if (ix + s >= 0 && ix + s < iw) { x.y = src[row + u32(ix + s)]; }
                if (ix + 2 * s >= 0 && ix + 2 * s < iw) { x.z = src[row + u32(ix + 2 * s)]; }
                if (ix + 3 * s >= 0 && ix + 3 * s < iw) { x.w = src[row + u32(ix + 3 * s)]; }
                let wi = wk + kx;
                acc0 = acc0 + weight[w0 + wi] * x;
                acc1 = acc1 + weight[w1 + wi] * x;
                acc2 = acc2 + weight[w2 + wi] * x;
                acc3 = acc3 + weight[w3 + wi] * x;
            }
        }
    }
    var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < 4u; r = r + 1u) {
        let co = co0 + r;
        if (co >= p.cout) { break; }
        var b = 0.0;
        if (p.has_bias != 0u) { b = bias[co]; }
        let base = (co * p.oh + oy) * p.ow;
        let a = accs[r];
        for (var j = 0u; j < 4u; j = j + 1u) {
            if (ox0 + j < p.ow) { dst[base + ox0 + j] = a[j] + b; }
        }
    }
}

@compute @workgroup_size(64)
fn conv_generic(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let t = linear_wg(wid, nwg) * 64u + li;
    if (t >= p.n) { return; }
    let ox = t % p.ow;
    let oy = (t / p.ow) % p.oh;
    let co = t / (p.ow * p.oh);
    let g = co / p.coutpg;
    let kk = p.k * p.k;
    var acc = 0.0;
    for (var cl = 0u; cl < p.cinpg; cl = cl + 1u) {
        let ci = g * p.cinpg + cl;
        let wbase = (co * p.cinpg + cl) * kk;
        for (var ky = 0u; ky < p.k; ky = ky + 1u) {
            let iy = i32(oy * p.stride + ky) - i32(p.pad);
            if (iy < 0 || iy >= i32(p.ih)) { continue; }
            let row = (ci * p.ih + u32(iy)) * p.iw;
            for (var kx = 0u; kx < p.k; kx = kx + 1u) {
                let ix = i32(ox * p.stride + kx) - i32(p.pad);
                if (ix < 0 || ix >= i32(p.iw)) { continue; }
                acc = acc + weight[wbase + ky * p.k + kx] * src[row + u32(ix)];
            }
        }
    }
    if (p.has_bias != 0u) { acc = acc + bias[co]; }
    dst[t] = acc;
}
