// Window attention. qkv has 3c channels (q, k, v). The map is conceptually reflect-padded
// (bottom/right, the format's periodic rule) to a multiple of the window w and split into
// w x w windows; per window and head (d = c / heads channels), A = softmax(q k^T / alpha[h])
// over the w*w keys (padded pixels included), out = A v, cropped back to H x W.
// One thread per (query pixel, head, chunk of CH output channels), online softmax, so no
// scratch memory is needed for any window size. The launcher compiles one variant per head
// width (it prepends `CH`, the output channels per thread, and `QMAX`, the widest head whose
// queries stay in registers): the scores are computed once per chunk, so fewer, wider
// chunks save work, as long as the registers hold them.

struct Params {
    c: u32,
    h: u32,
    w: u32,
    heads: u32,
    d: u32,
    win: u32,
    chunks: u32,    // ceil(d / CH)
    pitch: u32,     // plane pitch of qkv and the output
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<S>;
@group(0) @binding(2) var<storage, read> alpha: array<S>;
@group(0) @binding(3) var<storage, read_write> dst: array<S>;

// Grid: x over 64-pixel strips of a row, y over rows, z over (head, chunk).
@compute @workgroup_size(64)
fn window_attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let x = wid.x * 64u + li;
    let y = wid.y;
    if (x >= p.w) { return; }
    let head = wid.z / p.chunks;
    let chunk = wid.z % p.chunks;
    let hw = p.pitch;
    let pix = y * p.w + x;
    let wy0 = (y / p.win) * p.win;
    let wx0 = (x / p.win) * p.win;
    let qb = head * p.d;               // first q channel of the head
    let kb = p.c + head * p.d;         // first k channel
    let vb = 2u * p.c + head * p.d;    // first v channel
    let e0 = chunk * CH;
    let inv_alpha = 1.0 / f32(alpha[head]);
    // Heads of at most QMAX channels keep q (scaled by 1/alpha) in registers.
    let small = p.d <= QMAX;
    var q: array<f32, QMAX>;
    for (var e = 0u; e < QMAX; e = e + 1u) {
        q[e] = f32(qkv[(qb + min(e, p.d - 1u)) * hw + pix]) * inv_alpha;
    }
    var m = -3.40282346e38;
    var l = 0.0;
    var acc: array<f32, CH>;
    for (var e = 0u; e < CH; e = e + 1u) {
        acc[e] = 0.0;
    }
    for (var ky = 0u; ky < p.win; ky = ky + 1u) {
        let sy = reflect_index(wy0 + ky, p.h);
        for (var kx = 0u; kx < p.win; kx = kx + 1u) {
            let sx = reflect_index(wx0 + kx, p.w);
            let kp = sy * p.w + sx;
            var s = 0.0;
            if (small) {
                for (var e = 0u; e < QMAX; e = e + 1u) {
                    let kv = f32(qkv[(kb + min(e, p.d - 1u)) * hw + kp]);
                    s = s + select(0.0, q[e] * kv, e < p.d);
                }
            } else {
                for (var e = 0u; e < p.d; e = e + 1u) {
                    s = s + f32(qkv[(qb + e) * hw + pix]) * f32(qkv[(kb + e) * hw + kp]);
                }
                s = s * inv_alpha;
            }
            let mn = max(m, s);
            let corr = exp(m - mn);
            let pe = exp(s - mn);
            l = l * corr + pe;
            for (var e = 0u; e < CH; e = e + 1u) {
                let ch = min(e0 + e, p.d - 1u);
                acc[e] = acc[e] * corr + pe * f32(qkv[(vb + ch) * hw + kp]);
            }
            m = mn;
        }
    }
    let inv_l = 1.0 / l;
    for (var e = 0u; e < CH; e = e + 1u) {
        let ch = e0 + e;
        if (ch < p.d) {
            dst[(head * p.d + ch) * hw + pix] = S(acc[e] * inv_l);
        }
    }
}
