//! Stage 1: the `pipeline!` body as declarations and edges.
//!
//! Each statement is parsed on its own: one that does not parse is reported and skipped up to
//! its `;`, and the others are still read, so that one typo does not hide every other error of
//! the pipeline.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use sda_orchestrator_topology::Role;
use syn::buffer::Cursor;
use syn::ext::IdentExt;
// `advance_to` is "discouraged" because it makes parse errors worse in ordinary parsers; here it
// is the point: a failed statement is dropped whole and parsing resumes after it.
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token};

use crate::ctxt::Ctxt;
use crate::suggest;

/// The keywords that start a declaration, with the role each declares.
const KEYWORDS: [(&str, Role); 3] = [
    ("source", Role::Source),
    ("operator", Role::Operator),
    ("sink", Role::Sink),
];

/// Everything the body declares, in the order written.
#[derive(Default)]
pub(crate) struct Pipeline {
    /// The vertex declarations.
    pub(crate) vertices: Vec<Declaration>,
    /// The edges, one per arrow: a chain `a -> b -> c` gives two.
    pub(crate) edges: Vec<Connection>,
    /// Names from statements that did not parse: the name a broken declaration declares, and
    /// every name a broken edge statement mentions. Their error is already reported, so the
    /// checks stay quiet about what follows from them (an "unknown" name, a missing edge).
    pub(crate) unparsed_names: Vec<String>,
    /// How many statements did not parse.
    pub(crate) unparsed_statements: usize,
}

/// `source NAME = FACTORY, key = value, ...;`
pub(crate) struct Declaration {
    /// The `source`, `operator` or `sink` keyword.
    pub(crate) keyword: Ident,
    /// The role the keyword declares.
    pub(crate) role: Role,
    /// The vertex's name.
    pub(crate) name: Ident,
    /// The factory expression.
    pub(crate) factory: Expr,
    /// The attributes after the factory.
    pub(crate) attributes: Vec<Attribute>,
}

/// `key = value`, on a declaration or on an edge.
pub(crate) struct Attribute {
    /// The key.
    pub(crate) key: Ident,
    /// The value expression.
    pub(crate) value: Expr,
}

/// One arrow of an edge statement: `from -> [attributes] to`.
pub(crate) struct Connection {
    /// The upstream vertex's name.
    pub(crate) from: Ident,
    /// The arrow.
    pub(crate) arrow: Token![->],
    /// The attributes in brackets before the target, if any.
    pub(crate) attributes: Vec<Attribute>,
    /// The downstream vertex's name.
    pub(crate) to: Ident,
}

impl Declaration {
    /// The name as a string, without any `r#` prefix.
    pub(crate) fn name_text(&self) -> String {
        self.name.unraw().to_string()
    }
}

impl Connection {
    /// The edge as tokens, `from -> to`, for errors that underline the whole edge.
    pub(crate) fn span_tokens(&self) -> TokenStream {
        let mut tokens = self.from.to_token_stream();
        self.arrow.to_tokens(&mut tokens);
        self.to.to_tokens(&mut tokens);
        tokens
    }
}

/// Parses the whole body. Statements that do not parse are reported into `cx` and left out.
pub(crate) fn parse(input: TokenStream, cx: &mut Ctxt) -> Pipeline {
    let mut pipeline = Pipeline::default();
    let parser = |input: ParseStream<'_>| {
        parse_body(input, &mut pipeline, cx);
        Ok(())
    };
    if let Err(error) = parser.parse2(input) {
        cx.push(error);
    }
    pipeline
}

/// The statements, one after the other. Each is parsed on a fork of the stream: a fork has its
/// own record of half-read groups, so a statement that fails inside a closure body or an
/// attribute list is dropped whole, and the stream goes on at the next top-level `;` (a `;`
/// inside a closure body is inside a brace group, so it is never top-level).
fn parse_body(input: ParseStream<'_>, pipeline: &mut Pipeline, cx: &mut Ctxt) {
    while !input.is_empty() {
        if input.peek(Token![;]) {
            let _ = input.parse::<Token![;]>();
            continue;
        }
        let start = input.cursor();
        let fork = input.fork();
        match parse_statement(&fork, start, pipeline, cx) {
            Ok(()) => {
                input.advance_to(&fork);
                if input.is_empty() {
                    let span = last_span(start, input.cursor()).unwrap_or_else(|| input.span());
                    cx.error_at(span, "expected `;` after the last statement");
                }
            }
            Err(error) => {
                cx.push(error);
                let skipped = skip_statement(input);
                pipeline.unparsed_names.extend(names_in(&skipped));
                pipeline.unparsed_statements += 1;
            }
        }
    }
}

/// Skips to just after the next top-level `;`, returning the statement's tokens.
fn skip_statement(input: ParseStream<'_>) -> Vec<TokenTree> {
    input
        .step(|cursor| {
            let mut rest = *cursor;
            let mut skipped = Vec::new();
            while let Some((tree, next)) = rest.token_tree() {
                rest = next;
                if matches!(&tree, TokenTree::Punct(p) if p.as_char() == ';') {
                    break;
                }
                skipped.push(tree);
            }
            Ok((skipped, rest))
        })
        .unwrap_or_default()
}

/// Where the tokens from `start` up to (not including) `end` end: the last token, or the
/// closing delimiter of a last group. This is where a missing `;` belongs.
fn last_span(start: Cursor<'_>, end: Cursor<'_>) -> Option<Span> {
    let mut cursor = start;
    let mut last = None;
    while cursor != end {
        let (tree, next) = cursor.token_tree()?;
        last = Some(match tree {
            TokenTree::Group(group) => group.span_close(),
            other => other.span(),
        });
        cursor = next;
    }
    last
}

/// The names a statement that did not parse was about: the second word of a declaration
/// (`operater dedup = ...`), or every top-level identifier of an edge statement.
fn names_in(trees: &[TokenTree]) -> Vec<String> {
    let is_edge = trees.windows(2).any(|pair| {
        matches!(pair, [TokenTree::Punct(a), TokenTree::Punct(b)]
            if a.as_char() == '-' && b.as_char() == '>')
    });
    let idents = trees.iter().filter_map(|tree| match tree {
        TokenTree::Ident(ident) => Some(ident.unraw().to_string()),
        _ => None,
    });
    if is_edge {
        idents.collect()
    } else {
        match trees.get(..2) {
            Some([TokenTree::Ident(_), TokenTree::Ident(name)]) => vec![name.unraw().to_string()],
            _ => Vec::new(),
        }
    }
}

/// One statement: a declaration or an edge chain, up to its `;` (not consumed). When a
/// statement runs into the start of the next one, its missing `;` is reported and the next one
/// is read as well, so that a forgotten `;` costs one error and not the two statements.
fn parse_statement(
    input: ParseStream<'_>,
    start: Cursor<'_>,
    pipeline: &mut Pipeline,
    cx: &mut Ctxt,
) -> syn::Result<()> {
    loop {
        if !input.peek(Ident::peek_any) {
            return Err(input.error(
                "expected a declaration (`source`, `operator` or `sink`) or an edge (`a -> b`)",
            ));
        }
        let first = input.call(Ident::parse_any)?;
        if input.peek(Token![->]) {
            pipeline.edges.extend(parse_edges(first, input)?);
        } else {
            pipeline.vertices.push(parse_declaration(first, input, cx)?);
        }
        if at_end(input) {
            return Ok(());
        }
        let span = last_span(start, input.cursor()).unwrap_or_else(|| input.span());
        cx.error_at(span, "expected `;` after this statement");
    }
}

/// Whether the statement is over: at its `;`, or at the end of the body.
fn at_end(input: ParseStream<'_>) -> bool {
    input.is_empty() || input.peek(Token![;])
}

/// Whether the next tokens start a statement (`NAME NAME` or `NAME ->`), which after a complete
/// statement means its `;` is missing.
fn at_statement_start(input: ParseStream<'_>) -> bool {
    input.peek(Ident::peek_any) && (input.peek2(Ident::peek_any) || input.peek2(Token![->]))
}

/// `source NAME = FACTORY, key = value, ...`. A misspelt keyword (`operater`) is reported and
/// read as the keyword it is closest to, so that the rest of the pipeline is still checked as
/// meant.
fn parse_declaration(
    keyword: Ident,
    input: ParseStream<'_>,
    cx: &mut Ctxt,
) -> syn::Result<Declaration> {
    let word = keyword.to_string();
    let role = match KEYWORDS.iter().find(|(k, _)| *k == word) {
        Some(&(_, role)) => role,
        None => {
            let guess = suggest::closest(&word, KEYWORDS.iter().map(|(k, _)| *k))
                .and_then(|guess| KEYWORDS.iter().find(|(k, _)| *k == guess));
            let expected = "expected `source`, `operator` or `sink` to declare a vertex, or `->` \
                            to start an edge";
            let Some(&(guess, role)) = guess else {
                return Err(syn::Error::new(keyword.span(), expected));
            };
            cx.error_at(
                keyword.span(),
                format_args!("{expected}; did you mean `{guess}`?"),
            );
            role
        }
    };
    let name: Ident = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected the {}'s name after `{word}`", role.noun()),
        )
    })?;
    input.parse::<Token![=]>().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!(
                "expected `=` and a factory expression: `{word} {} = ...;`",
                name.unraw()
            ),
        )
    })?;
    if at_end(input) {
        return Err(input.error("expected a factory expression before `;`"));
    }
    let factory: Expr = input.parse()?;
    let mut attributes = Vec::new();
    while !at_end(input) && !at_statement_start(input) {
        if !input.peek(Token![,]) {
            return Err(
                input.error("expected `,` and an attribute such as `restart = ...`, or `;`")
            );
        }
        input.parse::<Token![,]>()?;
        if at_end(input) {
            break;
        }
        attributes.push(parse_attribute(input)?);
    }
    Ok(Declaration {
        keyword,
        role,
        name,
        factory,
        attributes,
    })
}

/// `a -> b -> [capacity = 8] c`: one [`Connection`] per arrow.
fn parse_edges(first: Ident, input: ParseStream<'_>) -> syn::Result<Vec<Connection>> {
    let mut from = first;
    let mut connections = Vec::new();
    while !at_end(input) && !at_statement_start(input) {
        let arrow: Token![->] = input.parse().map_err(|error| {
            syn::Error::new(error.span(), "expected `->` to continue the edge, or `;`")
        })?;
        let attributes = if input.peek(syn::token::Bracket) {
            let content;
            syn::bracketed!(content in input);
            Punctuated::<Attribute, Token![,]>::parse_terminated_with(&content, parse_attribute)?
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        let to: Ident = input.parse().map_err(|error| {
            syn::Error::new(
                error.span(),
                "expected the name of the downstream vertex after `->`",
            )
        })?;
        connections.push(Connection {
            from,
            arrow,
            attributes,
            to: to.clone(),
        });
        from = to;
    }
    Ok(connections)
}

fn parse_attribute(input: ParseStream<'_>) -> syn::Result<Attribute> {
    let key = input
        .call(Ident::parse_any)
        .map_err(|error| syn::Error::new(error.span(), "expected an attribute: `key = value`"))?;
    input.parse::<Token![=]>().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected `=` and a value after `{key}`"),
        )
    })?;
    let value: Expr = input.parse()?;
    Ok(Attribute { key, value })
}
