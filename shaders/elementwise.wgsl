// Elementwise ops over whole values, 4 elements per thread: add, weighted_add, relu,
// sigmoid, and gelu_gate (exact erf GELU). The plane padding is processed like any
// element; nothing reads it as a pixel.

struct Params {
    n4: u32,     // output length / 4 (always whole: planes are padded to 4)
    half4: u32,  // gelu_gate: offset of the second half (m * pitch / 4)
    wa: f32,     // weighted_add: out = wa * a + wb * b
    wb: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<S4>;
@group(0) @binding(2) var<storage, read> b: array<S4>;
@group(0) @binding(3) var<storage, read_write> dst: array<S4>;

fn ld(v: S4) -> vec4<f32> {
    return vec4<f32>(v);
}

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    dst[i] = S4(ld(a[i]) + ld(b[i]));
}

@compute @workgroup_size(256)
fn weighted_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    dst[i] = S4(p.wa * ld(a[i]) + p.wb * ld(b[i]));
}

@compute @workgroup_size(256)
fn relu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    dst[i] = S4(max(ld(a[i]), vec4<f32>(0.0)));
}

@compute @workgroup_size(256)
fn sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    let x = ld(a[i]);
    // Stable in both tails: exp of a non-positive number only.
    let e = exp(-abs(x));
    dst[i] = S4(select(e / (1.0 + e), 1.0 / (1.0 + e), x >= vec4<f32>(0.0)));
}

// x has 2m channels; out = gelu(x[:m]) * x[m:], planes of equal pitch.
@compute @workgroup_size(256)
fn gelu_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    dst[i] = S4(gelu(ld(a[i])) * ld(a[i + p.half4]));
}
