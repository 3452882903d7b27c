//! A restricted unpickler for PyTorch checkpoints. It understands the opcodes a saved
//! state dict uses and builds plain values (numbers, strings, lists, tuples, dicts) and
//! references to tensor storages; it never calls anything. The only globals it accepts
//! are the few that rebuild tensors and ordered dicts, each emulated here by a value
//! constructor; any other global (`os.system`, `builtins.eval`, a user class, ...) is
//! refused with its name, so a malicious file cannot run code.
//!
//! Shared objects are reference-counted, as in Python, so a dict remembered (memoized)
//! before its items are added is seen complete wherever it is fetched again. Nesting is
//! bounded ([`MAX_DEPTH`]) and a container may not change once it is inside another, so
//! the depth recorded at insertion stays true and dropping the result never recurses
//! further than that bound.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// The deepest nesting of containers accepted (state dicts need about 6).
pub const MAX_DEPTH: u32 = 256;
/// The most memo entries and stack items accepted (a 35M-parameter checkpoint with its
/// optimizer state needs a few thousand).
const MAX_ITEMS: usize = 10_000_000;

/// Element types of tensor storages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    BF16,
    F64,
    /// Integer or boolean storages: read past, never converted.
    Other(&'static str, usize),
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::F64 => 8,
            DType::Other(_, s) => s,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F64 => "float64",
            DType::Other(n, _) => n,
        }
    }
}

/// A storage named by a persistent id: `data/<key>` in the archive.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: DType,
    pub numel: u64,
}

/// A tensor: a strided view of a storage (nothing read yet).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

/// The globals this reader emulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(DType),
    /// `torch.Size`: a tuple.
    Size,
    /// `builtins.set` / `frozenset`: a list of the items.
    Set,
    /// `_codecs.encode(text, "latin1")`: protocol 2's way of writing bytes.
    Encode,
}

fn lookup_global(module: &str, name: &str) -> Option<Global> {
    let storage = |d| Some(Global::Storage(d));
    match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
        ("torch", "Size") => Some(Global::Size),
        ("builtins" | "__builtin__", "set" | "frozenset") => Some(Global::Set),
        ("_codecs", "encode") => Some(Global::Encode),
        ("torch", "FloatStorage") => storage(DType::F32),
        ("torch", "HalfStorage") => storage(DType::F16),
        ("torch", "BFloat16Storage") => storage(DType::BF16),
        ("torch", "DoubleStorage") => storage(DType::F64),
        ("torch", "LongStorage") => storage(DType::Other("int64", 8)),
        ("torch", "IntStorage") => storage(DType::Other("int32", 4)),
        ("torch", "ShortStorage") => storage(DType::Other("int16", 2)),
        ("torch", "CharStorage") => storage(DType::Other("int8", 1)),
        ("torch", "ByteStorage") => storage(DType::Other("uint8", 1)),
        ("torch", "BoolStorage") => storage(DType::Other("bool", 1)),
        _ => None,
    }
}

/// A mutable container (list or dict) shared by reference.
#[derive(Debug)]
pub struct Container<T> {
    items: RefCell<T>,
    depth: Cell<u32>,
    /// Set once the container is placed inside another; it may not change after that.
    sealed: Cell<bool>,
}

impl<T> Container<T> {
    fn new(items: T) -> Rc<Self> {
        Rc::new(Container {
            items: RefCell::new(items),
            depth: Cell::new(1),
            sealed: Cell::new(false),
        })
    }
    pub fn borrow(&self) -> std::cell::Ref<'_, T> {
        self.items.borrow()
    }
}

/// A value built by the unpickler.
#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond 64 bits (kept only approximately; checkpoints use them nowhere
    /// that matters here).
    BigInt(f64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<Vec<Value>>, u32),
    List(Rc<Container<Vec<Value>>>),
    Dict(Rc<Container<Vec<(Value, Value)>>>),
    Global(Global),
    Storage(StorageRef),
    Tensor(Rc<TensorRef>),
}

impl Value {
    fn depth(&self) -> u32 {
        match self {
            Value::Tuple(_, d) => *d,
            Value::List(c) => c.depth.get(),
            Value::Dict(c) => c.depth.get(),
            _ => 0,
        }
    }

    /// Marks a container as placed inside another (see the module comment).
    fn seal(&self) {
        match self {
            Value::List(c) => c.sealed.set(true),
            Value::Dict(c) => c.sealed.set(true),
            _ => {}
        }
    }

    /// A short description for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(..) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries of a dict with string keys (other keys are skipped).
    pub fn str_entries(&self) -> Option<Vec<(String, Value)>> {
        match self {
            Value::Dict(d) => {
                let items = d.borrow();
                // The last of repeated keys wins, at the position of the first.
                let mut out: Vec<(String, Value)> = Vec::with_capacity(items.len());
                let mut index = std::collections::HashMap::new();
                for (k, v) in items.iter() {
                    let Some(k) = k.as_str() else { continue };
                    match index.get(k) {
                        Some(&i) => out[i] = (k.to_string(), v.clone()),
                        None => {
                            index.insert(k.to_string(), out.len());
                            out.push((k.to_string(), v.clone()));
                        }
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// The value under string key `key` of a dict.
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(d) => d
                .borrow()
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }
}

fn tuple(items: Vec<Value>) -> Result<Value, String> {
    let depth = items.iter().map(Value::depth).max().unwrap_or(0) + 1;
    if depth > MAX_DEPTH {
        return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
    }
    for v in &items {
        v.seal();
    }
    Ok(Value::Tuple(Rc::new(items), depth))
}

/// Grows `parent`'s depth for a new child and checks the bound and the seal.
fn admit<T>(parent: &Container<T>, children: &[&Value]) -> Result<(), String> {
    if parent.sealed.get() {
        return Err("a container is changed after it was placed in another".into());
    }
    for c in children {
        let d = c.depth() + 1;
        if d > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        if d > parent.depth.get() {
            parent.depth.set(d);
        }
        c.seal();
    }
    Ok(())
}

/// Which persistent ids are accepted (torch: `('storage', type, key, location, numel)`).
fn persistent_load(pid: Value) -> Result<Value, String> {
    let Value::Tuple(items, _) = &pid else {
        return Err(format!("persistent id is a {}, not a tuple", pid.kind()));
    };
    match items.as_slice() {
        [Value::Str(tag), Value::Global(Global::Storage(dtype)), Value::Str(key), _location, Value::Int(numel)]
            if &**tag == "storage" && *numel >= 0 =>
        {
            if key.is_empty() || key.contains(['/', '\\']) || key.contains("..") {
                return Err(format!("storage key {key:?} is not a plain name"));
            }
            Ok(Value::Storage(StorageRef {
                key: key.to_string(),
                dtype: *dtype,
                numel: *numel as u64,
            }))
        }
        _ => Err("persistent id is not a torch storage reference".into()),
    }
}

fn as_usize_list(v: &Value, what: &str) -> Result<Vec<usize>, String> {
    let Value::Tuple(items, _) = v else {
        return Err(format!("tensor {what} is a {}, not a tuple", v.kind()));
    };
    items
        .iter()
        .map(|x| match x {
            Value::Int(i) if *i >= 0 && *i <= u32::MAX as i64 => Ok(*i as usize),
            _ => Err(format!("tensor {what} holds a bad entry")),
        })
        .collect()
}

/// Applies an accepted global to its arguments (REDUCE / NEWOBJ).
fn call(global: Global, args: Value) -> Result<Value, String> {
    let Value::Tuple(args, _) = args else {
        return Err(format!("arguments are a {}, not a tuple", args.kind()));
    };
    match global {
        Global::OrderedDict => match args.as_slice() {
            [] => Ok(Value::Dict(Container::new(Vec::new()))),
            [Value::List(pairs)] => {
                let dict = Container::new(Vec::new());
                for p in pairs.borrow().iter() {
                    match p {
                        Value::Tuple(kv, _) if kv.len() == 2 => {
                            admit(&dict, &[&kv[0], &kv[1]])?;
                            dict.items.borrow_mut().push((kv[0].clone(), kv[1].clone()));
                        }
                        _ => return Err("OrderedDict items are not (key, value) pairs".into()),
                    }
                }
                Ok(Value::Dict(dict))
            }
            _ => Err("OrderedDict called with unexpected arguments".into()),
        },
        Global::RebuildTensorV2 => {
            if args.len() < 4 {
                return Err("_rebuild_tensor_v2 called with too few arguments".into());
            }
            let Value::Storage(storage) = &args[0] else {
                return Err(format!(
                    "_rebuild_tensor_v2's storage is a {}",
                    args[0].kind()
                ));
            };
            let Value::Int(offset) = args[1] else {
                return Err("_rebuild_tensor_v2's offset is not an integer".into());
            };
            if offset < 0 {
                return Err("_rebuild_tensor_v2's offset is negative".into());
            }
            let size = as_usize_list(&args[2], "size")?;
            let stride = as_usize_list(&args[3], "stride")?;
            if size.len() != stride.len() || size.len() > 8 {
                return Err("tensor size and stride do not match".into());
            }
            Ok(Value::Tensor(Rc::new(TensorRef {
                storage: storage.clone(),
                offset: offset as u64,
                size,
                stride,
            })))
        }
        Global::RebuildParameter => match args.first() {
            Some(t @ Value::Tensor(_)) => Ok(t.clone()),
            _ => Err("_rebuild_parameter without a tensor".into()),
        },
        Global::Size => tuple(args.to_vec()),
        Global::Set => match args.as_slice() {
            [] => Ok(Value::List(Container::new(Vec::new()))),
            [v @ Value::List(_)] => Ok(v.clone()),
            [Value::Tuple(items, _)] => {
                let list = Container::new(Vec::new());
                for v in items.iter() {
                    admit(&list, &[v])?;
                    list.items.borrow_mut().push(v.clone());
                }
                Ok(Value::List(list))
            }
            _ => Err("set called with unexpected arguments".into()),
        },
        Global::Encode => match args.as_slice() {
            [Value::Str(s), Value::Str(enc)] if &**enc == "latin1" => {
                let bytes: Option<Vec<u8>> =
                    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
                bytes
                    .map(|b| Value::Bytes(b.into()))
                    .ok_or_else(|| "_codecs.encode of a non-latin1 text".into())
            }
            _ => Err("_codecs.encode called with unexpected arguments".into()),
        },
        Global::Storage(_) => Err("a storage type is called directly".into()),
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("the pickle is truncated")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle is truncated")?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| "a text line is not UTF-8".into())
    }
    fn text(&mut self, n: usize) -> Result<Rc<str>, String> {
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(Rc::from)
            .map_err(|_| "a string is not UTF-8".into())
    }
}

fn len(n: u64) -> Result<usize, String> {
    usize::try_from(n).map_err(|_| "a length does not fit in memory".to_string())
}

/// Python's little-endian two's-complement long.
fn decode_long(b: &[u8]) -> Value {
    if b.is_empty() {
        return Value::Int(0);
    }
    if b.len() <= 8 {
        let neg = b[b.len() - 1] & 0x80 != 0;
        let mut buf = [if neg { 0xff } else { 0 }; 8];
        buf[..b.len()].copy_from_slice(b);
        return Value::Int(i64::from_le_bytes(buf));
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    let mut f = 0f64;
    for &byte in b.iter().rev() {
        f = f * 256.0 + f64::from(if neg { !byte } else { byte });
    }
    Value::BigInt(if neg { -(f + 1.0) } else { f })
}

/// Unpickles `data`, refusing anything outside a state dict's needs.
pub fn unpickle(data: &[u8]) -> Result<Value, String> {
    let mut r = Reader { data, pos: 0 };
    let mut stack: Vec<Value> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: Vec<Option<Value>> = Vec::new();

    fn pop(stack: &mut Vec<Value>) -> Result<Value, String> {
        stack
            .pop()
            .ok_or_else(|| "the pickle pops an empty stack".to_string())
    }
    fn pop_mark(stack: &mut Vec<Value>, marks: &mut Vec<usize>) -> Result<Vec<Value>, String> {
        let m = marks
            .pop()
            .ok_or_else(|| "the pickle has no mark to pop to".to_string())?;
        if m > stack.len() {
            return Err("the pickle's mark is above the stack".into());
        }
        Ok(stack.split_off(m))
    }
    fn put(memo: &mut Vec<Option<Value>>, i: usize, v: Value) -> Result<(), String> {
        if i >= MAX_ITEMS {
            return Err("the pickle's memo is too large".into());
        }
        if i >= memo.len() {
            memo.resize(i + 1, None);
        }
        memo[i] = Some(v);
        Ok(())
    }
    fn get(memo: &[Option<Value>], i: usize) -> Result<Value, String> {
        memo.get(i)
            .cloned()
            .flatten()
            .ok_or_else(|| format!("the pickle fetches memo entry {i}, which was never stored"))
    }
    fn top(stack: &[Value]) -> Result<&Value, String> {
        stack
            .last()
            .ok_or_else(|| "the pickle reads an empty stack".to_string())
    }
    fn set_items(target: &Value, items: Vec<Value>) -> Result<(), String> {
        let Value::Dict(d) = target else {
            return Err(format!("the pickle sets items on a {}", target.kind()));
        };
        if !items.len().is_multiple_of(2) {
            return Err("the pickle sets an odd number of keys and values".into());
        }
        let refs: Vec<&Value> = items.iter().collect();
        admit(d, &refs)?;
        // Appended in order; a repeated key is resolved at lookup (the last one wins, as
        // in Python), which keeps a hostile file of many keys linear.
        let mut it = items.into_iter();
        let mut map = d.items.borrow_mut();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            map.push((k, v));
        }
        Ok(())
    }
    fn append_items(target: &Value, items: Vec<Value>) -> Result<(), String> {
        let Value::List(l) = target else {
            return Err(format!("the pickle appends to a {}", target.kind()));
        };
        let refs: Vec<&Value> = items.iter().collect();
        admit(l, &refs)?;
        l.items.borrow_mut().extend(items);
        Ok(())
    }

    loop {
        if stack.len() > MAX_ITEMS {
            return Err("the pickle's stack is too large".into());
        }
        let op = r.u8()?;
        match op {
            0x80 => {
                let proto = r.u8()?;
                if proto > 5 {
                    return Err(format!("pickle protocol {proto} is not supported"));
                }
            }
            0x95 => {
                r.u64()?; // FRAME: a length hint only
            }
            b'.' => return pop(&mut stack),
            b'(' => marks.push(stack.len()),
            b'0' => {
                pop(&mut stack)?;
            }
            b'1' => {
                pop_mark(&mut stack, &mut marks)?;
            }
            b'2' => {
                let v = top(&stack)?.clone();
                stack.push(v);
            }
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'J' => stack.push(Value::Int(i64::from(r.u32()? as i32))),
            b'K' => stack.push(Value::Int(i64::from(r.u8()?))),
            b'M' => stack.push(Value::Int(i64::from(r.u16()?))),
            0x8a => {
                let n = r.u8()? as usize;
                stack.push(decode_long(r.take(n)?));
            }
            0x8b => {
                let n = r.u32()? as i32;
                if n < 0 {
                    return Err("LONG4 with a negative length".into());
                }
                stack.push(decode_long(r.take(n as usize)?));
            }
            b'I' => {
                let line = r.line()?;
                stack.push(match line {
                    "01" => Value::Bool(true),
                    "00" => Value::Bool(false),
                    s => Value::Int(
                        s.parse()
                            .map_err(|_| format!("INT {s:?} is not an integer"))?,
                    ),
                });
            }
            b'L' => {
                let line = r.line()?.trim_end_matches('L');
                stack.push(match line.parse::<i64>() {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::BigInt(
                        line.parse()
                            .map_err(|_| format!("LONG {line:?} is not an integer"))?,
                    ),
                });
            }
            b'G' => stack.push(Value::Float(f64::from_be_bytes(
                r.take(8)?.try_into().unwrap(),
            ))),
            b'F' => {
                let line = r.line()?;
                stack.push(Value::Float(
                    line.parse()
                        .map_err(|_| format!("FLOAT {line:?} is not a number"))?,
                ));
            }
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(Value::Str(r.text(n)?));
            }
            0x8c => {
                let n = r.u8()? as usize;
                stack.push(Value::Str(r.text(n)?));
            }
            0x8d => {
                let n = len(r.u64()?)?;
                stack.push(Value::Str(r.text(n)?));
            }
            b'T' => {
                let n = r.u32()? as usize;
                stack.push(Value::Bytes(r.take(n)?.into()));
            }
            b'U' => {
                let n = r.u8()? as usize;
                stack.push(Value::Bytes(r.take(n)?.into()));
            }
            b'B' => {
                let n = r.u32()? as usize;
                stack.push(Value::Bytes(r.take(n)?.into()));
            }
            b'C' => {
                let n = r.u8()? as usize;
                stack.push(Value::Bytes(r.take(n)?.into()));
            }
            0x8e | 0x96 => {
                let n = len(r.u64()?)?;
                stack.push(Value::Bytes(r.take(n)?.into()));
            }
            b'V' => {
                let line = r.line()?;
                stack.push(Value::Str(Rc::from(line)));
            }
            b')' => stack.push(tuple(Vec::new())?),
            b't' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                stack.push(tuple(items)?);
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("the pickle builds a tuple from an empty stack".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(tuple(items)?);
            }
            b']' => stack.push(Value::List(Container::new(Vec::new()))),
            b'l' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                let list = Value::List(Container::new(Vec::new()));
                append_items(&list, items)?;
                stack.push(list);
            }
            b'}' => stack.push(Value::Dict(Container::new(Vec::new()))),
            b'd' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                let dict = Value::Dict(Container::new(Vec::new()));
                set_items(&dict, items)?;
                stack.push(dict);
            }
            0x8f => stack.push(Value::List(Container::new(Vec::new()))),
            0x90 => {
                let items = pop_mark(&mut stack, &mut marks)?;
                append_items(top(&stack)?, items)?;
            }
            0x91 => {
                let items = pop_mark(&mut stack, &mut marks)?;
                let list = Value::List(Container::new(Vec::new()));
                append_items(&list, items)?;
                stack.push(list);
            }
            b'a' => {
                let v = pop(&mut stack)?;
                append_items(top(&stack)?, vec![v])?;
            }
            b'e' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                append_items(top(&stack)?, items)?;
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                set_items(top(&stack)?, vec![k, v])?;
            }
            b'u' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                set_items(top(&stack)?, items)?;
            }
            b'q' => {
                let i = r.u8()? as usize;
                put(&mut memo, i, top(&stack)?.clone())?;
            }
            b'r' => {
                let i = r.u32()? as usize;
                put(&mut memo, i, top(&stack)?.clone())?;
            }
            b'p' => {
                let line = r.line()?;
                let i = line
                    .parse()
                    .map_err(|_| format!("PUT {line:?} is not an index"))?;
                put(&mut memo, i, top(&stack)?.clone())?;
            }
            0x94 => {
                let i = memo.len();
                put(&mut memo, i, top(&stack)?.clone())?;
            }
            b'h' => {
                let i = r.u8()? as usize;
                stack.push(get(&memo, i)?);
            }
            b'j' => {
                let i = r.u32()? as usize;
                stack.push(get(&memo, i)?);
            }
            b'g' => {
                let line = r.line()?;
                let i = line
                    .parse()
                    .map_err(|_| format!("GET {line:?} is not an index"))?;
                stack.push(get(&memo, i)?);
            }
            b'c' => {
                let module = r.line()?.to_string();
                let name = r.line()?;
                stack.push(Value::Global(lookup_global(&module, name).ok_or_else(
                    || format!("refused: the pickle asks for `{module}.{name}`, which a state dict never needs"),
                )?));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                let (Some(m), Some(n)) = (module.as_str(), name.as_str()) else {
                    return Err("STACK_GLOBAL with non-string names".into());
                };
                stack.push(Value::Global(lookup_global(m, n).ok_or_else(|| {
                    format!(
                        "refused: the pickle asks for `{m}.{n}`, which a state dict never needs"
                    )
                })?));
            }
            b'R' | 0x81 => {
                let args = pop(&mut stack)?;
                let f = pop(&mut stack)?;
                let Value::Global(g) = f else {
                    return Err(format!("the pickle calls a {}", f.kind()));
                };
                stack.push(call(g, args)?);
            }
            0x92 => {
                let _kwargs = pop(&mut stack)?;
                let args = pop(&mut stack)?;
                let f = pop(&mut stack)?;
                let Value::Global(g) = f else {
                    return Err(format!("the pickle calls a {}", f.kind()));
                };
                stack.push(call(g, args)?);
            }
            b'b' => {
                // Object state: module versions on an OrderedDict (`_metadata`), flags on
                // a tensor. Neither changes the weights.
                let _state = pop(&mut stack)?;
                let target = top(&stack)?;
                if !matches!(target, Value::Dict(_) | Value::Tensor(_)) {
                    return Err(format!("the pickle sets the state of a {}", target.kind()));
                }
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(persistent_load(pid)?);
            }
            b'P' => return Err("text persistent ids are not supported".into()),
            b'i' | b'o' => {
                return Err("refused: the pickle instantiates an object (INST/OBJ)".into())
            }
            0x82..=0x84 => return Err("refused: the pickle uses the extension registry".into()),
            other => return Err(format!("unknown pickle opcode 0x{other:02x}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values() {
        // pickle.dumps({"a": [1, 2.5, None, True], "b": (3, "x")}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88eX\x01\x00\x00\x00bq\x03K\x03X\x01\x00\x00\x00xq\x04\x86q\x05u.";
        let v = unpickle(data).unwrap();
        let Value::List(a) = v.get("a").unwrap() else {
            panic!()
        };
        let a = a.borrow();
        assert!(matches!(a[0], Value::Int(1)));
        assert!(matches!(a[1], Value::Float(f) if f == 2.5));
        assert!(matches!(a[2], Value::None));
        assert!(matches!(a[3], Value::Bool(true)));
        let Value::Tuple(b, _) = v.get("b").unwrap() else {
            panic!()
        };
        assert!(matches!(b[0], Value::Int(3)));
        assert_eq!(b[1].as_str(), Some("x"));
    }

    #[test]
    fn other_globals_are_refused_by_name() {
        // pickle.dumps(os.system) style: GLOBAL 'posix system', then a call.
        let data = b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00idq\x00\x85R.";
        let e = unpickle(data).unwrap_err();
        assert!(e.contains("posix.system"), "{e}");
        let data = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        let e = unpickle(data).unwrap_err();
        assert!(e.contains("builtins.eval"), "{e}");
    }

    #[test]
    fn memoized_dicts_are_seen_complete() {
        // d = {}; pickle.dumps([d, d]) after filling d: EMPTY_DICT is memoized before
        // its items are set, and fetched again by BINGET.
        let data = b"\x80\x02]q\x00(}q\x01X\x01\x00\x00\x00kq\x02K\x07sh\x01e.";
        let v = unpickle(data).unwrap();
        let Value::List(l) = v else { panic!() };
        let l = l.borrow();
        assert!(matches!(l[1].get("k"), Some(Value::Int(7))));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let n = MAX_DEPTH as usize + 5;
        let mut data = b"\x80\x02".to_vec();
        data.extend(std::iter::repeat_n(b']', n));
        data.extend(std::iter::repeat_n(b'a', n - 1));
        data.push(b'.');
        let e = unpickle(&data).unwrap_err();
        assert!(e.contains("nesting"), "{e}");
    }

    #[test]
    fn changing_a_placed_container_is_refused() {
        // a = []; b = [a]; then append to a again through the memo.
        let data = b"\x80\x02]q\x00]q\x01h\x00ah\x00K\x01a.";
        let e = unpickle(data).unwrap_err();
        assert!(e.contains("changed"), "{e}");
    }

    #[test]
    fn truncated_and_garbage_input_are_errors() {
        assert!(unpickle(b"").is_err());
        assert!(unpickle(b"\x80\x02X\xff\xff\xff\x00ab").is_err());
        assert!(unpickle(b"\x80\x02\xff").is_err());
        assert!(unpickle(b"\x80\x02h\x05.").is_err());
        assert!(unpickle(b"\x80\x02t.").is_err());
    }

    #[test]
    fn longs_decode_twos_complement() {
        assert!(matches!(decode_long(&[0xff]), Value::Int(-1)));
        assert!(matches!(decode_long(&[0x00, 0x01]), Value::Int(256)));
        assert!(matches!(decode_long(&[0x80, 0x00]), Value::Int(128)));
        assert!(matches!(decode_long(&[0; 9]), Value::BigInt(f) if f == 0.0));
    }
}
