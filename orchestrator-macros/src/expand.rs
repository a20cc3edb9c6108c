//! Stage 3: the builder calls.
//!
//! The expansion is a block that declares every vertex (in declaration order) and then connects
//! every edge (in the order written), exactly as the same graph written by hand:
//!
//! ```text
//! {
//!     let mut graph = ::sda_orchestrator::OperatorGraph::new();
//!     let radar = graph.add_source("radar", ::sda_orchestrator::RestartPolicy::default(), <factory>);
//!     ...
//!     graph.connect(&radar, &normalize);
//!     graph
//! }
//! ```
//!
//! The graph and the handles are named with `Span::mixed_site()`, the hygiene of `macro_rules!`
//! locals, so they can neither shadow nor be shadowed by the caller's own variables inside
//! factory expressions. Every generated token is *located* at the user's token it stands for (the
//! keyword of a declaration, the arrow and names of an edge), so that a type error in a generated
//! call (an edge between mismatched item types, a factory of the wrong shape) is reported by rustc
//! on those tokens.
//!
//! After errors, the `compile_error!`s come first in the block and the well-formed part of the
//! pipeline follows; the block is still an `OperatorGraph`. The errors taint the block for the
//! type checker, which then keeps quiet about what it cannot infer without the edges left out
//! (rustc's own rule for not piling errors on errors), while the factories are still checked and
//! the caller's imports still count as used.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use sda_orchestrator_topology::{DEFAULT_EDGE_CAPACITY, Fingerprinter, Role};
use syn::{Ident, LitStr};

use crate::check::Plan;

/// The expansion of `plan`, with `errors` (if any) reported first.
pub(crate) fn expand(plan: &Plan<'_>, errors: Option<&syn::Error>) -> TokenStream {
    let errors = errors.map(syn::Error::to_compile_error);
    let graph = |at: Span| Ident::new("__pipeline_graph", at);
    let whole = Span::mixed_site();

    let declarations = plan.vertices.iter().map(|vertex| {
        let declaration = vertex.declaration;
        let at = hygienic(declaration.keyword.span());
        let graph = graph(at);
        let handle = Ident::new(&vertex.handle, hygienic(declaration.name.span()));
        let method = match declaration.role {
            Role::Source => "add_source",
            Role::Operator => "add_operator",
            Role::Sink => "add_sink",
        };
        let method = Ident::new(method, at);
        let label = LitStr::new(&declaration.name_text(), declaration.name.span());
        let restart = match vertex.restart {
            Some(restart) => quote!(#restart),
            None => quote_spanned!(at=> ::sda_orchestrator::RestartPolicy::default()),
        };
        let factory = &declaration.factory;
        // The settings follow their vertex; a `stall_after` of the wrong type is reported by
        // rustc at the value, whose tokens are the user's.
        let stall_after = vertex.stall_after.map(|after| {
            quote_spanned! {at=>
                #graph.stall_after(&#handle, #after);
            }
        });
        let on_stall = vertex.on_stall.as_ref().map(|variant| {
            quote_spanned! {at=>
                #graph.on_stall(&#handle, ::sda_orchestrator::OnStall::#variant);
            }
        });
        quote_spanned! {at=>
            let #handle = #graph.#method(#label, #restart, #factory);
            #stall_after
            #on_stall
        }
    });

    let edges = plan.edges.iter().filter_map(|edge| {
        let (from, to) = edge.endpoints?;
        let connection = edge.connection;
        // Each reference is located at the name it stands for, so that rustc's "this vertex does
        // not take `T`" lands on that name; the call is located at the arrow.
        let reference = |vertex: usize, name: &Ident| {
            let at = hygienic(name.span());
            let handle = Ident::new(&plan.vertices.get(vertex)?.handle, at);
            Some(quote_spanned!(at=> &#handle))
        };
        let from_ref = reference(from, &connection.from)?;
        let to_ref = reference(to, &connection.to)?;
        let at = hygienic(connection.arrow.spans[0]);
        let graph = graph(at);
        if edge.capacity.is_none()
            && edge.priority.is_none()
            && edge.broadcast.is_none()
            && edge.filter.is_none()
        {
            return Some(quote_spanned! {at=>
                #graph.connect(#from_ref, #to_ref);
            });
        }
        let capacity = edge
            .capacity
            .map(|capacity| quote_spanned!(at=> .capacity(#capacity)));
        let broadcast = edge
            .broadcast
            .map(|capacity| quote_spanned!(at=> .broadcast(#capacity)));
        let priority = edge
            .priority
            .map(|classify| quote_spanned!(at=> .priority(#classify)));
        let filter = edge.filter.map(|keep| quote_spanned!(at=> .filter(#keep)));
        Some(quote_spanned! {at=>
            #graph.connect_with(
                #from_ref,
                #to_ref,
                ::sda_orchestrator::EdgeOptions::new()#capacity #broadcast #priority #filter,
            );
        })
    });

    let fingerprint = if errors.is_none() {
        fingerprint(plan)
    } else {
        None
    };
    let graph = graph(whole);
    let declare = fingerprint.map(|fingerprint| {
        let name = Ident::new("__PIPELINE_FINGERPRINT", whole);
        quote_spanned! {whole=>
            const #name: ::sda_orchestrator::graph::Fingerprint = #fingerprint;
            #graph.__declare_fingerprint(#name);
        }
    });
    quote_spanned! {whole=>
        {
            #errors
            let mut #graph = ::sda_orchestrator::OperatorGraph::new();
            #(#declarations)*
            #(#edges)*
            #declare
            #graph
        }
    }
}

/// The fingerprint of the topology as a constant expression; `None` when an edge's capacity is
/// not a constant (see [`is_constant`]) or an edge is already reported as wrong.
///
/// When every capacity is an integer literal or the default, the macro computes the fingerprint
/// itself, with the same `Fingerprinter` the graph runs at run time, and writes its 32 bytes:
/// evaluating SHA-256 over a large graph's description in the compiler's constant evaluator
/// costs a noticeable share of compiling a crate of a thousand vertices. Otherwise (a capacity
/// named by a constant, whose value only the compiler knows) the expression calls the same
/// `const fn`s for the compiler to evaluate.
fn fingerprint(plan: &Plan<'_>) -> Option<TokenStream> {
    if let Some(bytes) = native_fingerprint(plan) {
        let whole = Span::mixed_site();
        let bytes = bytes.iter();
        return Some(quote_spanned! {whole=>
            ::sda_orchestrator::graph::Fingerprint::from_bytes([#(#bytes),*])
        });
    }
    const_fingerprint(plan)
}

/// The fingerprint computed here, when every capacity is known here: an integer literal, or
/// the default.
fn native_fingerprint(plan: &Plan<'_>) -> Option<[u8; 32]> {
    let mut fingerprinter = Fingerprinter::new();
    let names: Vec<String> = plan
        .vertices
        .iter()
        .map(|v| v.declaration.name_text())
        .collect();
    for (vertex, name) in plan.vertices.iter().zip(&names) {
        fingerprinter = fingerprinter.vertex(name, vertex.declaration.role.noun());
    }
    for edge in &plan.edges {
        let (from, to) = edge.endpoints?;
        let (from, to) = (names.get(from)?, names.get(to)?);
        let capacity = match edge.broadcast.or(edge.capacity) {
            Some(syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(int),
                ..
            })) => int.base10_parse::<usize>().ok()?,
            Some(_) => return None,
            None => DEFAULT_EDGE_CAPACITY,
        };
        fingerprinter = fingerprinter.edge(from, to, capacity, kind(edge), edge.filter.is_some());
    }
    Some(*fingerprinter.finish().as_bytes())
}

/// `plain`, `priority` or `broadcast`.
fn kind(edge: &crate::check::PlannedEdge<'_>) -> &'static str {
    if edge.broadcast.is_some() {
        "broadcast"
    } else if edge.priority.is_some() {
        "priority"
    } else {
        "plain"
    }
}

/// The fingerprint as calls of the `const fn`s, for the compiler to evaluate.
fn const_fingerprint(plan: &Plan<'_>) -> Option<TokenStream> {
    let whole = Span::mixed_site();
    let vertices = plan.vertices.iter().map(|vertex| {
        let name = LitStr::new(&vertex.declaration.name_text(), whole);
        let role = LitStr::new(vertex.declaration.role.noun(), whole);
        quote_spanned!(whole=> .vertex(#name, #role))
    });
    let mut edges = Vec::with_capacity(plan.edges.len());
    for edge in &plan.edges {
        let (from, to) = edge.endpoints?;
        let name = |index: usize| {
            plan.vertices
                .get(index)
                .map(|v| LitStr::new(&v.declaration.name_text(), whole))
        };
        let (from, to) = (name(from)?, name(to)?);
        let capacity = match edge.broadcast.or(edge.capacity) {
            Some(expr) if is_constant(expr) => quote!(#expr),
            Some(_) => return None,
            None => quote_spanned!(whole=> ::sda_orchestrator::graph::DEFAULT_EDGE_CAPACITY),
        };
        let kind = kind(edge);
        let filtered = edge.filter.is_some();
        edges.push(quote_spanned!(whole=> .edge(#from, #to, #capacity, #kind, #filtered)));
    }
    Some(quote_spanned! {whole=>
        ::sda_orchestrator::graph::Fingerprinter::new()
            #(#vertices)*
            #(#edges)*
            .finish()
    })
}

/// Whether a capacity expression can be evaluated in a constant: made of integer literals and
/// paths whose last segment is an `UPPER_CASE` name (by convention a constant), with arithmetic
/// and parentheses. A lowercase path is taken for a variable, which a constant cannot read.
fn is_constant(expr: &syn::Expr) -> bool {
    match expr {
        syn::Expr::Lit(lit) => matches!(lit.lit, syn::Lit::Int(_)),
        syn::Expr::Path(path) => {
            path.qself.is_none()
                && path.path.segments.last().is_some_and(|segment| {
                    let name = segment.ident.to_string();
                    segment.arguments.is_none()
                        && name.chars().any(|c| c.is_ascii_uppercase())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
        }
        syn::Expr::Binary(binary) => is_constant(&binary.left) && is_constant(&binary.right),
        syn::Expr::Paren(paren) => is_constant(&paren.expr),
        syn::Expr::Group(group) => is_constant(&group.expr),
        _ => false,
    }
}

/// A span with the hygiene of a `macro_rules!` local, located at the user's token `at`.
fn hygienic(at: Span) -> Span {
    Span::mixed_site().located_at(at)
}
