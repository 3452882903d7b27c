// Softmax over channels at each pixel.

struct Params {
    c: u32,
    hw: u32,
    pitch: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<S>;

@compute @workgroup_size(256)
fn softmax_channels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.hw) { return; }
    var m = -3.40282346e38;
    for (var c = 0u; c < p.c; c = c + 1u) {
        m = max(m, f32(src[c * p.pitch + i]));
    }
    var s = 0.0;
    for (var c = 0u; c < p.c; c = c + 1u) {
        s = s + exp(f32(src[c * p.pitch + i]) - m);
    }
    let inv = 1.0 / s;
    for (var c = 0u; c < p.c; c = c + 1u) {
        dst[c * p.pitch + i] = S(exp(f32(src[c * p.pitch + i]) - m) * inv);
    }
}
