// Pooling: max pool (padding is -inf, floor mode) and global average pool.

struct Params {
    n: u32,
    c: u32,
    ih: u32,
    iw: u32,
    oh: u32,
    ow: u32,
    k: u32,
    stride: u32,
    pad: u32,
    ipitch: u32,
    opitch: u32,
    a_off: u32,     // global_avg_pool: channel of src's binding where the chunk starts
    c0: u32,        // global_avg_pool: first channel of the chunk in the output
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<S>;

@compute @workgroup_size(256)
fn max_pool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let c = t / (p.ow * p.oh);
    let oy = (t / p.ow) % p.oh;
    let ox = t % p.ow;
    var m = -3.40282346e38;
    var seen = false;
    for (var ky = 0u; ky < p.k; ky = ky + 1u) {
        let iy = i32(oy * p.stride + ky) - i32(p.pad);
        if (iy < 0 || iy >= i32(p.ih)) { continue; }
        for (var kx = 0u; kx < p.k; kx = kx + 1u) {
            let ix = i32(ox * p.stride + kx) - i32(p.pad);
            if (ix < 0 || ix >= i32(p.iw)) { continue; }
            let v = f32(src[c * p.ipitch + u32(iy) * p.iw + u32(ix)]);
            // NaN propagates as in PyTorch.
            if (!seen || v > m || v != v) { m = v; }
            seen = true;
        }
    }
    dst[c * p.opitch + oy * p.ow + ox] = S(m);
}

var<workgroup> partial: array<f32, 256>;

// One workgroup per channel: mean over H x W.
@compute @workgroup_size(256)
fn global_avg_pool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
    let c = linear_wg(wid, nwg);
    let hw = p.ih * p.iw;
    var s = 0.0;
    if (c < p.c) {
        for (var i = li; i < hw; i = i + 256u) {
            s = s + f32(src[(p.a_off + c) * p.ipitch + i]);
        }
    }
    partial[li] = s;
    workgroupBarrier();
    for (var step = 128u; step > 0u; step = step >> 1u) {
        if (li < step) {
            partial[li] = partial[li] + partial[li + step];
        }
        workgroupBarrier();
    }
    if (li == 0u && c < p.c) {
        dst[(p.c0 + c) * p.opitch] = S(partial[0] / f32(hw));
    }
}
