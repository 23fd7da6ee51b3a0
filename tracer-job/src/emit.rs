//! Writes records to stdout, one line each, flushed per batch so a follower sees them at
//! once.

use std::io::{self, BufWriter, Stdout, Write};

use tracer_protocol::Record;

pub struct Emitter<W: Write = Stdout> {
    out: BufWriter<W>,
    /// One record's line, reused: no allocation per record.
    line: Vec<u8>,
}

impl Emitter<Stdout> {
    pub fn stdout() -> Self {
        Emitter::new(io::stdout())
    }
}

impl<W: Write> Emitter<W> {
    pub fn new(out: W) -> Self {
        Emitter {
            out: BufWriter::with_capacity(64 * 1024, out),
            line: Vec::new(),
        }
    }

    /// Writes and flushes records. An error means the reader is gone (a closed pipe).
    pub fn emit_all(&mut self, records: &[Record]) -> io::Result<()> {
        for record in records {
            self.line.clear();
            // Serializing these types cannot fail: every map key is a string.
            if serde_json::to_writer(&mut self.line, record).is_err() {
                self.line.clear();
                self.line.extend_from_slice(record.to_line().as_bytes());
            }
            self.line.push(b'\n');
            self.out.write_all(&self.line)?;
        }
        self.out.flush()
    }

    pub fn emit(&mut self, record: Record) -> io::Result<()> {
        self.emit_all(std::slice::from_ref(&record))
    }
}
