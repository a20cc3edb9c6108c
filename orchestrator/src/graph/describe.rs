//! A plain description of a graph's structure, for listing, comparing and drawing.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::{RestartPolicy, Role};

/// The structure of a graph: vertices and edges in declaration order.
///
/// Two graphs declared the same way, by hand or with `pipeline!`, have equal topologies.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorGraph, RestartPolicy};
///
/// let mut graph = OperatorGraph::new();
/// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
/// let out = graph.add_sink("archive", RestartPolicy::Never, |_ctx: sda_orchestrator::SinkContext<u8>| async { Ok(()) });
/// graph.connect(&src, &out);
/// let mermaid = graph.topology().to_mermaid();
/// assert!(mermaid.contains("v0 -->|1024| v1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// The vertices.
    pub vertices: Vec<VertexDescription>,
    /// The edges.
    pub edges: Vec<EdgeDescription>,
}

/// One vertex of a [`Topology`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VertexDescription {
    /// Its name.
    pub name: String,
    /// Its role.
    #[serde(serialize_with = "role_noun")]
    pub role: Role,
    /// Its restart policy.
    pub restart: RestartPolicy,
}

/// One edge of a [`Topology`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeDescription {
    /// The upstream vertex's name.
    pub from: String,
    /// The downstream vertex's name.
    pub to: String,
    /// How many items the edge holds (per lane on a priority edge; the ring on a broadcast one).
    pub capacity: usize,
    /// `plain`, `priority` (emergency and routine lanes) or `broadcast` (lossy).
    pub kind: &'static str,
    /// Whether the edge carries only the items its filter keeps.
    pub filtered: bool,
}

fn role_noun<S: serde::Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.noun())
}

impl Topology {
    pub(crate) fn new(
        vertices: Vec<(String, Role, RestartPolicy)>,
        edges: Vec<(usize, usize, usize, &'static str, bool)>,
    ) -> Self {
        let name = |i: usize| vertices.get(i).map_or_else(String::new, |v| v.0.clone());
        let edges = edges
            .into_iter()
            .map(|(from, to, capacity, kind, filtered)| EdgeDescription {
                from: name(from),
                to: name(to),
                capacity,
                kind,
                filtered,
            })
            .collect();
        let vertices = vertices
            .into_iter()
            .map(|(name, role, restart)| VertexDescription {
                name,
                role,
                restart,
            })
            .collect();
        Topology { vertices, edges }
    }

    /// The graph as a Mermaid flowchart: sources as parallelograms, operators as rectangles,
    /// sinks as cylinders, each edge labelled with its capacity (and its kind and filter when it
    /// has them; lossy broadcast edges dotted).
    pub fn to_mermaid(&self) -> String {
        let mut text = String::from("flowchart LR\n");
        let ids: HashMap<&str, usize> = self
            .vertices
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.as_str(), i))
            .collect();
        for (i, v) in self.vertices.iter().enumerate() {
            let label = v.name.replace('"', "#quot;");
            let _ = match v.role {
                Role::Source => writeln!(text, "    v{i}[/\"{label}\"/]"),
                Role::Operator => writeln!(text, "    v{i}[\"{label}\"]"),
                Role::Sink => writeln!(text, "    v{i}[(\"{label}\")]"),
            };
        }
        for e in &self.edges {
            if let (Some(from), Some(to)) = (ids.get(e.from.as_str()), ids.get(e.to.as_str())) {
                // A plain edge is labelled with its capacity alone; other kinds and filters say
                // so after it, and a lossy edge is drawn dotted.
                let mut label = e.capacity.to_string();
                if e.kind != "plain" {
                    label.push(' ');
                    label.push_str(e.kind);
                }
                if e.filtered {
                    label.push_str(" filtered");
                }
                let arrow = if e.kind == "broadcast" { "-.->" } else { "-->" };
                let _ = writeln!(text, "    v{from} {arrow}|{label}| v{to}");
            }
        }
        text
    }
}
