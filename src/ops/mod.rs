//! Kernel launchers: one module per shader file. Each turns a node (op, input and output
//! shapes, weights) into dispatches: entry point, uniform parameters, override constants,
//! bindings and the number of workgroups. The executor (src/exec/) resolves bindings to
//! buffers.
//!
//! On the device a `C x H x W` value is C planes of [`pitch`] elements (H*W rounded up to a
//! multiple of 4) of the storage type of the [`Precision`]: every plane starts 16-byte
//! aligned, so kernels read and write 4 pixels at a time.

pub mod attention_channel;
pub mod attention_window;
pub mod conv;
pub mod conv3x3;
pub mod elementwise;
pub mod heads;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod resize;
pub mod segments;

pub use segments::MAX_HEAD_PIECES;

use crate::model::{FusedNorm, HostTensor, Node, Op};
use crate::tensor::Shape;

/// How a shader binding is declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindKind {
    Uniform,
    Read,
    Write,
}

/// A WGSL file and the bindings every one of its entry points shares (group 0, in order).
#[derive(Debug)]
pub struct ShaderDef {
    pub name: &'static str,
    pub source: &'static str,
    pub bindings: &'static [BindKind],
}

/// How values and weights are stored on the device; arithmetic is f32 either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    #[default]
    F32,
    /// Half the memory and bandwidth; needs the device's `SHADER_F16`.
    F16,
}

impl Precision {
    /// Bytes per stored element.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
        }
    }

    /// WGSL declaring the storage types `S` and `S4` every shader uses.
    pub fn prelude(self) -> &'static str {
        match self {
            Precision::F32 => "alias S = f32;\nalias S4 = vec4<f32>;\n",
            Precision::F16 => "enable f16;\nalias S = f16;\nalias S4 = vec4<f16>;\n",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }
}

/// Elements per plane of a value on the device: H*W rounded up to a multiple of 4.
pub fn pitch(s: Shape) -> usize {
    s.plane().div_ceil(4) * 4
}

/// Bytes of a value on the device.
pub fn device_bytes(s: Shape, precision: Precision) -> u64 {
    (s.c * pitch(s)) as u64 * precision.bytes()
}

/// A [`ShaderDef`] of `shaders/{name}.wgsl` after common.wgsl; with a list of files, their
/// concatenation (a kernel body and the file of bindings and accessors of one variant).
macro_rules! shader {
    ($name:literal, [$($kind:ident),*]) => {
        $crate::ops::shader!($name, [$name], [$($kind),*])
    };
    ($name:literal, [$($file:literal),+], [$($kind:ident),*]) => {
        $crate::ops::ShaderDef {
            name: $name,
            source: concat!(
                include_str!("../../shaders/common.wgsl"),
                $("\n", include_str!(concat!("../../shaders/", $file, ".wgsl"))),+
            ),
            bindings: &[$($crate::ops::BindKind::$kind),*],
        }
    };
}
pub(crate) use shader;

/// What a binding refers to, relative to the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Res {
    /// Segment `s` of the node's i-th input value (`Input(i, 0)`: the whole value when it
    /// has one segment, as it usually has; see segments.rs).
    Input(usize, usize),
    /// Segment `s` of the node's output value.
    Output(usize),
    /// The node's i-th scratch buffer.
    Scratch(usize),
    /// The tensor in the node's weight slot.
    Weight(&'static str),
    /// Nothing (a binding this entry point does not use).
    Dummy,
}

/// One compute dispatch.
#[derive(Clone, Debug)]
pub struct Dispatch {
    pub shader: &'static ShaderDef,
    pub entry: &'static str,
    /// WGSL prepended to the shader file to compile a variant of it (module-scope
    /// constants that size arrays, which override constants cannot); "" for none.
    pub variant: &'static str,
    /// Pipeline-overridable constants (specialization), e.g. `HAS_BIAS`.
    pub constants: Vec<(&'static str, f64)>,
    /// Uniform parameters (u32 words; f32 as bits).
    pub params: Vec<u32>,
    /// One resource per non-uniform binding of the shader, in binding order.
    pub bindings: Vec<Res>,
    /// The workgroup grid.
    pub workgroups: Grid,
}

/// A dispatch's workgroup grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    /// A flat count; the executor splits it over x and y when it exceeds the device's
    /// per-dimension limit (shaders recover the index with `linear_wg`).
    Linear(u32),
    /// Explicit x, y, z counts (the executor checks them against the limit).
    Dims([u32; 3]),
}

impl From<u32> for Grid {
    fn from(n: u32) -> Grid {
        Grid::Linear(n)
    }
}

/// Everything a launcher needs about a node.
pub struct NodeCtx<'a> {
    pub node: &'a Node,
    pub op: &'a Op,
    pub ins: &'a [Shape],
    pub out: Shape,
    pub weights: &'a dyn Fn(&str) -> &'a HostTensor,
    /// How each input and the output are split into segments (one each, usually).
    pub in_segs: &'a [Segments],
    pub out_segs: &'a Segments,
}

impl NodeCtx<'_> {
    /// Whether every value of the node is one segment.
    pub fn whole(&self) -> bool {
        self.out_segs.len() == 1 && self.in_segs.iter().all(|s| s.len() == 1)
    }

    /// For kernels that need each value in one binding: an error naming the node otherwise.
    fn require_whole(&self) -> crate::Result<()> {
        if self.whole() {
            Ok(())
        } else {
            Err(crate::Error::Node {
                node: self.node.name.clone(),
                msg: format!(
                    "op `{}` cannot split its values over several buffers, and one is larger than the device binds at once (use tiles)",
                    self.node.op
                ),
            })
        }
    }
}

pub use segments::Segments;

/// Workgroups per grid dimension that launchers and the executor use at most: 65535 (every
/// WebGPU device's minimum), or less when `WGPU_RESTORE_MAX_GROUPS_PER_DIM` says so (tests
/// use it to exercise grid splitting on small inputs).
pub fn max_groups_per_dim() -> usize {
    static V: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *V.get_or_init(|| {
        std::env::var("WGPU_RESTORE_MAX_GROUPS_PER_DIM")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&v| v > 0)
            .map_or(65535, |v| v.min(65535))
    })
}

pub(crate) fn u(v: usize) -> u32 {
    u32::try_from(v).expect("size exceeds u32; the executor checks buffer sizes first")
}

pub(crate) fn groups_for(threads: usize, per_group: usize) -> Grid {
    Grid::Linear(u(threads.div_ceil(per_group)))
}

/// Scratch buffers (bytes) a node needs during its execution.
pub fn scratch_bytes(op: &Op, ins: &[Shape], out: Shape) -> Vec<u64> {
    match op {
        Op::ChannelAttention { heads } => attention_channel::scratch_bytes(*heads, ins[0], out),
        Op::FusedMatmul {
            norm: FusedNorm::LayerNorm { .. } | FusedNorm::BiasFree { .. },
            ..
        } => vec![matmul::scratch_bytes(ins[0])],
        _ => vec![],
    }
}

/// The channel granule each input and the output need if they are split into segments:
/// segment boundaries at multiples of it keep what one dispatch reads together (a head's
/// channels, a pixel-shuffle group) in one segment.
pub fn granules(op: &Op, ins: &[Shape], _out: Shape) -> (Vec<usize>, usize) {
    let mut inputs = vec![1; ins.len()];
    let mut output = 1;
    match *op {
        Op::ChannelAttention { heads } | Op::WindowAttention { heads, .. } => {
            let d = attention_window::head_width(ins[0].c, heads);
            inputs[0] = d;
            output = d;
        }
        Op::PixelShuffle { factor } => inputs[0] = layout::shuffle_granule(factor),
        Op::PixelUnshuffle { factor } => output = layout::shuffle_granule(factor),
        _ => {}
    }
    (inputs, output)
}

/// Whether the op's kernels can read a value whose segments hold parts of one granule (the
/// attention kernels' split variants, up to [`MAX_HEAD_PIECES`] pieces of a head).
pub fn takes_split_heads(op: &Op) -> bool {
    matches!(op, Op::ChannelAttention { .. } | Op::WindowAttention { .. })
}

/// Storage bindings per stage the split attention variants use (channel attention's: q, k,
/// v and the output in four bindings each, the temperature and three scratch buffers).
pub const SPLIT_HEAD_BINDINGS: u32 = 4 * MAX_HEAD_PIECES as u32 + 4;

/// The dispatches of one node; an error when a value is split into segments (too large for
/// one binding) and the node's kernel cannot take it in pieces.
pub fn encode(ctx: &NodeCtx) -> crate::Result<Vec<Dispatch>> {
    let (x, out) = (ctx.ins[0], ctx.out);
    Ok(match *ctx.op {
        Op::Conv2d { .. } => conv::encode(ctx)?,
        Op::Linear { bias } => {
            ctx.require_whole()?;
            matmul::encode(ctx, bias, false, matmul::InputNorm::None)
        }
        Op::LayerNorm { eps } => {
            ctx.require_whole()?;
            vec![norm::layer_norm(x, eps, false)]
        }
        Op::BiasFreeLayerNorm { eps } => {
            ctx.require_whole()?;
            vec![norm::layer_norm(x, eps, true)]
        }
        Op::ChannelAffine => {
            ctx.require_whole()?;
            vec![norm::channel_affine(x)]
        }
        Op::ChannelAttention { heads } => attention_channel::encode(ctx, heads)?,
        Op::WindowAttention { heads, window } => attention_window::encode(ctx, heads, window)?,
        Op::GeluGate => elementwise::gelu_gate(ctx),
        Op::Add => elementwise::binary(ctx, "add", 0.0, 0.0),
        Op::WeightedAdd => {
            let wa = (ctx.weights)("wa").data[0];
            let wb = (ctx.weights)("wb").data[0];
            elementwise::binary(ctx, "weighted_add", wa, wb)
        }
        Op::Relu => elementwise::unary(ctx, "relu"),
        Op::Sigmoid => elementwise::unary(ctx, "sigmoid"),
        Op::PixelShuffle { factor } => layout::pixel_shuffle(ctx, factor),
        Op::PixelUnshuffle { factor } => layout::pixel_unshuffle(ctx, factor),
        Op::Concat => layout::concat(ctx),
        Op::ReflectPad { .. } => layout::reflect_pad(ctx),
        Op::Crop => layout::crop(ctx),
        Op::MixComponents => {
            ctx.require_whole()?;
            vec![layout::mix_components(x, out)]
        }
        Op::ResizeBilinear => resize::bilinear(ctx),
        Op::MaxPool {
            kernel,
            stride,
            padding,
        } => {
            ctx.require_whole()?;
            vec![pool::max_pool(x, out, kernel, stride, padding)]
        }
        Op::GlobalAvgPool => pool::global_avg_pool(ctx),
        Op::Softmax => {
            ctx.require_whole()?;
            vec![reduce::softmax_channels(x)]
        }
        Op::FusedMatmul {
            norm,
            bias,
            residual,
        } => {
            let norm = match norm {
                FusedNorm::None => matmul::InputNorm::None,
                FusedNorm::LayerNorm { eps } => matmul::InputNorm::LayerNorm { eps },
                FusedNorm::BiasFree { eps } => matmul::InputNorm::BiasFree { eps },
            };
            matmul::encode(ctx, bias, residual, norm)
        }
        Op::FusedDwGate { bias } => conv3x3::dw_gelu_gate(ctx, bias),
    })
}

/// Every shader file, for diagnostics and warm-up.
pub fn all_shaders() -> [&'static ShaderDef; 11] {
    [
        &conv::SHADER,
        &conv3x3::SHADER,
        &matmul::SHADER,
        &norm::SHADER,
        &attention_channel::SHADER,
        &attention_window::SHADER,
        &elementwise::SHADER,
        &layout::SHADER,
        &resize::SHADER,
        &pool::SHADER,
        &reduce::SHADER,
    ]
}
