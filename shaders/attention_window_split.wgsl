// Bindings of attention_window.wgsl for a value whose single head is larger than one
// binding (lavapipe binds 128 MiB: 8 planes of a 4-megapixel map in f32): the launcher
// dispatches one head at a time and binds each operand's head as up to four consecutive
// segments of `*_piece` planes each (unused slots repeat the first). An operand whose head
// lies in one segment has its piece set to the head width, so its accessor always picks the
// first binding. Channel `ch` (counted from the operand's offset) is plane `ch % piece` of
// binding `ch / piece`.

@group(0) @binding(1) var<storage, read> q0: array<S>;
@group(0) @binding(2) var<storage, read> q1: array<S>;
@group(0) @binding(3) var<storage, read> q2: array<S>;
@group(0) @binding(4) var<storage, read> q3: array<S>;
@group(0) @binding(5) var<storage, read> k0: array<S>;
@group(0) @binding(6) var<storage, read> k1: array<S>;
@group(0) @binding(7) var<storage, read> k2: array<S>;
@group(0) @binding(8) var<storage, read> k3: array<S>;
@group(0) @binding(9) var<storage, read> v0: array<S>;
@group(0) @binding(10) var<storage, read> v1: array<S>;
@group(0) @binding(11) var<storage, read> v2: array<S>;
@group(0) @binding(12) var<storage, read> v3: array<S>;
@group(0) @binding(13) var<storage, read> alpha: array<S>;
@group(0) @binding(14) var<storage, read_write> d0: array<S>;
@group(0) @binding(15) var<storage, read_write> d1: array<S>;
@group(0) @binding(16) var<storage, read_write> d2: array<S>;
@group(0) @binding(17) var<storage, read_write> d3: array<S>;

fn q_at(ch: u32, i: u32) -> f32 {
    let r = ch - p.q_off;
    let j = r / p.q_piece;
    let at = (ch - j * p.q_piece) * p.pitch + i;
    switch j {
        case 0u: { return f32(q0[at]); }
        case 1u: { return f32(q1[at]); }
        case 2u: { return f32(q2[at]); }
        default: { return f32(q3[at]); }
    }
}

fn k_at(ch: u32, i: u32) -> f32 {
    let r = ch - p.k_off;
    let j = r / p.k_piece;
    let at = (ch - j * p.k_piece) * p.pitch + i;
    switch j {
        case 0u: { return f32(k0[at]); }
        case 1u: { return f32(k1[at]); }
        case 2u: { return f32(k2[at]); }
        default: { return f32(k3[at]); }
    }
}

fn v_at(ch: u32, i: u32) -> f32 {
    let r = ch - p.v_off;
    let j = r / p.v_piece;
    let at = (ch - j * p.v_piece) * p.pitch + i;
    switch j {
        case 0u: { return f32(v0[at]); }
        case 1u: { return f32(v1[at]); }
        case 2u: { return f32(v2[at]); }
        default: { return f32(v3[at]); }
    }
}

fn out_put(ch: u32, i: u32, x: f32) {
    let r = ch - p.o_off;
    let j = r / p.o_piece;
    let at = (ch - j * p.o_piece) * p.pitch + i;
    switch j {
        case 0u: { d0[at] = S(x); }
        case 1u: { d1[at] = S(x); }
        case 2u: { d2[at] = S(x); }
        default: { d3[at] = S(x); }
    }
}
