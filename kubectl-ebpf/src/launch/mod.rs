//! Starting tracers and turning their output into one stream of node events. Local mode
//! runs `tracer-job` here as a child process; cluster mode runs one Job per node and
//! feeds the same events.

pub mod local;

/// What a launcher reports about one node's tracer.
#[derive(Debug)]
pub enum NodeEvent {
    /// The node's tracer is not running yet, or is starting: why, in a few words.
    Waiting { node: String, why: String },
    /// One line of the tracer's stdout.
    Line { node: String, line: String },
    /// The node's tracer never ran or was lost, for a reason the cluster gave.
    Failed {
        node: String,
        code: tracer_protocol::ErrorCode,
        message: String,
        hint: String,
    },
    /// The tracer is gone. `status` describes how it ended; `stderr` is its last words.
    Ended {
        node: String,
        status: String,
        success: bool,
        stderr: String,
    },
}
