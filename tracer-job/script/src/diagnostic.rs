//! Errors as a script's author reads them: `file:line:col`, the line, a caret, a hint.

use std::fmt;

use rhai::{EvalAltResult, ParseError, Position};

use crate::{engine, fault::Fault, sources};

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the error has no place in the source.
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub hint: String,
    /// The offending line, when known.
    pub text: Option<String>,
    /// A runaway (too many operations, too deep): the callback was stopped.
    pub runaway: bool,
}

impl Diagnostic {
    pub fn new(
        file: &str,
        source: &str,
        position: Position,
        message: String,
        hint: String,
    ) -> Self {
        let line = position.line().unwrap_or(0) as u32;
        let column = position.position().unwrap_or(0) as u32;
        let text = (line > 0)
            .then(|| source.lines().nth(line as usize - 1).map(str::to_owned))
            .flatten();
        Diagnostic {
            file: file.to_owned(),
            line,
            column,
            message,
            hint,
            text,
            runaway: false,
        }
    }

    pub fn from_parse(file: &str, source: &str, err: &ParseError) -> Self {
        let message = err.err_type().to_string();
        let hint =
            "fix the syntax at the caret (rhai: `let x = 1;`, `if a { } else { }`, `|e| { ... }`)";
        Diagnostic::new(file, source, err.position(), message, hint.to_owned())
    }

    pub fn from_eval(file: &str, source: &str, err: &EvalAltResult) -> Self {
        // The innermost error says what went wrong and where.
        let mut err = err;
        let mut outer = err.position();
        while let EvalAltResult::ErrorInFunctionCall(_, _, inner, position) = err {
            if !position.is_none() {
                outer = *position;
            }
            err = inner;
        }
        let position = if err.position().is_none() {
            outer
        } else {
            err.position()
        };
        let (message, hint, runaway) = describe(err);
        let mut diagnostic = Diagnostic::new(file, source, position, message, hint);
        diagnostic.runaway = runaway;
        diagnostic
    }

    /// One line: `file:line:col: message; hint`.
    pub fn one_line(&self) -> String {
        let mut line = format!("{}: {}", self.place(), self.message);
        if !self.hint.is_empty() {
            line.push_str("; ");
            line.push_str(&self.hint);
        }
        line
    }

    /// `file:line:col`, as far as known.
    pub fn place(&self) -> String {
        match (self.line, self.column) {
            (0, _) => self.file.clone(),
            (line, 0) => format!("{}:{line}", self.file),
            (line, column) => format!("{}:{line}:{column}", self.file),
        }
    }
}

/// What went wrong, the hint, and whether the callback ran away.
fn describe(err: &EvalAltResult) -> (String, String, bool) {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => match value.read_lock::<Fault>() {
            Some(fault) => (fault.message.clone(), fault.hint.clone(), false),
            // `throw` with nothing (or an empty string) still needs words.
            None if value.is_unit() || value.to_string().is_empty() => (
                "the script threw an error without a message".to_owned(),
                "give `throw` a message: throw \"what went wrong\"".to_owned(),
                false,
            ),
            None => (format!("{value}"), String::new(), false),
        },
        EvalAltResult::ErrorTooManyOperations(_) => (
            format!(
                "stopped after {} operations (an endless loop?)",
                engine::MAX_OPERATIONS
            ),
            "bound the loop; each callback may run a million operations".to_owned(),
            true,
        ),
        EvalAltResult::ErrorTerminated(_, _) => (
            format!(
                "stopped after {} ms of wall-clock time",
                engine::MAX_CALLBACK_TIME.as_millis()
            ),
            format!(
                "a callback may run {} ms; do less per call",
                engine::MAX_CALLBACK_TIME.as_millis()
            ),
            true,
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            "calls nest too deep (endless recursion?)".to_owned(),
            format!("calls may nest {} deep", engine::MAX_CALL_LEVELS),
            true,
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (
            format!("{what} is too large"),
            format!(
                "strings may hold {} KiB, arrays {} items, maps {} entries",
                engine::MAX_STRING_BYTES / 1024,
                engine::MAX_ARRAY_LEN,
                engine::MAX_MAP_LEN
            ),
            false,
        ),
        EvalAltResult::ErrorFunctionNotFound(signature, _) => {
            let name = signature.split('(').next().unwrap_or(signature).trim();
            let hint = match sources::nearest(name, engine::API_FUNCTIONS.iter().copied()) {
                Some(near) if near != name => format!("did you mean `{near}`?"),
                Some(_) => {
                    "check the number and types of the arguments (docs/scripting.md)".to_owned()
                }
                None => "docs/scripting.md lists the functions scripts can call".to_owned(),
            };
            (format!("no function {signature}"), hint, false)
        }
        other => {
            let text = other.to_string();
            let text = match text.rfind(" (line ") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            (text, String::new(), false)
        }
    }
}

/// Line `line` of a script, `text`, numbered, with a caret under `column` (1-based; none
/// when 0), each line ending in a newline.
pub fn excerpt(line: u32, column: u32, text: &str) -> String {
    let number = line.to_string();
    let mut out = format!("{number} | {text}\n");
    if column > 0 {
        // Keep tabs so the caret lines up under them.
        let pad: String = text
            .chars()
            .take(column as usize - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("{} | {pad}^\n", " ".repeat(number.len())));
    }
    out
}

impl fmt::Display for Diagnostic {
    /// The full form: place and message, the line with a caret under the column, the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.place(), self.message)?;
        if let Some(text) = &self.text {
            write!(f, "{}", excerpt(self.line, self.column, text))?;
        }
        if !self.hint.is_empty() {
            writeln!(f, "hint: {}", self.hint)?;
        }
        Ok(())
    }
}
