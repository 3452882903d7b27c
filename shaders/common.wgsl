// Shared helpers, prepended to every shader file by the runtime (src/ops/mod.rs), after the
// precision prelude that defines the storage types `S` (f32 or f16) and `S4` (vec4 of S).
// A value is C planes of `pitch` elements each, pitch = H*W rounded up to a multiple of 4,
// so every plane starts 16-byte aligned and kernels can read 4 pixels at once. Arithmetic is
// f32 whatever the storage type. Dispatches whose workgroup count exceeds 65535 are split
// into a 2D grid (x = 65535); `linear_wg` recovers the flat index.

fn linear_wg(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// Flat index of this thread for kernels with one thread per element and 256-wide groups.
fn thread_index(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return linear_wg(wid, nwg) * 256u + li;
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

// Exact (erf) GELU, as PyTorch's default; erf by Abramowitz & Stegun 7.1.26 (|error| <=
// 1.5e-7).
fn erf_approx(x: vec4<f32>) -> vec4<f32> {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
        + 0.254829592) * t;
    let y = 1.0 - poly * exp(-z * z);
    return select(y, -y, x < vec4<f32>(0.0));
}

fn gelu(x: vec4<f32>) -> vec4<f32> {
    return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
}
