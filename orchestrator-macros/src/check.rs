//! Stage 2: attributes, names and the topology, each error on the user's own tokens.
//!
//! The topology checks are not written here: they are `sda_orchestrator_topology::check`, the
//! same function `OperatorGraph::build()` runs, so the macro and the runtime accept the same
//! graphs and word their errors the same way. This module only resolves names to indices first
//! and then maps each problem's indices back to the tokens they came from.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use sda_orchestrator_topology::{self as topology, Edge, Problem, Vertex};
use syn::ext::IdentExt;
use syn::{Expr, Ident, Lit};

use crate::ctxt::Ctxt;
use crate::parse::{Attribute, Connection, Declaration, Pipeline};
use crate::suggest;

/// The attributes a declaration accepts.
const DECLARATION_KEYS: &[&str] = &["restart", "stall_after", "on_stall"];
/// What `on_stall = ...` takes, with the `OnStall` variant each names.
const ON_STALL: [(&str, &str); 2] = [("report", "Report"), ("restart", "Restart")];
/// The attributes an edge accepts.
const EDGE_KEYS: &[&str] = &["capacity", "priority", "broadcast", "filter"];

/// What to expand: the declarations and edges with their attributes looked up and their names
/// resolved.
pub(crate) struct Plan<'a> {
    /// The vertices, in declaration order.
    pub(crate) vertices: Vec<PlannedVertex<'a>>,
    /// The edges, in the order written.
    pub(crate) edges: Vec<PlannedEdge<'a>>,
}

/// A declaration, its restart policy and stall settings if it gives them, and the name of its
/// handle variable.
pub(crate) struct PlannedVertex<'a> {
    pub(crate) declaration: &'a Declaration,
    pub(crate) restart: Option<&'a Expr>,
    /// `stall_after = <Duration>`.
    pub(crate) stall_after: Option<&'a Expr>,
    /// `on_stall = report | restart`: the `OnStall` variant, located at the value.
    pub(crate) on_stall: Option<Ident>,
    /// `__pipeline_<name>`; a repeated name gets its own (`__pipeline_<name>__<index>`) so that
    /// its factory is still type-checked without shadowing the first.
    pub(crate) handle: String,
}

/// An edge, its capacity if it gives one, and the vertex indices it joins.
pub(crate) struct PlannedEdge<'a> {
    pub(crate) connection: &'a Connection,
    pub(crate) capacity: Option<&'a Expr>,
    /// The classifier of a priority edge (`priority = classify`), a `fn(&T) -> Lane`.
    pub(crate) priority: Option<&'a Expr>,
    /// The ring capacity of a lossy broadcast edge (`broadcast = 16`).
    pub(crate) broadcast: Option<&'a Expr>,
    /// The filter of a routed edge (`filter = keep`), a `fn(&T) -> bool`.
    pub(crate) filter: Option<&'a Expr>,
    /// `(from, to)`, or `None` for an edge that is already reported as wrong (an unknown name,
    /// a wrong role, a self-edge or a repeat): its `connect` call would only add a type error
    /// saying the same thing again.
    pub(crate) endpoints: Option<(usize, usize)>,
}

/// Checks everything the parser produced, reporting every problem into `cx`.
///
/// The plan is expanded whether or not there were errors: after errors, its well-formed part
/// still type-checks the factories (so the caller's imports and variables count as used, and
/// their own mistakes show now rather than after the next fix).
pub(crate) fn check<'a>(pipeline: &'a Pipeline, cx: &mut Ctxt) -> Plan<'a> {
    let names: Vec<String> = pipeline
        .vertices
        .iter()
        .map(Declaration::name_text)
        .collect();
    let mut vertices = Vec::with_capacity(names.len());
    let mut seen: HashSet<&str> = HashSet::with_capacity(names.len());
    for (index, (declaration, name)) in pipeline.vertices.iter().zip(&names).enumerate() {
        let first = seen.insert(name);
        let mut found = lookup(
            &declaration.attributes,
            DECLARATION_KEYS,
            Place::Declaration,
            cx,
        );
        let stall_after = found
            .remove("stall_after")
            .filter(|value| check_stall_after(value, cx));
        vertices.push(PlannedVertex {
            declaration,
            restart: found.remove("restart"),
            stall_after,
            on_stall: found.remove("on_stall").and_then(|v| on_stall(v, cx)),
            handle: if first {
                format!("__pipeline_{name}")
            } else {
                format!("__pipeline_{name}__{index}")
            },
        });
    }
    let mut edges: Vec<PlannedEdge<'a>> = pipeline
        .edges
        .iter()
        .map(|connection| {
            let mut found = lookup(&connection.attributes, EDGE_KEYS, Place::Edge, cx);
            let capacity = found.remove("capacity");
            let priority = found.remove("priority");
            let broadcast = found.remove("broadcast");
            let filter = found.remove("filter");
            for value in capacity.iter().chain(&broadcast) {
                check_capacity(value, cx);
            }
            if let Some(value) = broadcast {
                if capacity.is_some() {
                    cx.error_spanned_by(
                        value,
                        "`broadcast = N` already gives the edge's capacity (its ring size): \
                         drop `capacity`",
                    );
                }
                if priority.is_some() {
                    cx.error_spanned_by(
                        value,
                        "an edge cannot be both `broadcast` (lossy) and `priority` (lanes): \
                         choose one",
                    );
                }
            }
            PlannedEdge {
                connection,
                capacity,
                priority,
                broadcast,
                filter,
                endpoints: None,
            }
        })
        .collect();
    check_topology(pipeline, &names, &mut edges, cx);
    Plan { vertices, edges }
}

/// Where an attribute was written, for the messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Declaration,
    Edge,
}

impl Place {
    fn noun(self) -> &'static str {
        match self {
            Place::Declaration => "a declaration",
            Place::Edge => "an edge",
        }
    }

    /// A hint for a key that is valid in the other place.
    fn misplaced_hint(self, key: &str) -> Option<String> {
        match self {
            Place::Declaration if EDGE_KEYS.contains(&key) => Some(format!(
                ": `{key}` belongs on an edge, in brackets before its target: `a -> [{key} = ...] b`"
            )),
            Place::Edge if DECLARATION_KEYS.contains(&key) => Some(format!(
                ": `{key}` belongs on a declaration, after its factory: `operator a = ..., {key} = ...;`"
            )),
            _ => None,
        }
    }
}

/// The attributes by key. Unknown and repeated keys are reported; a repeated key keeps its
/// first value.
fn lookup<'a>(
    attributes: &'a [Attribute],
    valid: &[&'static str],
    place: Place,
    cx: &mut Ctxt,
) -> HashMap<&'static str, &'a Expr> {
    let listed = valid
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut found: HashMap<&'static str, &'a Expr> = HashMap::new();
    for attribute in attributes {
        let key_text = attribute.key.to_string();
        let Some(&key) = valid.iter().find(|k| **k == key_text) else {
            let noun = place.noun();
            if let Some(hint) = place.misplaced_hint(&key_text) {
                cx.error_at(
                    attribute.key.span(),
                    format_args!("unknown attribute `{key_text}` on {noun}{hint}"),
                );
                continue;
            }
            let guess = suggest::closest(&key_text, valid.iter().copied());
            let Some(guess) = guess else {
                cx.error_at(
                    attribute.key.span(),
                    format_args!(
                        "unknown attribute `{key_text}` on {noun}; valid attributes: {listed}"
                    ),
                );
                continue;
            };
            cx.error_at(
                attribute.key.span(),
                format_args!(
                    "unknown attribute `{key_text}` on {noun}: did you mean `{guess}`? valid \
                     attributes: {listed}"
                ),
            );
            // A misspelt key is read as the key it is closest to, so its value is still
            // type-checked (and what it names still counts as used).
            if let Some(key) = valid.iter().copied().find(|k| *k == guess) {
                found.entry(key).or_insert(&attribute.value);
            }
            continue;
        };
        if found.contains_key(key) {
            cx.error_at(
                attribute.key.span(),
                format_args!(
                    "duplicate attribute `{key}`: give each attribute at most once; valid \
                     attributes on {}: {listed}",
                    place.noun()
                ),
            );
            continue;
        }
        found.insert(key, &attribute.value);
    }
    found
}

/// A literal capacity of zero is certainly wrong; anything else is checked by the type checker
/// (it must be a `usize`) and by `build()`.
fn check_capacity(value: &Expr, cx: &mut Ctxt) {
    let zero = match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse::<u128>().is_ok_and(|n| n == 0),
        _ => false,
    };
    if zero {
        cx.error_spanned_by(
            value,
            "edge capacity must be at least 1: an edge holds at least one item",
        );
    }
}

/// A `stall_after` that is certainly wrong: a bare number (no unit), or a zero duration
/// written out (`Duration::ZERO`, `Duration::from_secs(0)`, ...). Anything else is checked by
/// the type checker (it must be a `Duration`) and by `build()`. Returns whether the value is
/// fit to expand: a bare number is not (its call would only add a type error saying the same
/// thing again); a zero duration is (it type-checks, so what it names still counts as used).
fn check_stall_after(value: &Expr, cx: &mut Ctxt) -> bool {
    let literal = |expr: &Expr| match expr {
        Expr::Lit(syn::ExprLit { lit, .. }) => Some(lit.clone()),
        _ => None,
    };
    let is_zero = |lit: &Lit| match lit {
        Lit::Int(int) => int.base10_parse::<u128>().is_ok_and(|n| n == 0),
        Lit::Float(float) => float.base10_parse::<f64>().is_ok_and(|x| x == 0.0),
        _ => false,
    };
    if let Some(lit) = literal(value) {
        if matches!(lit, Lit::Int(_) | Lit::Float(_)) {
            cx.error_spanned_by(
                value,
                "`stall_after` takes a `Duration`, such as `Duration::from_secs(30)`: a bare \
                 number has no unit",
            );
            return false;
        }
        return true;
    }
    let last = |path: &syn::Path| path.segments.last().map(|s| s.ident.to_string());
    let zero = match value {
        Expr::Path(path) => last(&path.path).is_some_and(|name| name == "ZERO"),
        Expr::Call(call) => {
            let constructor = match call.func.as_ref() {
                Expr::Path(path) => last(&path.path),
                _ => None,
            };
            constructor.is_some_and(|name| name.starts_with("from_"))
                && call.args.len() == 1
                && call
                    .args
                    .first()
                    .and_then(literal)
                    .is_some_and(|l| is_zero(&l))
        }
        _ => false,
    };
    if zero {
        cx.error_spanned_by(
            value,
            "`stall_after` must be longer than zero: the watchdog would report the vertex as soon \
             as one item waited (`Duration::MAX` turns it off for this vertex)",
        );
    }
    true
}

/// The `OnStall` variant `on_stall = report | restart` names, located at the value; anything
/// else is reported, with a suggestion when one is close.
fn on_stall(value: &Expr, cx: &mut Ctxt) -> Option<Ident> {
    let listed = "`on_stall` takes `report` or `restart`";
    let word = match value {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().map(|i| i.to_string()),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(text),
            ..
        }) => {
            let text = text.value();
            let hint = if ON_STALL.iter().any(|(word, _)| *word == text) {
                format!("{listed}, without quotes: `on_stall = {text}`")
            } else {
                listed.to_owned()
            };
            cx.error_spanned_by(value, hint);
            return None;
        }
        _ => None,
    };
    let Some(word) = word else {
        cx.error_spanned_by(value, listed);
        return None;
    };
    if let Some((_, variant)) = ON_STALL.iter().find(|(w, _)| *w == word) {
        let span = syn::spanned::Spanned::span(value);
        return Some(Ident::new(variant, span));
    }
    match suggest::closest(&word, ON_STALL.iter().map(|(w, _)| *w)) {
        Some(guess) => cx.error_spanned_by(
            value,
            format!("{listed}, not `{word}`: did you mean `{guess}`?"),
        ),
        None => cx.error_spanned_by(value, format!("{listed}, not `{word}`")),
    }
    None
}

/// Resolves names, runs the shared topology checks and reports each problem on its tokens.
/// Fills in the endpoints of every edge that is fit to expand.
fn check_topology(
    pipeline: &Pipeline,
    names: &[String],
    planned: &mut [PlannedEdge<'_>],
    cx: &mut Ctxt,
) {
    // The first declaration of a name wins; a later one is reported as a duplicate.
    let mut index_of: HashMap<&str, usize> = HashMap::with_capacity(names.len());
    let mut unique_names: Vec<&str> = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        if !index_of.contains_key(name.as_str()) {
            index_of.insert(name, index);
            unique_names.push(name);
        }
    }
    let unparsed = |name: &str| pipeline.unparsed_names.iter().any(|n| n == name);

    // An edge with an unknown end is reported here and left out of the topology; its known end
    // still counts as connected, so that one typo is one error and not also a missing edge.
    let mut fed = vec![false; names.len()];
    let mut feeds = vec![false; names.len()];
    for (index, name) in names.iter().enumerate() {
        if unparsed(name) {
            set(&mut fed, index);
            set(&mut feeds, index);
        }
    }
    let mut edges = Vec::with_capacity(pipeline.edges.len());
    let mut connection_of_edge = Vec::with_capacity(pipeline.edges.len());
    for (position, connection) in pipeline.edges.iter().enumerate() {
        // Resolves a name to its vertex, or reports it and answers the vertex it was probably
        // meant to be, which then counts as connected too.
        let mut resolve = |ident: &Ident| {
            let name = ident.unraw().to_string();
            if let Some(&found) = index_of.get(name.as_str()) {
                return Ok(found);
            }
            if unparsed(&name) {
                return Err(None);
            }
            let guess = unknown_name(ident, &name, &unique_names, cx);
            Err(guess.and_then(|g| index_of.get(g).copied()))
        };
        match (resolve(&connection.from), resolve(&connection.to)) {
            (Ok(from), Ok(to)) => {
                edges.push(Edge::new(from, to));
                connection_of_edge.push(position);
                if let Some(edge) = planned.get_mut(position) {
                    edge.endpoints = Some((from, to));
                }
            }
            (from, to) => {
                if let Ok(from) | Err(Some(from)) = from {
                    set(&mut feeds, from);
                }
                if let Ok(to) | Err(Some(to)) = to {
                    set(&mut fed, to);
                }
            }
        }
    }

    let vertices: Vec<Vertex<'_>> = names
        .iter()
        .zip(&pipeline.vertices)
        .map(|(name, declaration)| Vertex::new(name, declaration.role))
        .collect();
    let Err(problems) = topology::check(&vertices, &edges) else {
        return;
    };

    let position = |edge: usize| connection_of_edge.get(edge).copied();
    let connection = |edge: usize| position(edge).and_then(|p| pipeline.edges.get(p));
    let declaration = |vertex: usize| pipeline.vertices.get(vertex);

    report_duplicates(&problems, &vertices, &edges, pipeline, cx);
    let duplicate: Vec<usize> = problems
        .iter()
        .filter_map(|p| match p {
            Problem::DuplicateName { second, .. } => Some(*second),
            _ => None,
        })
        .collect();

    for problem in &problems {
        let message = problem.message(&vertices, &edges);
        // An edge reported as wrong is not expanded (a cycle's edges are: they are wrong only
        // together, and each type-checks on its own).
        let wrong_edge = match problem {
            Problem::UnknownVertex { edge, .. }
            | Problem::SelfEdge { edge }
            | Problem::DuplicateEdge { second: edge, .. }
            | Problem::EdgeIntoSource { edge }
            | Problem::EdgeOutOfSink { edge } => position(*edge),
            _ => None,
        };
        if let Some(edge) = wrong_edge.and_then(|p| planned.get_mut(p)) {
            edge.endpoints = None;
        }
        match problem {
            Problem::DuplicateName { .. } => {}
            // A statement that did not parse may well have been the declaration, and its error
            // is already reported.
            Problem::Empty if pipeline.unparsed_statements > 0 => {}
            Problem::Empty => cx.error_at(Span::call_site(), message),
            Problem::MissingInput { vertex } | Problem::MissingOutput { vertex } => {
                // A later declaration of a taken name gets no edges (its name means the first
                // one), so its missing edges are a consequence of the duplicate, not news.
                let excused = duplicate.contains(vertex)
                    || match problem {
                        Problem::MissingInput { .. } => flag(&fed, *vertex),
                        _ => flag(&feeds, *vertex),
                    };
                if !excused {
                    let span = declaration(*vertex).map_or_else(Span::call_site, |d| d.name.span());
                    cx.error_at(span, message);
                }
            }
            Problem::EdgeIntoSource { edge } => {
                let span = connection(*edge).map_or_else(Span::call_site, |c| c.to.span());
                cx.error_at(span, message);
            }
            Problem::EdgeOutOfSink { edge } => {
                let span = connection(*edge).map_or_else(Span::call_site, |c| c.from.span());
                cx.error_at(span, message);
            }
            Problem::UnknownVertex { edge, .. }
            | Problem::SelfEdge { edge }
            | Problem::DuplicateEdge { second: edge, .. }
            | Problem::Cycle {
                closing_edge: edge, ..
            } => match connection(*edge) {
                Some(c) => cx.error_spanned_by(c.span_tokens(), message),
                None => cx.error_at(Span::call_site(), message),
            },
        }
    }
}

/// Reports each duplicated name once per declaration, numbered `(k/n)` so the sites read as
/// one error: the first declaration, then each repeat.
fn report_duplicates(
    problems: &[Problem],
    vertices: &[Vertex<'_>],
    edges: &[Edge],
    pipeline: &Pipeline,
    cx: &mut Ctxt,
) {
    let mut groups: Vec<(usize, Vec<usize>, String)> = Vec::new();
    for problem in problems {
        if let Problem::DuplicateName { first, second } = problem {
            match groups.iter_mut().find(|(f, _, _)| f == first) {
                Some((_, seconds, _)) => seconds.push(*second),
                None => groups.push((*first, vec![*second], problem.message(vertices, edges))),
            }
        }
    }
    for (first, seconds, message) in groups {
        let total = seconds.len() + 1;
        let sites = std::iter::once(first).chain(seconds);
        for (number, vertex) in (1..).zip(sites) {
            let span = pipeline
                .vertices
                .get(vertex)
                .map_or_else(Span::call_site, |d| d.name.span());
            cx.error_at(span, format_args!("{message} ({number}/{total})"));
        }
    }
}

/// Reports an unknown name, suggesting the closest known one, which it returns.
fn unknown_name<'n>(
    ident: &Ident,
    name: &str,
    known: &[&'n str],
    cx: &mut Ctxt,
) -> Option<&'n str> {
    let close = suggest::closest(name, known.iter().copied());
    match close {
        Some(close) => cx.error_at(
            ident.span(),
            format_args!("unknown vertex `{name}`: did you mean `{close}`?"),
        ),
        None => cx.error_at(
            ident.span(),
            format_args!("unknown vertex `{name}`: no source, operator or sink has this name"),
        ),
    }
    close
}

fn set(flags: &mut [bool], index: usize) {
    if let Some(flag) = flags.get_mut(index) {
        *flag = true;
    }
}

fn flag(flags: &[bool], index: usize) -> bool {
    flags.get(index).copied().unwrap_or(false)
}
