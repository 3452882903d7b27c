// Bindings of attention_window.wgsl where each of q, k, v and the output is one binding
// (the usual case): channel `ch` of an operand is plane `ch` of its binding.

@group(0) @binding(1) var<storage, read> qs: array<S>;
@group(0) @binding(2) var<storage, read> ks: array<S>;
@group(0) @binding(3) var<storage, read> vs: array<S>;
@group(0) @binding(4) var<storage, read> alpha: array<S>;
@group(0) @binding(5) var<storage, read_write> dst: array<S>;

fn q_at(ch: u32, i: u32) -> f32 { return f32(qs[ch * p.pitch + i]); }
fn k_at(ch: u32, i: u32) -> f32 { return f32(ks[ch * p.pitch + i]); }
fn v_at(ch: u32, i: u32) -> f32 { return f32(vs[ch * p.pitch + i]); }
fn out_put(ch: u32, i: u32, x: f32) { dst[ch * p.pitch + i] = S(x); }
