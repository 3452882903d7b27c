//! Serde types of the graph document stored in the model file's `__metadata__["graph"]`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole graph document (see docs/model-format.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GraphDoc {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub config: String,
    #[serde(default)]
    pub degradations: Vec<String>,
    #[serde(default)]
    pub provenance: serde_json::Value,
    #[serde(default)]
    pub prompt: Option<PromptSpec>,
    pub functions: BTreeMap<String, Function>,
    /// The architecture of an imported model (`promptir`, `restormer`); absent for the
    /// project's own all-in-one model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// What the model restores (`denoising`, `deraining`, ...); absent: the degradations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
}

/// Crop sampling of the Prompt Net.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PromptSpec {
    pub crop: usize,
    pub max_crops: usize,
}

/// A named graph.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Function {
    pub inputs: Vec<FunctionInput>,
    pub outputs: Vec<String>,
    pub nodes: Vec<Node>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FunctionInput {
    pub name: String,
    pub channels: usize,
}

/// One node of a function, in execution order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub op: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    #[serde(default)]
    pub attrs: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub weights: BTreeMap<String, String>,
}
