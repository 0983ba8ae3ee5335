//! serde deserialization from a located node.
//!
//! Strict on purpose: a quoted `"53"` is not an integer and a plain `53` is
//! not a string, exactly as the Kubernetes API server treats JSON. Errors
//! carry the position and the dotted path of the node that failed, so an
//! unknown field, a wrong type or an unknown enum variant (step kind) is
//! reported where it is written.

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::tree::{Node, Pos, Value};

/// A deserialization error with the node it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    /// Position of the failing node; `None` only before it is known.
    pub pos: Option<Pos>,
    /// Dotted path of the failing node (`spec.steps[2].wait`).
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for DeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        DeError {
            pos: None,
            path: String::new(),
            message: msg.to_string(),
        }
    }
}

/// Deserializes `node` into `T`.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDe {
        node,
        path: String::new(),
    })
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl NodeDe<'_> {
    /// Attaches this node's position and path to an error raised below it,
    /// unless a deeper node already did.
    fn locate(&self, mut e: DeError) -> DeError {
        if e.pos.is_none() {
            e.pos = Some(self.node.pos);
            e.path = self.path.clone();
        }
        e
    }

    fn invalid(&self, exp: &dyn de::Expected) -> DeError {
        let unexp = match &self.node.value {
            Value::Null => de::Unexpected::Unit,
            Value::Bool(b) => de::Unexpected::Bool(*b),
            Value::Int(i) => de::Unexpected::Signed(*i),
            Value::Float(f) => de::Unexpected::Float(*f),
            Value::Str(s) => de::Unexpected::Str(s),
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        };
        self.locate(de::Error::invalid_type(unexp, exp))
    }

    fn child(&self, seg: &str) -> String {
        let seg = if self.path.is_empty() { seg.trim_start_matches('.') } else { seg };
        format!("{}{}", self.path, seg)
    }
}

fn key_segment(key: &Node) -> String {
    let text = key.scalar_text().unwrap_or_else(|| "?".into());
    if text.contains('.') {
        format!(".\"{text}\"")
    } else {
        format!(".{text}")
    }
}

macro_rules! forward_to_any {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                self.deserialize_any(visitor)
            }
        )*
    };
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(Seq {
                parent: &self,
                items: items.iter().enumerate(),
            }),
            Value::Map(entries) => visitor.visit_map(Map {
                parent: &self,
                entries: entries.iter(),
                value: None,
            }),
        };
        r.map_err(|e| self.locate(e))
    }

    forward_to_any! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_bool deserialize_char
        deserialize_bytes deserialize_byte_buf deserialize_unit deserialize_seq deserialize_map
        deserialize_ignored_any
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) => visitor.visit_str(s).map_err(|e| self.locate(e)),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) => visitor.visit_str(s).map_err(|e| self.locate(e)),
            _ => match self.node.scalar_text() {
                Some(t) => visitor.visit_str(&t).map_err(|e| self.locate(e)),
                None => Err(self.invalid(&visitor)),
            },
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none().map_err(|e| self.locate(e))
        } else {
            let path = self.path.clone();
            let pos = self.node.pos;
            visitor.visit_some(self).map_err(|mut e| {
                if e.pos.is_none() {
                    e.pos = Some(pos);
                    e.path = path;
                }
                e
            })
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let pos = self.node.pos;
        let path = self.path.clone();
        visitor.visit_newtype_struct(self).map_err(|mut e| {
            if e.pos.is_none() {
                e.pos = Some(pos);
                e.path = path;
            }
            e
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(_) => visitor
                .visit_enum(Enum {
                    parent: &self,
                    tag: self.node,
                    content: None,
                })
                .map_err(|e| self.locate(e)),
            Value::Map(entries) if entries.len() == 1 => {
                let (tag, content) = (&entries[0].0, &entries[0].1);
                visitor
                    .visit_enum(Enum {
                        parent: &self,
                        tag,
                        content: Some(content),
                    })
                    .map_err(|e| self.locate(e))
            }
            Value::Map(entries) => {
                let found: Vec<String> = entries
                    .iter()
                    .filter_map(|(k, _)| k.scalar_text())
                    .collect();
                Err(self.locate(de::Error::custom(format!(
                    "expected exactly one of {}, found {} keys ({})",
                    one_of(variants),
                    entries.len(),
                    found.join(", ")
                ))))
            }
            _ => Err(self.locate(de::Error::custom(format!(
                "expected one of {}, found {}",
                one_of(variants),
                self.node.type_name()
            )))),
        }
    }
}

fn one_of(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Seq<'p, 'a, I> {
    parent: &'p NodeDe<'a>,
    items: I,
}

impl<'de, 'p, 'a, I> SeqAccess<'de> for Seq<'p, 'a, I>
where
    I: Iterator<Item = (usize, &'a Node)>,
{
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => {
                let path = self.parent.child(&format!("[{i}]"));
                let de = NodeDe { node, path };
                let pos = node.pos;
                let p = de.path.clone();
                seed.deserialize(de).map(Some).map_err(|mut e| {
                    if e.pos.is_none() {
                        e.pos = Some(pos);
                        e.path = p;
                    }
                    e
                })
            }
        }
    }
}

struct Map<'p, 'a, I> {
    parent: &'p NodeDe<'a>,
    entries: I,
    value: Option<(&'a Node, String)>,
}

impl<'de, 'p, 'a, I> MapAccess<'de> for Map<'p, 'a, I>
where
    I: Iterator<Item = &'a (Node, Node)>,
{
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((k, v)) => {
                let path = self.parent.child(&key_segment(k));
                self.value = Some((v, path.clone()));
                let de = NodeDe { node: k, path };
                let pos = k.pos;
                let p = de.path.clone();
                seed.deserialize(de).map(Some).map_err(|mut e| {
                    if e.pos.is_none() {
                        e.pos = Some(pos);
                        e.path = p;
                    }
                    e
                })
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (node, path) = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value requested before key"))?;
        let pos = node.pos;
        let p = path.clone();
        seed.deserialize(NodeDe { node, path }).map_err(|mut e| {
            if e.pos.is_none() {
                e.pos = Some(pos);
                e.path = p;
            }
            e
        })
    }
}

struct Enum<'p, 'a> {
    parent: &'p NodeDe<'a>,
    tag: &'a Node,
    content: Option<&'a Node>,
}

impl<'de, 'p, 'a> EnumAccess<'de> for Enum<'p, 'a> {
    type Error = DeError;
    type Variant = Variant<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Variant<'a>), DeError> {
        let path = match self.content {
            Some(_) => self.parent.child(&key_segment(self.tag)),
            None => self.parent.path.clone(),
        };
        let tag_de = NodeDe {
            node: self.tag,
            path: path.clone(),
        };
        let pos = self.tag.pos;
        let v = seed.deserialize(tag_de).map_err(|mut e| {
            if e.pos.is_none() {
                e.pos = Some(pos);
                e.path = path.clone();
            }
            e
        })?;
        Ok((
            v,
            Variant {
                tag: self.tag,
                content: self.content,
                path,
            },
        ))
    }
}

struct Variant<'a> {
    tag: &'a Node,
    content: Option<&'a Node>,
    path: String,
}

impl Variant<'_> {
    fn content_de(&self) -> Result<NodeDe<'_>, DeError> {
        match self.content {
            Some(node) => Ok(NodeDe {
                node,
                path: self.path.clone(),
            }),
            None => Err(DeError {
                pos: Some(self.tag.pos),
                path: self.path.clone(),
                message: "this kind needs a body (`kind: {...}`)".into(),
            }),
        }
    }
}

impl<'de> VariantAccess<'de> for Variant<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.content {
            None => Ok(()),
            Some(n) if n.is_null() => Ok(()),
            Some(n) => Err(DeError {
                pos: Some(n.pos),
                path: self.path.clone(),
                message: format!("this kind takes no body, found {}", n.type_name()),
            }),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        let de = self.content_de()?;
        seed.deserialize(de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        let de = self.content_de()?;
        de::Deserializer::deserialize_seq(de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let de = self.content_de()?;
        de::Deserializer::deserialize_map(de, visitor)
    }
}

impl<'de> IntoDeserializer<'de, DeError> for NodeDe<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}
