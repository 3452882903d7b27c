// Window attention. qkv has 3c channels (q, k, v). The map is conceptually reflect-padded
// (bottom/right, the format's periodic rule) to a multiple of the window w and split into
// w x w windows; per window and head (d = c / heads channels), A = softmax(q k^T / alpha[h])
// over the w*w keys (padded pixels included), out = A v, cropped back to H x W.
// One thread per (query pixel, head, chunk of CH output channels), online softmax, so no
// scratch memory is needed for any window size. The launcher compiles one variant per head
// width (it prepends `CH`, the output channels per thread, and `QMAX`, the widest head whose
// queries stay in registers): the scores are computed once per chunk, so fewer, wider
// chunks save work, as long as the registers hold them.
// q, k and v are bound separately (the same buffer, usually; three segments of one when
// the value is too large for one binding): the offsets say where the dispatch's first head
// starts in each. The bindings and their accessors (`q_at`, `k_at`, `v_at`, `out_put`) come
// from one of two files appended to this one: attention_window_bind.wgsl, one binding per
// operand, or attention_window_split.wgsl, where a head's planes are spread over up to four
// bindings (a value whose single head is over the binding limit: 4 megapixels in f32).

struct Params {
    head0: u32,     // first head of this dispatch (alpha index)
    h: u32,
    w: u32,
    q_off: u32,     // channel of q's binding where the first head's q starts
    d: u32,
    win: u32,
    chunks: u32,    // ceil(d / CH)
    pitch: u32,     // plane pitch of qkv and the output
    k_off: u32,
    v_off: u32,
    o_off: u32,     // channel of dst's binding where the first head's output starts
    // Planes per binding of q, k, v and the output when a head is split over several (see
    // attention_window_split.wgsl); the head width otherwise.
    q_piece: u32,
    k_piece: u32,
    v_piece: u32,
    o_piece: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

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
    let qb = p.q_off + head * p.d;     // first q channel of the head in qs
    let kb = p.k_off + head * p.d;     // first k channel in ks
    let vb = p.v_off + head * p.d;     // first v channel in vs
    let e0 = chunk * CH;
    let inv_alpha = 1.0 / f32(alpha[p.head0 + head]);
    // Heads of at most QMAX channels keep q (scaled by 1/alpha) in registers.
    let small = p.d <= QMAX;
    var q: array<f32, QMAX>;
    for (var e = 0u; e < QMAX; e = e + 1u) {
        q[e] = q_at(qb + min(e, p.d - 1u), pix) * inv_alpha;
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
                    let kv = k_at(kb + min(e, p.d - 1u), kp);
                    s = s + select(0.0, q[e] * kv, e < p.d);
                }
            } else {
                for (var e = 0u; e < p.d; e = e + 1u) {
                    s = s + q_at(qb + e, pix) * k_at(kb + e, kp);
                }
                s = s * inv_alpha;
            }
            let mn = max(m, s);
            let corr = exp(m - mn);
            let pe = exp(s - mn);
            l = l * corr + pe;
            for (var e = 0u; e < CH; e = e + 1u) {
                let ch = min(e0 + e, p.d - 1u);
                acc[e] = acc[e] * corr + pe * v_at(vb + ch, kp);
            }
            m = mn;
        }
    }
    let inv_l = 1.0 / l;
    for (var e = 0u; e < CH; e = e + 1u) {
        let ch = e0 + e;
        if (ch < p.d) {
            out_put(p.o_off + head * p.d + ch, pix, acc[e] * inv_l);
        }
    }
}

// Four horizontally adjacent queries per thread (4-aligned, so with a window width that is a
// multiple of 4 they share their window and its keys): each key and value read serves the
// four queries at once, as one vec4 of scores and of accumulators. The launcher takes this
// path when the window allows it and the head fits the registers (d <= QMAX); the variant
// prepends QMAX and CH as above. Measured on lavapipe: 1.5-3.4x the one-query kernel.
// Grid: x over 64-quad strips of a row, y over rows, z over (head, chunk).
@compute @workgroup_size(64)
fn window_attention4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let x0 = (wid.x * 64u + li) * 4u;
    let y = wid.y;
    if (x0 >= p.w) { return; }
    let head = wid.z / p.chunks;
    let chunk = wid.z % p.chunks;
    let hw = p.pitch;
    let row = y * p.w;
    let wy0 = (y / p.win) * p.win;
    let wx0 = (x0 / p.win) * p.win;
    let qb = p.q_off + head * p.d;
    let kb = p.k_off + head * p.d;
    let vb = p.v_off + head * p.d;
    let e0 = chunk * CH;
    let inv_alpha = 1.0 / f32(alpha[p.head0 + head]);
    // Queries past the row's end read its last pixel and are not stored.
    let last = p.w - 1u;
    let xs = vec4<u32>(x0, min(x0 + 1u, last), min(x0 + 2u, last), min(x0 + 3u, last)) + vec4<u32>(row);
    var q: array<vec4<f32>, QMAX>;
    for (var e = 0u; e < QMAX; e = e + 1u) {
        let ch = qb + min(e, p.d - 1u);
        q[e] = select(vec4<f32>(0.0),
                      vec4<f32>(q_at(ch, xs.x), q_at(ch, xs.y), q_at(ch, xs.z), q_at(ch, xs.w)) * inv_alpha,
                      vec4<bool>(e < p.d));
    }
    var m = vec4<f32>(-3.40282346e38);
    var l = vec4<f32>(0.0);
    var acc: array<vec4<f32>, CH>;
    for (var e = 0u; e < CH; e = e + 1u) {
        acc[e] = vec4<f32>(0.0);
    }
    for (var ky = 0u; ky < p.win; ky = ky + 1u) {
        let sy = reflect_index(wy0 + ky, p.h);
        for (var kx = 0u; kx < p.win; kx = kx + 1u) {
            let kp = sy * p.w + reflect_index(wx0 + kx, p.w);
            var s = vec4<f32>(0.0);
            for (var e = 0u; e < QMAX; e = e + 1u) {
                s = fma(q[e], vec4<f32>(k_at(kb + min(e, p.d - 1u), kp)), s);
            }
            let mn = max(m, s);
            let corr = exp(m - mn);
            let pe = exp(s - mn);
            l = l * corr + pe;
            for (var e = 0u; e < CH; e = e + 1u) {
                let ch = min(e0 + e, p.d - 1u);
                acc[e] = fma(acc[e], corr, pe * v_at(vb + ch, kp));
            }
            m = mn;
        }
    }
    let inv_l = 1.0 / l;
    for (var e = 0u; e < CH; e = e + 1u) {
        let ch = e0 + e;
        if (ch < p.d) {
            let v = acc[e] * inv_l;
            let oc = p.o_off + head * p.d + ch;
            for (var k = 0u; k < 4u; k = k + 1u) {
                if (x0 + k < p.w) { out_put(oc, row + x0 + k, v[k]); }
            }
        }
    }
}
