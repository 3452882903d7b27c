// Data movement: pixel (un)shuffle, concat (copy into a channel slice), reflect pad,
// crop, mix_components. One thread per output element, except the concat copy (4 per
// thread: input and output planes have the same pitch). A dispatch covers a chunk of
// channels; a_off and o_off say where the chunk starts in the input's and the output's
// binding (segments of a value too large for one binding; 0 usually).

struct Params {
    n: u32,      // number of threads
    ic: u32,     // input channels
    ih: u32,
    iw: u32,
    oc: u32,
    oh: u32,
    ow: u32,
    arg: u32,    // pixel (un)shuffle: factor; mix: L
    ipitch: u32, // plane pitch of the input (mix_components: of `a`)
    opitch: u32, // plane pitch of the output
    a_off: u32,  // channel of a's binding where the chunk's input starts
    o_off: u32,  // channel of dst's binding where the chunk's output starts
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<S>;
@group(0) @binding(2) var<storage, read> b: array<S>;
@group(0) @binding(3) var<storage, read_write> dst: array<S>;

// (channel, row, column) of flat output element t of a C x oh x ow tensor.
fn out_coords(t: u32) -> vec3<u32> {
    return vec3<u32>(t / (p.ow * p.oh), (t / p.ow) % p.oh, t % p.ow);
}

fn out_index(o: vec3<u32>) -> u32 {
    return (p.o_off + o.x) * p.opitch + o.y * p.ow + o.z;
}

// out[c, y*r+i, x*r+j] = in[c*r*r + i*r + j, y, x]
@compute @workgroup_size(256)
fn pixel_shuffle(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let r = p.arg;
    let o = out_coords(t);
    let ic = o.x * r * r + (o.y % r) * r + (o.z % r);
    dst[out_index(o)] = a[(p.a_off + ic) * p.ipitch + (o.y / r) * p.iw + o.z / r];
}

// out[c*r*r + i*r + j, y, x] = in[c, y*r+i, x*r+j]
@compute @workgroup_size(256)
fn pixel_unshuffle(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let r = p.arg;
    let o = out_coords(t);
    let c = o.x / (r * r);
    let i = (o.x / r) % r;
    let j = o.x % r;
    dst[out_index(o)] = a[(p.a_off + c) * p.ipitch + (o.y * r + i) * p.iw + o.z * r + j];
}

// Copies the chunk's planes of `a` into dst (the concat); p.n = channels * pitch / 4
// threads of 4 elements (same pitch in and out).
@compute @workgroup_size(256)
fn copy_channels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let i = p.a_off * p.ipitch + t * 4u;
    let o = p.o_off * p.opitch + t * 4u;
    dst[o] = a[i];
    dst[o + 1u] = a[i + 1u];
    dst[o + 2u] = a[i + 2u];
    dst[o + 3u] = a[i + 3u];
}

// Bottom/right reflect padding (and, with oh <= ih, ow <= iw, cropping).
@compute @workgroup_size(256)
fn reflect_pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let o = out_coords(t);
    dst[out_index(o)] = a[(p.a_off + o.x) * p.ipitch + reflect_index(o.y, p.ih) * p.iw + reflect_index(o.z, p.iw)];
}

// Top-left oh x ow of the input.
@compute @workgroup_size(256)
fn crop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let o = out_coords(t);
    dst[out_index(o)] = a[(p.a_off + o.x) * p.ipitch + o.y * p.iw + o.z];
}

// out[d, s] = sum_j a[j] * b[j, d, s] for j < L (= p.arg); b is the dense [L, D, S, S]
// weight, `a` an L x 1 x 1 value (plane pitch p.ipitch).
@compute @workgroup_size(256)
fn mix_components(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    var acc = 0.0;
    for (var j = 0u; j < p.arg; j = j + 1u) {
        acc = acc + f32(a[j * p.ipitch]) * f32(b[j * p.n + t]);
    }
    let o = out_coords(t);
    dst[out_index(o)] = S(acc);
}
