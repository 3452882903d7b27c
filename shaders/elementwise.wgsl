// Elementwise ops, 4 elements per thread, over one chunk of whole channels (padding
// included: nothing reads it as a pixel): add, weighted_add, relu, sigmoid, and gelu_gate
// (exact erf GELU of the first half times the second half). Each operand is bound as the
// segment holding the chunk; the offsets say where the chunk starts in it.

struct Params {
    n4: u32,     // quads in the chunk: channels * pitch / 4
    a_off: u32,  // offset of the chunk in a's binding, in quads
    b_off: u32,  // in b's (gelu_gate: the second half's channels)
    o_off: u32,  // in dst's
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
    dst[p.o_off + i] = S4(ld(a[p.a_off + i]) + ld(b[p.b_off + i]));
}

@compute @workgroup_size(256)
fn weighted_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    dst[p.o_off + i] = S4(p.wa * ld(a[p.a_off + i]) + p.wb * ld(b[p.b_off + i]));
}

@compute @workgroup_size(256)
fn relu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    dst[p.o_off + i] = S4(max(ld(a[p.a_off + i]), vec4<f32>(0.0)));
}

@compute @workgroup_size(256)
fn sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    let x = ld(a[p.a_off + i]);
    // Stable in both tails: exp of a non-positive number only.
    let e = exp(-abs(x));
    dst[p.o_off + i] = S4(select(e / (1.0 + e), 1.0 / (1.0 + e), x >= vec4<f32>(0.0)));
}

// x has 2m channels; out = gelu(x[:m]) * x[m:]: a is bound at the first half, b at the
// second (planes of equal pitch).
@compute @workgroup_size(256)
fn gelu_gate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let i = thread_index(wid, nwg, li);
    if (i >= p.n4) { return; }
    dst[p.o_off + i] = S4(gelu(ld(a[p.a_off + i])) * ld(b[p.b_off + i]));
}
