//! A plain description of a graph's structure, for listing, comparing and drawing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use sda_orchestrator_topology::{Fingerprint, Fingerprinter};
use serde::Serialize;

use crate::supervisor::stall::StallPolicy;
use crate::{OnStall, RestartPolicy, Role};

/// The structure of a graph: vertices and edges in declaration order.
///
/// Two graphs declared the same way, by hand or with `pipeline!`, have equal topologies, and
/// equal [`fingerprint`](Topology::fingerprint)s.
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
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Topology {
    /// The vertices.
    pub vertices: Vec<VertexDescription>,
    /// The edges.
    pub edges: Vec<EdgeDescription>,
    /// The SHA-256 of the topology's canonical description: vertex names and roles, edges with
    /// their capacity, kind and filter, in declaration order (see [`Fingerprint`]). Serialized
    /// as 64 hexadecimal digits. `pipeline!` computes the same value at compile time
    /// ([`OperatorGraph::declared_fingerprint`](crate::OperatorGraph::declared_fingerprint)).
    #[serde(serialize_with = "hex")]
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub fingerprint: Fingerprint,
}

/// One vertex of a [`Topology`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct VertexDescription {
    /// Its name.
    pub name: String,
    /// Its role.
    #[serde(serialize_with = "role_noun")]
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub role: Role,
    /// Its restart policy.
    pub restart: RestartPolicy,
    /// How long it may have input queued without progress before the watchdog reports it
    /// stalled ([`OperatorGraph::stall_after`](crate::OperatorGraph::stall_after)); serialized
    /// in seconds. Not part of the fingerprint: like the restart policy, it is tuning.
    #[serde(serialize_with = "seconds")]
    #[cfg_attr(feature = "http", schema(value_type = f64))]
    pub stall_after: Duration,
    /// What the watchdog does when it is stalled.
    pub on_stall: OnStall,
}

/// One edge of a [`Topology`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
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
    /// The item type's name, as `std::any::type_name` gives it (for people: it is not part of
    /// the fingerprint, since the compiler does not promise it stays the same).
    pub item: &'static str,
}

fn role_noun<S: serde::Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.noun())
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn hex<S: serde::Serializer>(fingerprint: &Fingerprint, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(fingerprint)
}

/// One edge as a [`TopologyParts`] holds it: from, to, capacity, kind, filtered, item type.
pub(crate) type EdgeParts = (usize, usize, usize, &'static str, bool, &'static str);

/// One vertex as a [`TopologyParts`] holds it: name, role, restart policy, stall policy.
pub(crate) type VertexParts = (Arc<str>, Role, RestartPolicy, StallPolicy);

/// What a [`Topology`] is made from, without its strings: the names are shared, not copied, so
/// that keeping it costs two allocations for the whole graph. A built graph keeps this and
/// makes its [`Topology`] (a `String` per vertex and two per edge) only when asked for it.
#[derive(Debug)]
pub(crate) struct TopologyParts {
    pub(crate) vertices: Vec<VertexParts>,
    pub(crate) edges: Vec<EdgeParts>,
}

impl TopologyParts {
    fn name(&self, index: usize) -> &str {
        self.vertices.get(index).map_or("", |v| &v.0)
    }

    /// The fingerprint of the canonical description, hashed from the names in place.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        let mut fingerprinter = Fingerprinter::new();
        for (name, role, _, _) in &self.vertices {
            fingerprinter = fingerprinter.vertex(name, role.noun());
        }
        for &(from, to, capacity, kind, filtered, _) in &self.edges {
            fingerprinter =
                fingerprinter.edge(self.name(from), self.name(to), capacity, kind, filtered);
        }
        fingerprinter.finish()
    }

    /// The description, with `fingerprint` (this topology's, computed before).
    pub(crate) fn describe(&self, fingerprint: Fingerprint) -> Topology {
        let edges = self
            .edges
            .iter()
            .map(
                |&(from, to, capacity, kind, filtered, item)| EdgeDescription {
                    from: self.name(from).to_owned(),
                    to: self.name(to).to_owned(),
                    capacity,
                    kind,
                    filtered,
                    item,
                },
            )
            .collect();
        let vertices = self
            .vertices
            .iter()
            .map(|(name, role, restart, stall)| VertexDescription {
                name: name.to_string(),
                role: *role,
                restart: *restart,
                stall_after: stall.after,
                on_stall: stall.on_stall,
            })
            .collect();
        Topology {
            vertices,
            edges,
            fingerprint,
        }
    }
}

impl Topology {
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
