// Shared helpers, prepended to every shader file by the runtime (src/ops/mod.rs).
// Tensors are batch-1 C x H x W f32 arrays in CHW order. Dispatches whose workgroup count
// exceeds 65535 are split into a 2D grid (x = 65535); `linear_wg` recovers the flat index.

fn linear_wg(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// Flat index of this thread for kernels with one thread per element and 256-wide groups.
fn thread_index(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return linear_wg(wid, nwg) * 256u + li;
}

// (channel, row, column) of flat element t of a C x h x w tensor.
fn chw_coords(t: u32, h: u32, w: u32) -> vec3<u32> {
    return vec3<u32>(t / (w * h), (t / w) % h, t % w);
}

// The model format's reflect rule: periodic reflection, valid for any padding size.
fn reflect_index(i: u32, n: u32) -> u32 {
    if (n <= 1u) {
        return 0u;
    }
    let per = 2u * (n - 1u);
    let j = i % per;
    return select(per - j, j, j < n);
}
