//! Writes records to stdout, one line each, flushed per batch so a follower sees them at
//! once.

use std::io::{self, BufWriter, Stdout, Write};

use tracer_protocol::Record;

pub struct Emitter<W: Write = Stdout> {
    out: BufWriter<W>,
}

impl Emitter<Stdout> {
    pub fn stdout() -> Self {
        Emitter::new(io::stdout())
    }
}

impl<W: Write> Emitter<W> {
    pub fn new(out: W) -> Self {
        Emitter {
            out: BufWriter::new(out),
        }
    }

    /// Writes and flushes records. An error means the reader is gone (a closed pipe).
    pub fn emit_all(&mut self, records: &[Record]) -> io::Result<()> {
        for record in records {
            self.out.write_all(record.to_line().as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }

    pub fn emit(&mut self, record: Record) -> io::Result<()> {
        self.emit_all(std::slice::from_ref(&record))
    }
}
