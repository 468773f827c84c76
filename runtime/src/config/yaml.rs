//! A YAML document as a tree of nodes that remember where they came from.
//!
//! serde loses positions; config errors must name file, line and key path, so the
//! launcher parses into [`Node`]s first and reads typed values out of them.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A position in a config file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, counting from 1.
    pub line: usize,
    /// Column, counting from 1.
    pub col: usize,
}

impl Pos {
    fn of(span: &Span) -> Self {
        Self {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

/// One YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub pos: Pos,
    /// The value itself.
    pub value: Value,
}

/// The shape of a YAML value. Scalars stay text until a reader asks for a type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A plain or quoted scalar; `quoted` is false for plain scalars.
    Scalar {
        /// The scalar's text (after environment interpolation).
        text: String,
        /// Whether the scalar was written in quotes (quoted scalars are never null).
        quoted: bool,
    },
    /// A sequence of nodes.
    Seq(Vec<Node>),
    /// A mapping with string keys, in file order.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key is written.
    pub pos: Pos,
}

/// A syntax error found while parsing YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What the parser said.
    pub message: String,
}

impl Node {
    /// True for an unquoted `~`, `null`, `Null`, `NULL` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A short name of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document into a [`Node`] tree. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        match item {
            Ok((event, span)) => events.push((event, span)),
            Err(e) => {
                return Err(SyntaxError {
                    pos: Pos {
                        line: e.marker().line(),
                        col: e.marker().col() + 1,
                    },
                    message: e.info().to_string(),
                });
            }
        }
    }
    let mut builder = Builder {
        events: events.into_iter(),
        anchors: Vec::new(),
    };
    builder.document()
}

struct Builder<'a> {
    events: std::vec::IntoIter<(Event<'a>, Span)>,
    anchors: Vec<(usize, Node)>,
}

impl<'a> Builder<'a> {
    fn document(&mut self) -> Result<Node, SyntaxError> {
        let mut root = None;
        while let Some((event, span)) = self.events.next() {
            match event {
                Event::StreamStart | Event::DocumentStart(_) | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                other => {
                    if root.is_some() {
                        return Err(SyntaxError {
                            pos: Pos::of(&span),
                            message: "only one YAML document is allowed".into(),
                        });
                    }
                    root = Some(self.node(other, span)?);
                }
            }
        }
        Ok(root.unwrap_or(Node {
            pos: Pos { line: 1, col: 1 },
            value: Value::Map(Vec::new()),
        }))
    }

    fn next_event(&mut self) -> Result<(Event<'a>, Span), SyntaxError> {
        self.events.next().ok_or(SyntaxError {
            pos: Pos::default(),
            message: "unexpected end of document".into(),
        })
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, SyntaxError> {
        let pos = Pos::of(&span);
        let (anchor, node) = match event {
            Event::Scalar(text, style, anchor, _) => (
                anchor,
                Node {
                    pos,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        quoted: !matches!(style, ScalarStyle::Plain),
                    },
                },
            ),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next_event()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, sp)?);
                }
                (
                    anchor,
                    Node {
                        pos,
                        value: Value::Seq(items),
                    },
                )
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Key, Node)> = Vec::new();
                loop {
                    let (ev, sp) = self.next_event()?;
                    let key_pos = Pos::of(&sp);
                    let name = match ev {
                        Event::MappingEnd => break,
                        Event::Scalar(text, ..) => text.into_owned(),
                        _ => {
                            return Err(SyntaxError {
                                pos: key_pos,
                                message: "mapping keys must be plain strings".into(),
                            });
                        }
                    };
                    if entries.iter().any(|(k, _)| k.name == name) {
                        return Err(SyntaxError {
                            pos: key_pos,
                            message: format!("duplicate key `{name}`"),
                        });
                    }
                    let (ev, sp) = self.next_event()?;
                    let value = self.node(ev, sp)?;
                    entries.push((Key { name, pos: key_pos }, value));
                }
                (
                    anchor,
                    Node {
                        pos,
                        value: Value::Map(entries),
                    },
                )
            }
            Event::Alias(id) => {
                let found = self.anchors.iter().rev().find(|(a, _)| *a == id);
                return found.map(|(_, n)| n.clone()).ok_or(SyntaxError {
                    pos,
                    message: "unknown alias".into(),
                });
            }
            _ => {
                return Err(SyntaxError {
                    pos,
                    message: "unexpected YAML event".into(),
                });
            }
        };
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        Ok(node)
    }
}
