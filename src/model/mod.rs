//! The model file: safetensors container, graph document, validation, shape inference.

pub mod file;
pub mod graph;
pub mod op;
pub mod shape;
pub mod validate;

pub use file::{read_safetensors, write_safetensors, HostTensor, SafetensorsFile};
pub use graph::{Function, FunctionInput, GraphDoc, Node, PromptSpec};
pub use op::{FusedNorm, Op};
pub use validate::CheckedFunction;

use crate::error::{Error, Result};
use crate::tensor::Shape;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

/// The `format` string of model files.
pub const FORMAT: &str = "wgpu-restore-model";
/// The only format version this reader accepts.
pub const FORMAT_VERSION: u32 = 1;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A validated model: graph, weights (f32) and checked functions.
#[derive(Debug)]
pub struct Model {
    pub doc: GraphDoc,
    pub tensors: BTreeMap<String, HostTensor>,
    pub functions: BTreeMap<String, CheckedFunction>,
    /// The functions after fusion (src/fuse.rs), made on first use.
    fused: std::sync::OnceLock<BTreeMap<String, std::sync::Arc<crate::fuse::Fused>>>,
    id: u64,
}

impl Model {
    /// Reads and validates a model file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Model> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses and validates a model file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        let file = read_safetensors(bytes)?;
        let meta = &file.metadata;
        let get = |k: &str| {
            meta.get(k)
                .ok_or_else(|| Error::Metadata(format!("`__metadata__` has no `{k}` entry")))
        };
        let format = get("format")?;
        if format != FORMAT {
            return Err(Error::Metadata(format!(
                "format is {format:?}, expected {FORMAT:?}"
            )));
        }
        let version = get("format_version")?;
        if version.trim() != FORMAT_VERSION.to_string() {
            return Err(Error::UnsupportedVersion {
                found: version.clone(),
                supported: FORMAT_VERSION,
            });
        }
        let doc: GraphDoc =
            serde_json::from_str(get("graph")?).map_err(|e| Error::GraphJson(e.to_string()))?;
        if doc.format != FORMAT {
            return Err(Error::GraphJson(format!(
                "graph format is {:?}, expected {FORMAT:?}",
                doc.format
            )));
        }
        if doc.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: doc.version.to_string(),
                supported: FORMAT_VERSION,
            });
        }
        Self::from_parts(doc, file.tensors)
    }

    /// Validates a graph document against a set of tensors.
    pub fn from_parts(doc: GraphDoc, tensors: BTreeMap<String, HostTensor>) -> Result<Model> {
        validate::check_weights_finite(&tensors)?;
        let functions = validate::validate(&doc, &tensors)?;
        validate::check_entry_points(&doc, &functions, &tensors)?;
        Ok(Model {
            doc,
            tensors,
            functions,
            fused: std::sync::OnceLock::new(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// A one-node model (function `node`) whose inputs are `input.0`, `input.1`, ...
    /// with the given channel counts; used to run and test a single op.
    pub fn single_node(
        node: Node,
        input_channels: &[usize],
        tensors: BTreeMap<String, HostTensor>,
    ) -> Result<Model> {
        let inputs = input_channels
            .iter()
            .enumerate()
            .map(|(i, &c)| FunctionInput {
                name: format!("input.{i}"),
                channels: c,
            })
            .collect();
        let function = Function {
            inputs,
            outputs: node.outputs.clone(),
            nodes: vec![node],
        };
        let doc = GraphDoc {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            config: "single-node".into(),
            degradations: vec![],
            provenance: serde_json::Value::Null,
            prompt: None,
            functions: BTreeMap::from([("node".to_string(), function)]),
            architecture: None,
            tasks: vec![],
        };
        Self::from_parts(doc, tensors)
    }

    /// A process-unique id (keys the runtime's per-model GPU state).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn function(&self, name: &str) -> Result<&CheckedFunction> {
        self.functions
            .get(name)
            .ok_or_else(|| Error::UnknownFunction(name.to_string()))
    }

    /// Function `name` after fusion, with the folded weights it adds.
    pub fn fused(&self, name: &str) -> Result<std::sync::Arc<crate::fuse::Fused>> {
        self.fused
            .get_or_init(|| {
                self.functions
                    .iter()
                    .map(|(n, f)| {
                        (
                            n.clone(),
                            std::sync::Arc::new(crate::fuse::fuse(f, &self.tensors)),
                        )
                    })
                    .collect()
            })
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownFunction(name.to_string()))
    }

    /// Shapes of every value of function `name` for the given input shapes.
    pub fn infer_shapes(&self, name: &str, inputs: &[Shape]) -> Result<HashMap<String, Shape>> {
        shape::infer_shapes(self.function(name)?, &self.tensors, inputs)
    }

    /// The degradation type names, in the order of the probability vector (empty for a
    /// model without a Prompt Net).
    pub fn degradations(&self) -> &[String] {
        &self.doc.degradations
    }

    /// The input shapes of `restore` for an `h x w` image: the image, and the K x 1 x 1
    /// probabilities when the model takes them.
    pub fn restore_inputs(&self, h: usize, w: usize) -> Vec<Shape> {
        let k = self.doc.degradations.len();
        let mut inputs = vec![Shape::new(3, h, w)];
        if k > 0 {
            inputs.push(Shape::new(k, 1, 1));
        }
        inputs
    }

    /// Whether the model detects degradations (has a Prompt Net and takes probabilities).
    pub fn has_prompt_net(&self) -> bool {
        !self.doc.degradations.is_empty()
    }

    /// The architecture, as the file names it (`allinone` when it names none).
    pub fn architecture(&self) -> &str {
        self.doc.architecture.as_deref().unwrap_or("allinone")
    }

    /// What the model restores: the file's `tasks`, or else its degradation names.
    pub fn tasks(&self) -> Vec<String> {
        if self.doc.tasks.is_empty() {
            self.doc.degradations.clone()
        } else {
            self.doc.tasks.clone()
        }
    }

    /// Number of parameters (all tensor elements).
    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }
}
