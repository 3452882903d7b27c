// Channel ("transposed") attention, Restormer MDTA. qkv has 3c channels: q, k, v.
// Per head (d = c / heads channels), q and k rows are L2-normalized over the N = H*W
// pixels, A = softmax(q k^T * temperature[h]) row-wise (d x d), out = A v.
// Four passes, each reading the pixels as quads (the plane padding masked out):
// `l2norm`: the norms of the 2c q and k rows, one workgroup per row;
// `gram`: partial q k^T over chunks of pixels, one workgroup per (chunk, head, 4x4 block of
//   entries), so every q and k quad read feeds 4 products;
// `softmax_rows`: sums the chunks, divides by the norms, scales by the temperature and
//   takes the row softmax, one thread per row of A;
// `apply`: out = A v, PX quads x MB rows of a head per thread, A the same for the workgroup.
// Each dispatch covers a run of heads (all of them, usually; fewer when the value is split
// into segments too large for one binding): q, k and v are bound separately and the
// offsets say where the run's first head starts in each binding. The scratch is indexed
// by the head's number in the whole node. The q, k, v and output bindings and their
// accessors (`q_quad`, `k_quad`, `v_quad`, `out_put`) come from one of two files appended to
// this one: attention_channel_bind.wgsl (one binding each) or attention_channel_split.wgsl
// (a head spread over up to four bindings, one head per dispatch).

struct Params {
    c: u32,
    n: u32,        // pixels, H * W
    heads: u32,    // heads of the node
    d: u32,        // c / heads
    pitch4: u32,   // plane pitch / 4
    chunks: u32,   // pixel chunks of the gram pass
    chunk4: u32,   // quads per chunk
    blocks: u32,   // ceil(d / IB): entry blocks per side
    head0: u32,    // first head of this dispatch
    n_heads: u32,  // heads of this dispatch
    q_off: u32,    // channel of q's binding where head0's q starts
    k_off: u32,
    v_off: u32,
    o_off: u32,    // channel of dst's binding where head0's output starts
    // Planes per binding of q, k, v and the output when a head is split over several (see
    // attention_channel_split.wgsl); the head width otherwise.
    q_piece: u32,
    k_piece: u32,
    v_piece: u32,
    o_piece: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const IB: u32 = 4u;
const PX: u32 = 4u;
const MB: u32 = 8u;

var<workgroup> red: array<f32, 1024>;   // 64 threads x IB * IB

// Lanes of quad t past the last pixel, zeroed.
fn mask(v: vec4<f32>, t: u32) -> vec4<f32> {
    let first = t * 4u;
    if (first + 4u <= p.n) {
        return v;
    }
    let lane = vec4<u32>(first, first + 1u, first + 2u, first + 3u);
    return select(vec4<f32>(0.0), v, lane < vec4<u32>(p.n));
}

// Quad t of row `row` of the q (k) binding, masked.
fn qquad(row: u32, t: u32) -> vec4<f32> {
    return mask(q_quad(row, t), t);
}

fn kquad(row: u32, t: u32) -> vec4<f32> {
    return mask(k_quad(row, t), t);
}

// Sums red[li * width + k] over the 64 threads into red[k], k < width.
fn reduce(li: u32, width: u32) {
    workgroupBarrier();
    for (var step = 32u; step > 0u; step = step >> 1u) {
        if (li < step) {
            for (var k = 0u; k < width; k = k + 1u) {
                red[li * width + k] = red[li * width + k] + red[(li + step) * width + k];
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(64)
fn l2norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    // Rows of this dispatch: its heads' q rows, then their k rows.
    let r = linear_wg(wid, nwg);
    let hd = p.n_heads * p.d;
    let quads = (p.n + 3u) / 4u;
    var s = vec4<f32>(0.0);
    if (r < 2u * hd) {
        for (var t = li; t < quads; t = t + 64u) {
            var v: vec4<f32>;
            if (r < hd) {
                v = qquad(p.q_off + r, t);
            } else {
                v = kquad(p.k_off + r - hd, t);
            }
            s = fma(v, v, s);
        }
    }
    red[li] = s.x + s.y + s.z + s.w;
    reduce(li, 1u);
    if (li == 0u && r < 2u * hd) {
        let global = select(p.c + p.head0 * p.d + r - hd, p.head0 * p.d + r, r < hd);
        norms[global] = max(sqrt(red[0]), 1e-12);
    }
}

// Grid: x over chunks, y over (head, i block, j block).
@compute @workgroup_size(64)
fn gram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let chunk = wid.x;
    let jb = wid.y % p.blocks;
    let ib = (wid.y / p.blocks) % p.blocks;
    let hl = wid.y / (p.blocks * p.blocks);   // head within the dispatch
    let h = p.head0 + hl;
    var qrow: array<u32, IB>;
    var krow: array<u32, IB>;
    for (var a = 0u; a < IB; a = a + 1u) {
        qrow[a] = p.q_off + hl * p.d + min(ib * IB + a, p.d - 1u);
        krow[a] = p.k_off + hl * p.d + min(jb * IB + a, p.d - 1u);
    }
    var acc: array<vec4<f32>, 16>;   // IB * IB
    for (var e = 0u; e < IB * IB; e = e + 1u) { acc[e] = vec4<f32>(0.0); }
    let quads = (p.n + 3u) / 4u;
    let end = min((chunk + 1u) * p.chunk4, quads);
    for (var t = chunk * p.chunk4 + li; t < end; t = t + 64u) {
        var qv: array<vec4<f32>, IB>;
        var kv: array<vec4<f32>, IB>;
        for (var a = 0u; a < IB; a = a + 1u) {
            qv[a] = qquad(qrow[a], t);
            kv[a] = kquad(krow[a], t);
        }
        for (var a = 0u; a < IB; a = a + 1u) {
            for (var b = 0u; b < IB; b = b + 1u) {
                acc[a * IB + b] = fma(qv[a], kv[b], acc[a * IB + b]);
            }
        }
    }
    for (var e = 0u; e < IB * IB; e = e + 1u) {
        let v = acc[e];
        red[li * IB * IB + e] = v.x + v.y + v.z + v.w;
    }
    reduce(li, IB * IB);
    if (li < IB * IB) {
        let i = ib * IB + li / IB;
        let j = jb * IB + li % IB;
        if (i < p.d && j < p.d) {
            partial[((chunk * p.heads + h) * p.d + i) * p.d + j] = red[li];
        }
    }
}

// One thread per row of A (heads * d rows), written in place of the first chunk's sums.
@compute @workgroup_size(64)
fn softmax_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let row = p.head0 * p.d + linear_wg(wid, nwg) * 64u + li;
    if (row >= (p.head0 + p.n_heads) * p.d) { return; }
    let h = row / p.d;
    let i = row % p.d;
    let scale = f32(temperature[h]) / norms[h * p.d + i];
    let base = row * p.d;
    let stride = p.heads * p.d * p.d;
    var m = -3.40282346e38;
    for (var j = 0u; j < p.d; j = j + 1u) {
        var g = 0.0;
        for (var k = 0u; k < p.chunks; k = k + 1u) {
            g = g + partial[k * stride + base + j];
        }
        let logit = g * scale / norms[p.c + h * p.d + j];
        attn[base + j] = logit;
        m = max(m, logit);
    }
    var s = 0.0;
    for (var j = 0u; j < p.d; j = j + 1u) {
        let e = exp(attn[base + j] - m);
        attn[base + j] = e;
        s = s + e;
    }
    let inv = 1.0 / s;
    for (var j = 0u; j < p.d; j = j + 1u) {
        attn[base + j] = attn[base + j] * inv;
    }
}

// out[h*d + i] = sum_j A[h, i, j] v[h*d + j]. Grid: x over groups of 64 * PX quads,
// y over (head, block of MB rows).
@compute @workgroup_size(64)
fn apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t0 = (wid.x * 64u + li) * PX;
    let quads = p.pitch4;
    if (t0 >= quads) { return; }
    let rows_per_head = (p.d + MB - 1u) / MB;
    let hl = wid.y / rows_per_head;   // head within the dispatch
    let h = p.head0 + hl;
    let i0 = (wid.y % rows_per_head) * MB;
    var cols: array<u32, PX>;
    for (var q = 0u; q < PX; q = q + 1u) { cols[q] = min(t0 + q, quads - 1u); }
    var arow: array<u32, MB>;
    for (var r = 0u; r < MB; r = r + 1u) { arow[r] = (h * p.d + min(i0 + r, p.d - 1u)) * p.d; }
    var acc: array<vec4<f32>, 32>;   // MB * PX
    for (var e = 0u; e < MB * PX; e = e + 1u) { acc[e] = vec4<f32>(0.0); }
    let vbase = p.v_off + hl * p.d;
    for (var j = 0u; j < p.d; j = j + 1u) {
        var vv: array<vec4<f32>, PX>;
        for (var q = 0u; q < PX; q = q + 1u) { vv[q] = v_quad(vbase + j, cols[q]); }
        for (var r = 0u; r < MB; r = r + 1u) {
            let a = vec4<f32>(attn[arow[r] + j]);
            for (var q = 0u; q < PX; q = q + 1u) {
                acc[r * PX + q] = fma(a, vv[q], acc[r * PX + q]);
            }
        }
    }
    for (var r = 0u; r < MB; r = r + 1u) {
        let i = i0 + r;
        if (i >= p.d) { break; }
        for (var q = 0u; q < PX; q = q + 1u) {
            let t = t0 + q;
            if (t >= quads) { break; }
            out_put(p.o_off + hl * p.d + i, t, acc[r * PX + q]);
        }
    }
}
