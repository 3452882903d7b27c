//! The published architectures as graphs of the model format: Restormer (Zamir et al.,
//! CVPR 2022) and PromptIR (Potlapalli et al., NeurIPS 2023), with their hyperparameters
//! read off the checkpoint's tensor shapes. The node sequence and names are those of the
//! PyTorch ports' `emit` (training/restormer.py, training/promptir.py), so both write the
//! same file; docs/import.md describes the layouts.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The two architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    PromptIr,
    Restormer,
}

impl Arch {
    pub fn id(self) -> &'static str {
        match self {
            Arch::PromptIr => "promptir",
            Arch::Restormer => "restormer",
        }
    }
    pub fn display(self) -> &'static str {
        match self {
            Arch::PromptIr => "PromptIR",
            Arch::Restormer => "Restormer",
        }
    }
}

/// Layer norm of the transformer blocks (Restormer's `LayerNorm_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    WithBias,
    BiasFree,
}

impl Norm {
    pub fn id(self) -> &'static str {
        match self {
            Norm::WithBias => "with_bias",
            Norm::BiasFree => "bias_free",
        }
    }
}

/// What the graph needs of a tensor: its checkpoint name and the shape it is stored with.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorUse {
    pub source: String,
    pub shape: Vec<usize>,
}

/// A built graph: the `restore` function, the tensors it names, and the hyperparameters.
pub struct Built {
    pub function: Value,
    pub tensors: BTreeMap<String, TensorUse>,
    pub detail: Value,
    pub norm: Norm,
}

/// Builds nodes the way training/graph.py's GraphBuilder does: values `v1, v2, ...` in
/// node order, conv nodes with all four attributes.
struct Graph<'a> {
    shapes: &'a BTreeMap<String, Vec<usize>>,
    nodes: Vec<Value>,
    count: usize,
    channels: HashMap<String, usize>,
    tensors: BTreeMap<String, TensorUse>,
    norm: Norm,
}

type R<T> = Result<T, String>;

impl<'a> Graph<'a> {
    fn shape(&self, key: &str) -> R<&'a Vec<usize>> {
        self.shapes
            .get(key)
            .ok_or_else(|| format!("tensor `{key}` is missing"))
    }

    fn expect(&self, key: &str, want: &[usize]) -> R<()> {
        let got = self.shape(key)?;
        if got != want {
            return Err(format!(
                "tensor `{key}` has shape {got:?}, expected {want:?}"
            ));
        }
        Ok(())
    }

    fn use_tensor(&mut self, key: &str, shape: Vec<usize>) -> String {
        self.tensors.insert(
            key.to_string(),
            TensorUse {
                source: key.to_string(),
                shape,
            },
        );
        key.to_string()
    }

    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Value,
        weights: Value,
        c: usize,
    ) -> String {
        self.count += 1;
        let out = format!("v{}", self.count);
        self.nodes.push(json!({
            "name": name, "op": op, "inputs": inputs, "outputs": [out],
            "attrs": attrs, "weights": weights,
        }));
        self.channels.insert(out.clone(), c);
        out
    }

    fn ch(&self, v: &str) -> usize {
        self.channels[v]
    }

    /// A convolution `name` (k x k, zero padding k/2) over `x`; `depthwise` sets groups to
    /// the input channels. Its output channels are read off the weight, and checked
    /// against `cout` when the architecture fixes them.
    fn conv(
        &mut self,
        name: &str,
        x: &str,
        k: usize,
        depthwise: bool,
        cout: Option<usize>,
    ) -> R<String> {
        let cin = self.ch(x);
        let groups = if depthwise { cin } else { 1 };
        let wkey = format!("{name}.weight");
        let ws = self.shape(&wkey)?.clone();
        let out_c = cout.unwrap_or_else(|| ws.first().copied().unwrap_or(0));
        let want = [out_c, cin / groups, k, k];
        if ws != want || out_c == 0 {
            return Err(format!(
                "tensor `{wkey}` has shape {ws:?}, expected {want:?}"
            ));
        }
        let mut weights = Map::new();
        weights.insert("weight".into(), json!(self.use_tensor(&wkey, ws.clone())));
        let bkey = format!("{name}.bias");
        if self.shapes.contains_key(&bkey) {
            self.expect(&bkey, &[out_c])?;
            weights.insert("bias".into(), json!(self.use_tensor(&bkey, vec![out_c])));
        }
        let attrs = json!({"groups": groups, "kernel": k, "padding": k / 2, "stride": 1});
        Ok(self.node("conv2d", name, &[x], attrs, Value::Object(weights), out_c))
    }

    fn layer_norm(&mut self, name: &str, x: &str) -> R<String> {
        let c = self.ch(x);
        let wkey = format!("{name}.body.weight");
        self.expect(&wkey, &[c])?;
        let mut weights = Map::new();
        weights.insert("weight".into(), json!(self.use_tensor(&wkey, vec![c])));
        let op = match self.norm {
            Norm::WithBias => {
                let bkey = format!("{name}.body.bias");
                self.expect(&bkey, &[c])?;
                weights.insert("bias".into(), json!(self.use_tensor(&bkey, vec![c])));
                "layer_norm"
            }
            Norm::BiasFree => {
                let bkey = format!("{name}.body.bias");
                if self.shapes.contains_key(&bkey) {
                    return Err(format!(
                        "tensor `{bkey}` is present, but the other blocks' layer norms have no bias"
                    ));
                }
                "bias_free_layer_norm"
            }
        };
        Ok(self.node(op, name, &[x], json!({}), Value::Object(weights), c))
    }

    /// Restormer's TransformerBlock: x + MDTA(LN(x)), then y + GDFN(LN(y)).
    fn block(&mut self, p: &str, x: &str) -> R<String> {
        let c = self.ch(x);
        let tkey = format!("{p}.attn.temperature");
        let ts = self.shape(&tkey)?.clone();
        let heads = ts.first().copied().unwrap_or(0);
        if heads == 0 || ts.iter().product::<usize>() != heads || !c.is_multiple_of(heads) {
            return Err(format!(
                "tensor `{tkey}` has shape {ts:?}; expected [heads, 1, 1] with heads dividing {c} channels"
            ));
        }
        let t = self.layer_norm(&format!("{p}.norm1"), x)?;
        let t = self.conv(&format!("{p}.attn.qkv"), &t, 1, false, Some(3 * c))?;
        let t = self.conv(&format!("{p}.attn.qkv_dwconv"), &t, 3, true, Some(3 * c))?;
        let temp = self.use_tensor(&tkey, vec![heads]);
        let t = self.node(
            "channel_attention",
            &format!("{p}.attn.attention"),
            &[&t],
            json!({"heads": heads}),
            json!({"temperature": temp}),
            c,
        );
        let t = self.conv(&format!("{p}.attn.project_out"), &t, 1, false, Some(c))?;
        let y = self.node(
            "add",
            &format!("{p}.add1"),
            &[x, &t],
            json!({}),
            json!({}),
            c,
        );
        let hidden = self
            .shape(&format!("{p}.ffn.project_out.weight"))?
            .get(1)
            .copied()
            .unwrap_or(0);
        let t = self.layer_norm(&format!("{p}.norm2"), &y)?;
        let t = self.conv(
            &format!("{p}.ffn.project_in"),
            &t,
            1,
            false,
            Some(2 * hidden),
        )?;
        let t = self.conv(&format!("{p}.ffn.dwconv"), &t, 3, true, Some(2 * hidden))?;
        let t = self.node(
            "gelu_gate",
            &format!("{p}.ffn.gate"),
            &[&t],
            json!({}),
            json!({}),
            hidden,
        );
        let t = self.conv(&format!("{p}.ffn.project_out"), &t, 1, false, Some(c))?;
        Ok(self.node(
            "add",
            &format!("{p}.add2"),
            &[&y, &t],
            json!({}),
            json!({}),
            c,
        ))
    }

    fn stack(&mut self, prefix: &str, n: usize, mut x: String) -> R<String> {
        for i in 0..n {
            x = self.block(&format!("{prefix}.{i}"), &x)?;
        }
        Ok(x)
    }

    fn down(&mut self, p: &str, x: &str) -> R<String> {
        let c = self.ch(x);
        let t = self.conv(&format!("{p}.body.0"), x, 3, false, Some(c / 2))?;
        Ok(self.node(
            "pixel_unshuffle",
            &format!("{p}.body.1"),
            &[&t],
            json!({"factor": 2}),
            json!({}),
            2 * c,
        ))
    }

    fn up(&mut self, p: &str, x: &str) -> R<String> {
        let c = self.ch(x);
        let t = self.conv(&format!("{p}.body.0"), x, 3, false, Some(2 * c))?;
        Ok(self.node(
            "pixel_shuffle",
            &format!("{p}.body.1"),
            &[&t],
            json!({"factor": 2}),
            json!({}),
            c / 2,
        ))
    }

    fn concat(&mut self, name: &str, a: &str, b: &str) -> String {
        let c = self.ch(a) + self.ch(b);
        self.node("concat", name, &[a, b], json!({}), json!({}), c)
    }

    /// PromptIR's PromptGenBlock: softmax(linear(GAP(x))) weights the L prompt
    /// components, resized bilinearly to x's size, then a 3x3 conv.
    fn prompt_gen(&mut self, p: &str, x: &str) -> R<(String, [usize; 3])> {
        let c = self.ch(x);
        let pkey = format!("{p}.prompt_param");
        let ps = self.shape(&pkey)?.clone();
        let [1, l, d, s1, s2] = ps[..] else {
            return Err(format!(
                "tensor `{pkey}` has shape {ps:?}, expected [1, L, D, S, S]"
            ));
        };
        if l == 0 || d == 0 || s1 == 0 || s1 != s2 {
            return Err(format!(
                "tensor `{pkey}` has shape {ps:?}, expected [1, L, D, S, S]"
            ));
        }
        let pool = self.node(
            "global_avg_pool",
            &format!("{p}.pool"),
            &[x],
            json!({}),
            json!({}),
            c,
        );
        let wkey = format!("{p}.linear_layer.weight");
        let bkey = format!("{p}.linear_layer.bias");
        self.expect(&wkey, &[l, c])?;
        self.expect(&bkey, &[l])?;
        let w = self.use_tensor(&wkey, vec![l, c]);
        let b = self.use_tensor(&bkey, vec![l]);
        let t = self.node(
            "linear",
            &format!("{p}.linear_layer"),
            &[&pool],
            json!({}),
            json!({"bias": b, "weight": w}),
            l,
        );
        let t = self.node(
            "softmax",
            &format!("{p}.softmax"),
            &[&t],
            json!({}),
            json!({}),
            l,
        );
        let comp = self.use_tensor(&pkey, vec![l, d, s1, s1]);
        let t = self.node(
            "mix_components",
            &format!("{p}.mix"),
            &[&t],
            json!({}),
            json!({"components": comp}),
            d,
        );
        let t = self.node(
            "resize_bilinear",
            &format!("{p}.resize"),
            &[&t, x],
            json!({}),
            json!({}),
            d,
        );
        let t = self.conv(&format!("{p}.conv3x3"), &t, 3, false, Some(d))?;
        Ok((t, [l, d, s1]))
    }

    /// PromptIR's prompt interaction at one decoder level.
    fn prompt_level(&mut self, n: usize, x: &str, reduce_to: usize) -> R<(String, [usize; 3])> {
        let (prompt, dims) = self.prompt_gen(&format!("prompt{n}"), x)?;
        let t = self.concat(&format!("concat_prompt{n}"), x, &prompt);
        let t = self.block(&format!("noise_level{n}"), &t)?;
        let t = self.conv(
            &format!("reduce_noise_level{n}"),
            &t,
            1,
            false,
            Some(reduce_to),
        )?;
        Ok((t, dims))
    }
}

/// Counts the blocks `prefix.0`, `prefix.1`, ... present in the state dict.
fn count_blocks(shapes: &BTreeMap<String, Vec<usize>>, prefix: &str, arch: Arch) -> R<usize> {
    let mut seen = BTreeSet::new();
    for k in shapes.keys() {
        if let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) {
            if let Some(i) = rest.split('.').next().and_then(|i| i.parse::<usize>().ok()) {
                seen.insert(i);
            }
        }
    }
    let n = seen.len();
    if n == 0 {
        return Err(format!(
            "no `{prefix}.0.*` tensors: not a {} checkpoint",
            arch.display()
        ));
    }
    if seen.iter().copied().ne(0..n) {
        return Err(format!("the `{prefix}` blocks are not numbered 0..{n}"));
    }
    Ok(n)
}

/// PromptIR tensors that the authors' module defines but its forward never uses.
fn unused_promptir(key: &str) -> bool {
    [
        "chnl_reduce1.",
        "chnl_reduce2.",
        "chnl_reduce3.",
        "reduce_noise_channel_1.",
        "reduce_noise_channel_2.",
        "reduce_noise_channel_3.",
    ]
    .iter()
    .any(|p| key.starts_with(p))
}

/// Builds the `restore` graph of `arch` from a state dict's tensor shapes, checking that
/// every tensor the architecture needs is there with the right shape and that nothing
/// else is.
pub fn build(arch: Arch, shapes: &BTreeMap<String, Vec<usize>>) -> R<Built> {
    // The other architecture's checkpoint, named as such rather than by a missing tensor.
    let has_prompts = shapes.keys().any(|k| k.starts_with("prompt1."));
    match arch {
        Arch::PromptIr if !has_prompts && shapes.contains_key("patch_embed.proj.weight") => {
            return Err("this is not a PromptIR checkpoint: it has no prompt blocks (`prompt1.prompt_param`); a Restormer checkpoint imports with `import restormer`".into());
        }
        Arch::Restormer if has_prompts => {
            return Err("this is not a Restormer checkpoint: it has PromptIR's prompt blocks (`prompt1.prompt_param`); import it with `import promptir`".into());
        }
        _ => {}
    }
    let pe = shapes.get("patch_embed.proj.weight").ok_or_else(|| {
        format!(
            "tensor `patch_embed.proj.weight` is missing: not a {} checkpoint",
            arch.display()
        )
    })?;
    let (dim, cin) = match pe[..] {
        [d, c, 3, 3] if d > 0 => (d, c),
        _ => {
            return Err(format!(
                "tensor `patch_embed.proj.weight` has shape {pe:?}, expected [dim, 3, 3, 3]"
            ))
        }
    };
    match cin {
        3 => {}
        1 => return Err("a grayscale (1-channel) model: only colour (3-channel) models are supported; use the authors' colour checkpoint".into()),
        6 => return Err("a dual-pixel defocus model (6-channel input: two views): only single-image models are supported; use single_image_defocus_deblurring.pth".into()),
        c => return Err(format!("a model with {c} input channels: only colour (3-channel) models are supported")),
    }
    let norm = if shapes.contains_key("encoder_level1.0.norm1.body.bias") {
        Norm::WithBias
    } else {
        Norm::BiasFree
    };
    let n1 = count_blocks(shapes, "encoder_level1", arch)?;
    let n2 = count_blocks(shapes, "encoder_level2", arch)?;
    let n3 = count_blocks(shapes, "encoder_level3", arch)?;
    let n4 = count_blocks(shapes, "latent", arch)?;
    let nr = count_blocks(shapes, "refinement", arch)?;
    for (prefix, n) in [
        ("decoder_level1", n1),
        ("decoder_level2", n2),
        ("decoder_level3", n3),
    ] {
        let found = count_blocks(shapes, prefix, arch)?;
        if found != n {
            return Err(format!(
                "{found} `{prefix}` blocks, but the encoder level has {n}"
            ));
        }
    }
    let heads: Vec<usize> = [
        "encoder_level1",
        "encoder_level2",
        "encoder_level3",
        "latent",
    ]
    .iter()
    .map(|l| {
        shapes
            .get(&format!("{l}.0.attn.temperature"))
            .and_then(|s| s.first().copied())
            .unwrap_or(0)
    })
    .collect();
    let mut g = Graph {
        shapes,
        nodes: Vec::new(),
        count: 0,
        channels: HashMap::from([("image".to_string(), 3)]),
        tensors: BTreeMap::new(),
        norm,
    };
    let pad = g.node(
        "reflect_pad",
        "pad",
        &["image"],
        json!({"multiple": 8}),
        json!({}),
        3,
    );
    let x = g.conv("patch_embed.proj", &pad, 3, false, Some(dim))?;
    let e1 = g.stack("encoder_level1", n1, x)?;
    let x = g.down("down1_2", &e1)?;
    let e2 = g.stack("encoder_level2", n2, x)?;
    let x = g.down("down2_3", &e2)?;
    let e3 = g.stack("encoder_level3", n3, x)?;
    let x = g.down("down3_4", &e3)?;
    let mut x = g.stack("latent", n4, x)?;
    let mut prompts = Vec::new();
    if arch == Arch::PromptIr {
        let (t, d) = g.prompt_level(3, &x, 4 * dim)?;
        x = t;
        prompts.push(d);
    }
    let t = g.up("up4_3", &x)?;
    let t = g.concat("concat_level3", &t, &e3);
    let t = g.conv("reduce_chan_level3", &t, 1, false, Some(4 * dim))?;
    let mut x = g.stack("decoder_level3", n3, t)?;
    if arch == Arch::PromptIr {
        let (t, d) = g.prompt_level(2, &x, 4 * dim)?;
        x = t;
        prompts.push(d);
    }
    let t = g.up("up3_2", &x)?;
    let t = g.concat("concat_level2", &t, &e2);
    let t = g.conv("reduce_chan_level2", &t, 1, false, Some(2 * dim))?;
    let mut x = g.stack("decoder_level2", n2, t)?;
    if arch == Arch::PromptIr {
        let (t, d) = g.prompt_level(1, &x, 2 * dim)?;
        x = t;
        prompts.push(d);
    }
    let t = g.up("up2_1", &x)?;
    let t = g.concat("concat_level1", &t, &e1);
    let t = g.stack("decoder_level1", n1, t)?;
    let t = g.stack("refinement", nr, t)?;
    let t = g.conv("output", &t, 3, false, Some(3))?;
    let t = g.node("add", "residual", &[&t, &pad], json!({}), json!({}), 3);
    g.node("crop", "crop", &[&t, "image"], json!({}), json!({}), 3);
    // The last value is the function's output (GraphBuilder.end renames it).
    if let Some(last) = g.nodes.last_mut() {
        last["outputs"] = json!(["restored"]);
    }
    // Strict: every tensor of the checkpoint is one the architecture defines.
    for k in shapes.keys() {
        let unused = arch == Arch::PromptIr && unused_promptir(k);
        if !g.tensors.contains_key(k) && !unused {
            return Err(format!(
                "unexpected tensor `{k}`: not part of the {} architecture",
                arch.display()
            ));
        }
    }
    let mut detail = json!({
        "bias": shapes.contains_key("encoder_level1.0.attn.qkv.bias"),
        "blocks": [n1, n2, n3, n4],
        "dim": dim,
        "heads": heads,
        "layer_norm": norm.id(),
        "refinement": nr,
    });
    if arch == Arch::PromptIr {
        // prompts were built at levels 3, 2, 1; the document lists levels 1, 2, 3.
        prompts.reverse();
        detail["prompt"] = json!({
            "dims": prompts.iter().map(|p| p[1]).collect::<Vec<_>>(),
            "len": prompts[0][0],
            "sizes": prompts.iter().map(|p| p[2]).collect::<Vec<_>>(),
        });
    }
    let function = json!({
        "inputs": [{"channels": 3, "name": "image"}],
        "nodes": g.nodes,
        "outputs": ["restored"],
    });
    Ok(Built {
        function,
        tensors: g.tensors,
        detail,
        norm,
    })
}
