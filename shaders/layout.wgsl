// Data movement: pixel (un)shuffle, concat (copy into a channel slice), reflect pad,
// crop, mix_components. One thread per output element (per input element for concat).

struct Params {
    n: u32,      // number of threads (elements written)
    ic: u32,     // input channels
    ih: u32,
    iw: u32,
    oc: u32,
    oh: u32,
    ow: u32,
    arg: u32,    // pixel (un)shuffle: factor; copy_channels: channel offset; mix: L
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// out[c, y*r+i, x*r+j] = in[c*r*r + i*r + j, y, x]
@compute @workgroup_size(256)
fn pixel_shuffle(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let r = p.arg;
    let o = chw_coords(t, p.oh, p.ow);
    let ox = o.z;
    let oy = o.y;
    let c = o.x;
    let ic = c * r * r + (oy % r) * r + (ox % r);
    dst[t] = a[(ic * p.ih + oy / r) * p.iw + ox / r];
}

// out[c*r*r + i*r + j, y, x] = in[c, y*r+i, x*r+j]
@compute @workgroup_size(256)
fn pixel_unshuffle(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let r = p.arg;
    let o = chw_coords(t, p.oh, p.ow);
    let ox = o.z;
    let oy = o.y;
    let oc = o.x;
    let c = oc / (r * r);
    let i = (oc / r) % r;
    let j = oc % r;
    dst[t] = a[(c * p.ih + oy * r + i) * p.iw + ox * r + j];
}

// Copies all of `a` (ic x H x W) into channels [arg, arg + ic) of dst.
@compute @workgroup_size(256)
fn copy_channels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    dst[p.arg * p.ih * p.iw + t] = a[t];
}

// Bottom/right reflect padding (and, with oh <= ih, ow <= iw, cropping).
@compute @workgroup_size(256)
fn reflect_pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let o = chw_coords(t, p.oh, p.ow);
    let ox = o.z;
    let oy = o.y;
    let c = o.x;
    dst[t] = a[(c * p.ih + reflect_index(oy, p.ih)) * p.iw + reflect_index(ox, p.iw)];
}

// Top-left oh x ow of the input.
@compute @workgroup_size(256)
fn crop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    let o = chw_coords(t, p.oh, p.ow);
    let ox = o.z;
    let oy = o.y;
    let c = o.x;
    dst[t] = a[(c * p.ih + oy) * p.iw + ox];
}

// out[i] = sum_j a[j] * b[j * n + i], j < L (= p.arg), n = D * S * S.
@compute @workgroup_size(256)
fn mix_components(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let t = thread_index(wid, nwg, li);
    if (t >= p.n) { return; }
    var acc = 0.0;
    for (var j = 0u; j < p.arg; j = j + 1u) {
        acc = acc + a[j] * b[j * p.n + t];
    }
    dst[t] = acc;
}
