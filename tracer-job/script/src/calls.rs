//! The functions a script calls, checked before it runs: a misspelled call inside a
//! handler would otherwise fail only on the node, at the first event.

use std::collections::BTreeSet;

use rhai::{AST, ASTNode, Engine, Expr, Position, Stmt};

use crate::{engine::API_FUNCTIONS, sources};

/// Functions the language itself provides, which no package lists.
const LANGUAGE: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_def_var",
    "is_def_fn",
    "is_shared",
];

/// The first call, in source order, of a function that neither the engine, the language
/// nor the script defines, and that no variable or parameter could hold: its name, its
/// place, and the nearest API function.
pub fn unknown(engine: &Engine, ast: &AST) -> Option<(String, Position, Option<&'static str>)> {
    let mut known: BTreeSet<String> = engine
        .collect_fn_metadata(None, |info| Some(info.metadata.name.to_string()), true)
        .into_iter()
        .collect();
    known.extend(LANGUAGE.iter().map(|name| (*name).to_owned()));
    for function in ast.iter_functions() {
        known.insert(function.name.to_owned());
        // A parameter may hold a function pointer, which is called by its name.
        known.extend(function.params.iter().map(|param| (*param).to_owned()));
    }
    let mut calls: Vec<(String, Position)> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(var, ..))) => {
                known.insert(var.0.name.to_string());
            }
            // A call is an expression, or a statement of its own.
            Some(
                ASTNode::Expr(Expr::FnCall(call, position))
                | ASTNode::Stmt(Stmt::FnCall(call, position)),
            ) if !call.is_operator_call() => {
                calls.push((call.name.to_string(), *position));
            }
            _ => {}
        }
        true
    });
    calls.sort_by_key(|(_, position)| (position.line(), position.position()));
    calls
        .into_iter()
        .find(|(name, _)| !known.contains(name) && !name.starts_with("anon$"))
        .map(|(name, position)| {
            let near = sources::nearest(&name, API_FUNCTIONS.iter().copied());
            (name, position, near)
        })
}
