// Bindings of attention_channel.wgsl where each of q, k, v and the output is one binding
// (the usual case): quad `t` of channel `ch` is quad `t` of plane `ch` of its binding.

@group(0) @binding(1) var<storage, read> qs: array<S4>;
@group(0) @binding(2) var<storage, read> ks: array<S4>;
@group(0) @binding(3) var<storage, read> vs: array<S4>;
@group(0) @binding(4) var<storage, read> temperature: array<S>;
@group(0) @binding(5) var<storage, read_write> norms: array<f32>;     // 2c
@group(0) @binding(6) var<storage, read_write> partial: array<f32>;   // chunks * heads * d * d
@group(0) @binding(7) var<storage, read_write> attn: array<f32>;      // heads * d * d
@group(0) @binding(8) var<storage, read_write> dst: array<S4>;

fn q_quad(ch: u32, t: u32) -> vec4<f32> { return vec4<f32>(qs[ch * p.pitch4 + t]); }
fn k_quad(ch: u32, t: u32) -> vec4<f32> { return vec4<f32>(ks[ch * p.pitch4 + t]); }
fn v_quad(ch: u32, t: u32) -> vec4<f32> { return vec4<f32>(vs[ch * p.pitch4 + t]); }
fn out_put(ch: u32, t: u32, x: vec4<f32>) { dst[ch * p.pitch4 + t] = S4(x); }
