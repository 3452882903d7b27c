// Bilinear resize, align_corners = false, no antialias (PyTorch's upsample_bilinear2d).

struct Params {
    n: u32,
    c: u32,
    ih: u32,
    iw: u32,
    oh: u32,
    ow: u32,
    scale_h: f32,   // ih / oh
    scale_w: f32,   // iw / ow
    ipitch: u32,
    opitch: u32,
    a_off: u32,     // channel of src's binding where the dispatch's channels start
    o_off: u32,     // channel of dst's binding likewise
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<S>;

fn source_index(scale: f32, dst_index: u32) -> f32 {
    return max(scale * (f32(dst_index) + 0.5) - 0.5, 0.0);
}

@compute @workgroup_size(256)
fn bilinear(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let c = t / (p.ow * p.oh);
    let oy = (t / p.ow) % p.oh;
    let ox = t % p.ow;
    let hr = source_index(p.scale_h, oy);
    let wr = source_index(p.scale_w, ox);
    let h1 = min(u32(hr), p.ih - 1u);
    let w1 = min(u32(wr), p.iw - 1u);
    let h1p = select(0u, 1u, h1 < p.ih - 1u);
    let w1p = select(0u, 1u, w1 < p.iw - 1u);
    let l1h = hr - f32(h1);
    let l0h = 1.0 - l1h;
    let l1w = wr - f32(w1);
    let l0w = 1.0 - l1w;
    let base = (p.a_off + c) * p.ipitch;
    let r0 = base + h1 * p.iw;
    let r1 = base + (h1 + h1p) * p.iw;
    dst[(p.o_off + c) * p.opitch + oy * p.ow + ox] = S(
        l0h * (l0w * f32(src[r0 + w1]) + l1w * f32(src[r0 + w1 + w1p]))
      + l1h * (l0w * f32(src[r1 + w1]) + l1w * f32(src[r1 + w1 + w1p])));
}
