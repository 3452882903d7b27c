//! Memory planning: value lifetimes -> buffer slots, reused by liveness.
//!
//! Every value of a function (and every per-node scratch buffer) gets a slot; a slot is
//! reused once the values it held are dead. Outputs of a node never share a slot with that
//! node's inputs (a kernel never reads and writes one buffer). Function inputs and outputs
//! stay alive for the whole forward.

use crate::model::Function;
use crate::tensor::Shape;
use std::collections::HashMap;

/// The buffer assignment of one function for one input size.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Size in bytes of each slot (one GPU buffer each).
    pub slots: Vec<u64>,
    /// Slot of every value.
    pub value_slot: HashMap<String, usize>,
    /// Slots of each node's scratch buffers.
    pub scratch_slots: Vec<Vec<usize>>,
    /// Bytes of all slots together: the peak memory of the activations.
    pub peak_bytes: u64,
    /// Bytes of all values and scratch buffers if none were shared.
    pub total_bytes: u64,
}

#[derive(Default)]
struct Allocator {
    slots: Vec<u64>,
    free: Vec<usize>,
}

impl Allocator {
    fn alloc(&mut self, bytes: u64) -> usize {
        let bytes = bytes.max(4);
        // Best fit among free slots large enough; else grow the largest free slot.
        let fit = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, &s)| self.slots[s] >= bytes)
            .min_by_key(|(_, &s)| self.slots[s])
            .map(|(i, _)| i)
            .or_else(|| {
                self.free
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, &s)| self.slots[s])
                    .map(|(i, _)| i)
            });
        match fit {
            Some(i) => {
                let s = self.free.swap_remove(i);
                self.slots[s] = self.slots[s].max(bytes);
                s
            }
            None => {
                self.slots.push(bytes);
                self.slots.len() - 1
            }
        }
    }
    fn release(&mut self, slot: usize) {
        debug_assert!(!self.free.contains(&slot));
        self.free.push(slot);
    }
}

/// Plans the buffers of `f` given every value's shape, the bytes a value of a shape takes on
/// the device, and each node's scratch sizes.
pub fn plan(
    f: &Function,
    shapes: &HashMap<String, Shape>,
    value_bytes: &dyn Fn(Shape) -> u64,
    scratch: &[Vec<u64>],
) -> Plan {
    let n = f.nodes.len();
    // Last node index reading each value; function outputs live to the end.
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (i, node) in f.nodes.iter().enumerate() {
        for v in &node.inputs {
            last_use.insert(v, i);
        }
    }
    for o in &f.outputs {
        last_use.insert(o, usize::MAX);
    }
    for inp in &f.inputs {
        last_use.insert(&inp.name, usize::MAX);
    }
    let mut a = Allocator::default();
    let mut value_slot = HashMap::new();
    let mut total = 0u64;
    for inp in &f.inputs {
        let b = value_bytes(shapes[&inp.name]);
        total += b;
        value_slot.insert(inp.name.clone(), a.alloc(b));
    }
    let mut scratch_slots = Vec::with_capacity(n);
    for (i, node) in f.nodes.iter().enumerate() {
        for v in &node.outputs {
            let b = value_bytes(shapes[v]);
            total += b;
            value_slot.insert(v.clone(), a.alloc(b));
        }
        let sc: Vec<usize> = scratch
            .get(i)
            .map(|s| s.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|&b| {
                total += b;
                a.alloc(b)
            })
            .collect();
        for &s in &sc {
            a.release(s);
        }
        scratch_slots.push(sc);
        // Release the values whose last reader is this node, and unread outputs.
        let mut dead: Vec<&str> = node
            .inputs
            .iter()
            .filter(|v| last_use.get(v.as_str()) == Some(&i))
            .map(|v| v.as_str())
            .collect();
        dead.extend(
            node.outputs
                .iter()
                .filter(|v| !last_use.contains_key(v.as_str()))
                .map(|v| v.as_str()),
        );
        dead.sort();
        dead.dedup();
        for v in dead {
            a.release(value_slot[v]);
        }
    }
    let peak = a.slots.iter().sum();
    Plan {
        slots: a.slots,
        value_slot,
        scratch_slots,
        peak_bytes: peak,
        total_bytes: total,
    }
}
