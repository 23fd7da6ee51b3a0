//! Errors the API raises for a script's author: what is wrong and what to do.

use rhai::{Dynamic, EvalAltResult, Position};

/// Carried inside rhai's runtime error, so the hint survives to the diagnostic.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub message: String,
    pub hint: String,
}

impl Fault {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Fault {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn at(self, position: Position) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorRuntime(Dynamic::from(self), position))
    }
}
