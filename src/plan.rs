//! Memory planning: value lifetimes -> buffer slots, reused by liveness.
//!
//! Every value of a function (each of its segments, when it is split over several buffers:
//! ops/segments.rs) and every per-node scratch buffer gets a slot; a slot is reused once
//! the values it held are dead. Outputs of a node never share a slot with that node's
//! inputs (a kernel never reads and writes one buffer). Function inputs and outputs stay
//! alive for the whole forward.

use crate::model::Function;
use std::collections::HashMap;

/// The buffer assignment of one function for one input size.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Size in bytes of each slot (one GPU buffer each).
    pub slots: Vec<u64>,
    /// Slots of every value, one per segment (one, usually).
    pub value_slots: HashMap<String, Vec<usize>>,
    /// The channel runs of every value's segments (set by the executor's planner).
    pub value_segments: HashMap<String, crate::ops::Segments>,
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

/// Plans the buffers of `f` given the bytes of each segment of every value (by name) and
/// each node's scratch sizes.
pub fn plan(f: &Function, value_bytes: &HashMap<String, Vec<u64>>, scratch: &[Vec<u64>]) -> Plan {
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
    let mut value_slots: HashMap<String, Vec<usize>> = HashMap::new();
    let mut total = 0u64;
    let alloc = |a: &mut Allocator,
                 value_slots: &mut HashMap<String, Vec<usize>>,
                 name: &str,
                 total: &mut u64| {
        let slots: Vec<usize> = value_bytes[name]
            .iter()
            .map(|&b| {
                *total += b;
                a.alloc(b)
            })
            .collect();
        value_slots.insert(name.to_string(), slots);
    };
    for inp in &f.inputs {
        alloc(&mut a, &mut value_slots, &inp.name, &mut total);
    }
    let mut scratch_slots = Vec::with_capacity(n);
    for (i, node) in f.nodes.iter().enumerate() {
        for v in &node.outputs {
            alloc(&mut a, &mut value_slots, v, &mut total);
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
            for &s in &value_slots[v] {
                a.release(s);
            }
        }
    }
    let peak = a.slots.iter().sum();
    Plan {
        slots: a.slots,
        value_slots,
        value_segments: HashMap::new(),
        scratch_slots,
        peak_bytes: peak,
        total_bytes: total,
    }
}
