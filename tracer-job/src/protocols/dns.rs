//! DNS message parsing and query/answer pairing for a tracer that sees DNS
//! traffic one syscall at a time (UDP datagrams or TCP stream payloads).
//!
//! Everything here is bounded and total: no input can make it panic, loop,
//! or grow without limit.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Which way a datagram went, seen from the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// A DNS message's header and first question, and its answers (bounded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub is_response: bool,
    pub opcode: u8,
    /// Response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...), from the header's low 4 bits.
    pub rcode: u8,
    /// The first question's name, dotted, lower-cased, without the trailing dot ("example.com"; "." for the root).
    pub name: String,
    pub qtype: u16,
    /// Answers of the answer section, at most MAX_ANSWERS, formatted: A "1.2.3.4", AAAA as std's Ipv6Addr Display, CNAME/NS/PTR the dotted name, MX "10 mail.example.com", TXT the first string (lossy, at most 64 bytes), others "TYPE<n>".
    pub answers: Vec<String>,
    /// How many answer records the header says there are (ancount), even if fewer were parsed.
    pub answer_count: u16,
}

/// At most this many answers are kept per message.
pub const MAX_ANSWERS: usize = 8;

const HEADER_LEN: usize = 12;
/// Longest name text we accept; a valid wire name never exceeds it.
const MAX_NAME_TEXT: usize = 255;
/// Compression hops per name; real messages need a handful at most.
const MAX_POINTER_HOPS: usize = 32;
/// TXT answers keep only this many bytes of their first string.
const MAX_TXT_BYTES: usize = 64;

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_CNAME: u16 = 5;
const TYPE_PTR: u16 = 12;
const TYPE_MX: u16 = 15;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([pair[0], pair[1]]))
}

/// Parses one DNS message (the UDP payload, or a TCP message without its 2-byte length prefix). `None` when it is not a plausible DNS message (too short, no question, a name that loops or overruns). Must handle name compression (pointers, only backwards, bounded hops), truncated captures (the answers section may be cut: parse what is there and keep answer_count from the header).
///
/// Besides the header and question, the question's class must be one DNS
/// uses (IN, CH, HS, NONE, ANY; the mDNS unicast bit is ignored), which
/// keeps random bytes from passing as a message.
pub fn parse(bytes: &[u8]) -> Option<Message> {
    if bytes.len() < HEADER_LEN {
        return None;
    }
    let flags = be16(bytes, 2)?;
    let qdcount = be16(bytes, 4)?;
    let answer_count = be16(bytes, 6)?;
    if qdcount == 0 {
        return None;
    }
    let (name, after_name) = read_name(bytes, HEADER_LEN)?;
    let qtype = be16(bytes, after_name)?;
    let qclass = be16(bytes, after_name + 2)?;
    if !is_plausible_class(qclass) {
        return None;
    }
    let questions_end = skip_questions(bytes, after_name + 4, qdcount - 1);
    let answers = questions_end
        .map(|at| read_answers(bytes, at, answer_count))
        .unwrap_or_default();
    Some(Message {
        id: be16(bytes, 0)?,
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xF) as u8,
        rcode: (flags & 0xF) as u8,
        name,
        qtype,
        answers,
        answer_count,
    })
}

fn is_plausible_class(qclass: u16) -> bool {
    matches!(qclass & 0x7FFF, 1 | 3 | 4 | 254 | 255)
}

/// Steps over further questions; `None` if the capture ends inside them.
fn skip_questions(msg: &[u8], mut at: usize, count: u16) -> Option<usize> {
    for _ in 0..count {
        let (_, after_name) = read_name(msg, at)?;
        at = after_name + 4;
        msg.get(..at)?;
    }
    Some(at)
}

/// Reads up to MAX_ANSWERS records; a record cut by the capture ends the list.
fn read_answers(msg: &[u8], mut at: usize, count: u16) -> Vec<String> {
    let mut answers = Vec::new();
    for _ in 0..count {
        if answers.len() == MAX_ANSWERS {
            break;
        }
        match read_record(msg, at) {
            Some((answer, next)) => {
                answers.push(answer);
                at = next;
            }
            None => break,
        }
    }
    answers
}

/// Reads one resource record at `at`; returns its formatted data and the offset after it.
fn read_record(msg: &[u8], at: usize) -> Option<(String, usize)> {
    let (_, after_name) = read_name(msg, at)?;
    let rtype = be16(msg, after_name)?;
    let rdlen = be16(msg, after_name + 8)? as usize;
    let start = after_name + 10;
    let end = start + rdlen;
    msg.get(start..end)?;
    let text = format_rdata(msg, rtype, start, end).unwrap_or_else(|| format!("TYPE{rtype}"));
    Some((text, end))
}

/// Formats known record data; `None` for other types or malformed data.
fn format_rdata(msg: &[u8], rtype: u16, start: usize, end: usize) -> Option<String> {
    let rdata = &msg[start..end];
    match rtype {
        TYPE_A => {
            let octets: [u8; 4] = rdata.try_into().ok()?;
            Some(Ipv4Addr::from(octets).to_string())
        }
        TYPE_AAAA => {
            let octets: [u8; 16] = rdata.try_into().ok()?;
            Some(Ipv6Addr::from(octets).to_string())
        }
        TYPE_CNAME | TYPE_NS | TYPE_PTR => read_name_within(msg, start, end),
        TYPE_MX => {
            let preference = be16(rdata, 0)?;
            let exchange = read_name_within(msg, start + 2, end)?;
            Some(format!("{preference} {exchange}"))
        }
        TYPE_TXT => {
            let len = *rdata.first()? as usize;
            let text = rdata.get(1..1 + len)?;
            let kept = &text[..len.min(MAX_TXT_BYTES)];
            Some(String::from_utf8_lossy(kept).into_owned())
        }
        _ => None,
    }
}

/// A name inside record data; its uncompressed part must not run past the data.
fn read_name_within(msg: &[u8], start: usize, end: usize) -> Option<String> {
    let (name, after) = read_name(msg, start)?;
    (after <= end).then_some(name)
}

/// Reads a possibly compressed name at `start`; returns the dotted lower-case
/// text and the offset just past the name where it starts (not where pointers led).
///
/// Every pointer must point strictly before where the current run of labels
/// began, so positions only decrease and loops (and forward pointers) are
/// impossible; the hop bound is a second guard.
fn read_name(msg: &[u8], start: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut pos = start;
    let mut run_start = start;
    let mut end = None;
    let mut hops = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        match len & 0xC0 {
            0x00 if len == 0 => {
                end.get_or_insert(pos + 1);
                break;
            }
            0x00 => {
                append_label(&mut name, msg.get(pos + 1..pos + 1 + len)?)?;
                pos += 1 + len;
            }
            0xC0 => {
                let target = ((len & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
                hops += 1;
                if target >= run_start || hops > MAX_POINTER_HOPS {
                    return None;
                }
                end.get_or_insert(pos + 2);
                run_start = target;
                pos = target;
            }
            // 0x40 and 0x80 are extended/obsolete label types nobody sends.
            _ => return None,
        }
    }
    if name.is_empty() {
        name.push('.');
    }
    Some((name, end?))
}

/// Appends one label, lower-cased; bytes that are not printable ASCII (and
/// dots inside a label) become '?', so the text stays one byte per wire byte.
fn append_label(name: &mut String, label: &[u8]) -> Option<()> {
    if !name.is_empty() {
        name.push('.');
    }
    for &byte in label {
        let shown = if byte.is_ascii_graphic() && byte != b'.' {
            byte.to_ascii_lowercase() as char
        } else {
            '?'
        };
        name.push(shown);
    }
    (name.len() <= MAX_NAME_TEXT).then_some(())
}

/// "A", "AAAA", "CNAME", "MX", "TXT", "NS", "PTR", "SOA", "SRV", "HTTPS", "SVCB", "ANY", else "TYPE<n>".
pub fn type_name(qtype: u16) -> String {
    let known = match qtype {
        TYPE_A => "A",
        TYPE_AAAA => "AAAA",
        TYPE_CNAME => "CNAME",
        TYPE_MX => "MX",
        TYPE_TXT => "TXT",
        TYPE_NS => "NS",
        TYPE_PTR => "PTR",
        6 => "SOA",
        33 => "SRV",
        65 => "HTTPS",
        64 => "SVCB",
        255 => "ANY",
        _ => return format!("TYPE{qtype}"),
    };
    known.to_string()
}

/// "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", else "RCODE<n>".
pub fn rcode_name(rcode: u8) -> String {
    let known = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => return format!("RCODE{rcode}"),
    };
    known.to_string()
}

/// A query and, if it came, its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    pub name: String,
    pub qtype: u16,
    /// None when no answer came (timed out, or the trace ended).
    pub rcode: Option<u8>,
    pub answers: Vec<String>,
    pub answer_count: u16,
    pub query_time_ns: u64,
    /// Query to answer; None without an answer.
    pub latency_ns: Option<u64>,
    pub timed_out: bool,
}

/// At most this many queries wait for answers per Pairing.
const MAX_WAITING: usize = 256;
/// Per-direction TCP reassembly buffer size.
const STREAM_BUFFER: usize = 4096;

/// A query waiting for its response.
#[derive(Debug)]
struct Pending {
    id: u16,
    name: String,
    qtype: u16,
    /// The direction the query went; its response goes the other way.
    dir: Direction,
    time_ns: u64,
}

impl Pending {
    fn unanswered(self, timed_out: bool) -> Lookup {
        Lookup {
            name: self.name,
            qtype: self.qtype,
            rcode: None,
            answers: Vec::new(),
            answer_count: 0,
            query_time_ns: self.time_ns,
            latency_ns: None,
            timed_out,
        }
    }

    fn answered(self, response: Message, time_ns: u64) -> Lookup {
        Lookup {
            rcode: Some(response.rcode),
            answers: response.answers,
            answer_count: response.answer_count,
            latency_ns: Some(time_ns.saturating_sub(self.time_ns)),
            ..self.unanswered(false)
        }
    }
}

/// One direction of a TCP stream being split into length-prefixed messages.
#[derive(Debug, Default)]
struct StreamBuf {
    buf: Vec<u8>,
    /// Bytes still to drop: the tail of a message too large to buffer.
    skip: usize,
}

impl StreamBuf {
    /// Takes `input` in, returning each complete (or, if oversized, cut) message.
    fn push(&mut self, mut input: &[u8], mut on_message: impl FnMut(&[u8])) {
        loop {
            let skipped = self.skip.min(input.len());
            self.skip -= skipped;
            input = &input[skipped..];
            let room = STREAM_BUFFER - self.buf.len();
            let taken = room.min(input.len());
            self.buf.extend_from_slice(&input[..taken]);
            input = &input[taken..];
            self.drain_messages(&mut on_message);
            if input.is_empty() {
                break;
            }
        }
    }

    /// Splits off buffered messages; a full buffer always makes room here.
    fn drain_messages(&mut self, on_message: &mut impl FnMut(&[u8])) {
        while let Some(len) = be16(&self.buf, 0).map(usize::from) {
            if len < HEADER_LEN {
                // Not a DNS length: we lost sync, so start over with later bytes.
                self.buf.clear();
            } else if self.buf.len() >= 2 + len {
                on_message(&self.buf[2..2 + len]);
                self.buf.drain(..2 + len);
            } else if 2 + len > STREAM_BUFFER && self.buf.len() == STREAM_BUFFER {
                // Too large to hold: parse what we have as a cut capture, drop the rest.
                on_message(&self.buf[2..]);
                self.skip = 2 + len - STREAM_BUFFER;
                self.buf.clear();
            } else {
                break;
            }
        }
    }
}

/// Pairs queries with answers on one socket by (id, name, qtype); bounded.
#[derive(Debug, Default)]
pub struct Pairing {
    waiting: VecDeque<Pending>,
    sent: StreamBuf,
    received: StreamBuf,
}

impl Pairing {
    /// An empty pairing with nothing waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// One datagram's payload (a TCP segment run is handled by `feed_stream`). A query we Sent waits for a response we Receive (client side); a query we Received waits for a response we Send (server side). A response completes the oldest waiting query with the same id, name and qtype; an unmatched response is ignored.
    pub fn feed(&mut self, dir: Direction, payload: &[u8], time_ns: u64, out: &mut Vec<Lookup>) {
        let Some(message) = parse(payload) else {
            return;
        };
        if message.is_response {
            self.complete(dir, message, time_ns, out);
        } else {
            self.enqueue(dir, message, time_ns, out);
        }
    }

    fn enqueue(&mut self, dir: Direction, query: Message, time_ns: u64, out: &mut Vec<Lookup>) {
        if self.waiting.len() == MAX_WAITING
            && let Some(oldest) = self.waiting.pop_front()
        {
            out.push(oldest.unanswered(false));
        }
        self.waiting.push_back(Pending {
            id: query.id,
            name: query.name,
            qtype: query.qtype,
            dir,
            time_ns,
        });
    }

    fn complete(&mut self, dir: Direction, response: Message, time_ns: u64, out: &mut Vec<Lookup>) {
        let matching = self.waiting.iter().position(|p| {
            p.dir != dir
                && p.id == response.id
                && p.name == response.name
                && p.qtype == response.qtype
        });
        if let Some(query) = matching.and_then(|at| self.waiting.remove(at)) {
            out.push(query.answered(response, time_ns));
        }
    }

    /// DNS over TCP: bytes of one direction in order, messages framed by a 2-byte big-endian length; keep a small per-direction buffer (at most 4 KiB) across calls, resync by dropping the buffer if a length is implausible (< 12).
    ///
    /// A message longer than the buffer is parsed from its first 4 KiB (as a
    /// cut capture) and the rest of it is skipped. Messages completed by this
    /// call are stamped with `time_ns`.
    pub fn feed_stream(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        time_ns: u64,
        out: &mut Vec<Lookup>,
    ) {
        let mut stream = std::mem::take(self.stream_mut(dir));
        stream.push(bytes, |message| self.feed(dir, message, time_ns, out));
        *self.stream_mut(dir) = stream;
    }

    fn stream_mut(&mut self, dir: Direction) -> &mut StreamBuf {
        match dir {
            Direction::Sent => &mut self.sent,
            Direction::Received => &mut self.received,
        }
    }

    /// Queries waiting longer than timeout_ns come out with timed_out = true.
    pub fn expire(&mut self, now_ns: u64, timeout_ns: u64, out: &mut Vec<Lookup>) {
        let (expired, kept) = self
            .waiting
            .drain(..)
            .partition(|p| now_ns.saturating_sub(p.time_ns) > timeout_ns);
        self.waiting = kept;
        out.extend(expired.into_iter().map(|p: Pending| p.unanswered(true)));
    }

    /// Every waiting query comes out unanswered (timed_out false).
    pub fn close(&mut self, out: &mut Vec<Lookup>) {
        out.extend(self.waiting.drain(..).map(|p| p.unanswered(false)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Received as R, Sent as S};

    /// Record data for the test encoder.
    enum Rd<'a> {
        A([u8; 4]),
        Aaaa(Ipv6Addr),
        Name(u16, &'a str),
        Mx(u16, &'a str),
        Txt(&'a [u8]),
        Raw(u16, &'a [u8]),
    }

    /// A small DNS encoder; with `compress`, names reuse earlier suffixes via pointers.
    struct Encoder {
        buf: Vec<u8>,
        compress: bool,
        suffixes: Vec<(String, usize)>,
    }

    impl Encoder {
        fn new(id: u16, flags: u16, qdcount: u16, ancount: u16, compress: bool) -> Self {
            let mut buf = Vec::new();
            for field in [id, flags, qdcount, ancount, 0, 0] {
                buf.extend_from_slice(&field.to_be_bytes());
            }
            Self {
                buf,
                compress,
                suffixes: Vec::new(),
            }
        }

        fn u16(&mut self, value: u16) {
            self.buf.extend_from_slice(&value.to_be_bytes());
        }

        fn name(&mut self, name: &str) {
            let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
            for i in 0..labels.len() {
                let suffix = labels[i..].join(".");
                let earlier = self.suffixes.iter().find(|(s, _)| *s == suffix);
                if let (true, Some(&(_, at))) = (self.compress, earlier) {
                    self.u16(0xC000 | at as u16);
                    return;
                }
                self.suffixes.push((suffix, self.buf.len()));
                self.buf.push(labels[i].len() as u8);
                self.buf.extend_from_slice(labels[i].as_bytes());
            }
            self.buf.push(0);
        }

        fn question(&mut self, name: &str, qtype: u16) {
            self.name(name);
            self.u16(qtype);
            self.u16(1);
        }

        fn answer(&mut self, owner: &str, rd: &Rd) {
            self.name(owner);
            let rtype = match rd {
                Rd::A(_) => TYPE_A,
                Rd::Aaaa(_) => TYPE_AAAA,
                Rd::Name(t, _) | Rd::Raw(t, _) => *t,
                Rd::Mx(..) => TYPE_MX,
                Rd::Txt(_) => TYPE_TXT,
            };
            self.u16(rtype);
            self.u16(1);
            self.buf.extend_from_slice(&300u32.to_be_bytes());
            let len_at = self.buf.len();
            self.u16(0);
            match rd {
                Rd::A(octets) => self.buf.extend_from_slice(octets),
                Rd::Aaaa(addr) => self.buf.extend_from_slice(&addr.octets()),
                Rd::Name(_, name) => self.name(name),
                Rd::Mx(preference, name) => {
                    self.u16(*preference);
                    self.name(name);
                }
                Rd::Txt(text) => {
                    self.buf.push(text.len() as u8);
                    self.buf.extend_from_slice(text);
                }
                Rd::Raw(_, bytes) => self.buf.extend_from_slice(bytes),
            }
            let rdlen = (self.buf.len() - len_at - 2) as u16;
            self.buf[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        }
    }

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut e = Encoder::new(id, 0x0100, 1, 0, false);
        e.question(name, qtype);
        e.buf
    }

    fn response(
        id: u16,
        name: &str,
        qtype: u16,
        rcode: u8,
        answers: &[(&str, Rd)],
        compress: bool,
    ) -> Vec<u8> {
        let flags = 0x8180 | u16::from(rcode);
        let mut e = Encoder::new(id, flags, 1, answers.len() as u16, compress);
        e.question(name, qtype);
        for (owner, rd) in answers {
            e.answer(owner, rd);
        }
        e.buf
    }

    #[test]
    fn parses_query_header_and_question() {
        let m = parse(&query(0xBEEF, "WWW.Example.COM", TYPE_A)).unwrap();
        assert_eq!(m.id, 0xBEEF);
        assert!(!m.is_response);
        assert_eq!((m.opcode, m.rcode, m.qtype), (0, 0, TYPE_A));
        assert_eq!(m.name, "www.example.com");
        assert_eq!((m.answers.len(), m.answer_count), (0, 0));
        assert_eq!(parse(&query(1, ".", 2)).unwrap().name, ".");
    }

    #[test]
    fn a_and_aaaa_answers() {
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let answers = [
            ("example.com", Rd::A([93, 184, 216, 34])),
            ("example.com", Rd::Aaaa(v6)),
        ];
        for compress in [false, true] {
            let m = parse(&response(7, "example.com", TYPE_A, 0, &answers, compress)).unwrap();
            assert!(m.is_response);
            assert_eq!(m.answers, ["93.184.216.34", "2001:db8::1"]);
            assert_eq!(m.answer_count, 2);
        }
    }

    #[test]
    fn cname_chain_then_a() {
        let answers = [
            ("www.example.com", Rd::Name(TYPE_CNAME, "edge.cdn.net")),
            ("edge.cdn.net", Rd::Name(TYPE_CNAME, "E1.cdn.net")),
            ("e1.cdn.net", Rd::A([10, 0, 0, 1])),
        ];
        let bytes = response(9, "www.example.com", TYPE_A, 0, &answers, true);
        let m = parse(&bytes).unwrap();
        assert_eq!(m.answers, ["edge.cdn.net", "e1.cdn.net", "10.0.0.1"]);
    }

    #[test]
    fn nxdomain_and_servfail() {
        let m = parse(&response(3, "nope.example", TYPE_A, 3, &[], false)).unwrap();
        assert_eq!((m.rcode, m.answer_count), (3, 0));
        assert!(m.answers.is_empty());
        assert_eq!(rcode_name(m.rcode), "NXDOMAIN");
        let m = parse(&response(4, "x.example", TYPE_AAAA, 2, &[], false)).unwrap();
        assert_eq!(rcode_name(m.rcode), "SERVFAIL");
        assert_eq!(rcode_name(9), "RCODE9");
    }

    #[test]
    fn mx_txt_ptr_and_other_formatting() {
        let long = [b'x'; 100];
        let answers = [
            ("example.com", Rd::Mx(10, "Mail.example.com")),
            ("example.com", Rd::Txt(b"v=spf1 -all")),
            ("example.com", Rd::Txt(&long)),
            ("example.com", Rd::Txt(b"bad \xff byte")),
            ("1.0.0.127.in-addr.arpa", Rd::Name(TYPE_PTR, "localhost")),
            ("example.com", Rd::Raw(6, &[0; 22])),
            ("example.com", Rd::Raw(TYPE_A, &[1, 2, 3])),
        ];
        let m = parse(&response(5, "example.com", TYPE_MX, 0, &answers, true)).unwrap();
        assert_eq!(m.answers[0], "10 mail.example.com");
        assert_eq!(m.answers[1], "v=spf1 -all");
        assert_eq!(m.answers[2], "x".repeat(64));
        assert_eq!(m.answers[3], "bad \u{fffd} byte");
        assert_eq!(m.answers[4], "localhost");
        assert_eq!(m.answers[5], "TYPE6");
        assert_eq!(m.answers[6], "TYPE1", "malformed A data falls back");
    }

    #[test]
    fn type_names() {
        let names: Vec<String> = [1, 28, 5, 15, 16, 2, 12, 6, 33, 65, 64, 255, 99]
            .map(type_name)
            .into();
        let expected = [
            "A", "AAAA", "CNAME", "MX", "TXT", "NS", "PTR", "SOA", "SRV", "HTTPS", "SVCB", "ANY",
            "TYPE99",
        ];
        assert_eq!(names, expected);
    }

    #[test]
    fn answers_are_capped() {
        let answers: Vec<(&str, Rd)> = (0..20).map(|i| ("a.b", Rd::A([1, 1, 1, i]))).collect();
        let m = parse(&response(1, "a.b", TYPE_A, 0, &answers, true)).unwrap();
        assert_eq!((m.answers.len(), m.answer_count), (MAX_ANSWERS, 20));
    }

    #[test]
    fn compression_pointers() {
        let one = [("a.example.com", Rd::A([1, 2, 3, 4]))];
        let plain = response(2, "a.example.com", TYPE_A, 0, &one, false);
        let packed = response(2, "a.example.com", TYPE_A, 0, &one, true);
        assert!(packed.len() < plain.len());
        assert_eq!(parse(&plain), parse(&packed));
        // A pointer chain: "b" + pointer to "a.example.com", then a pointer to that name.
        let mut e = Encoder::new(1, 0x8180, 1, 2, true);
        e.question("a.example.com", TYPE_A);
        e.answer("b.example.com", &Rd::A([5, 6, 7, 8]));
        e.answer("b.example.com", &Rd::Name(TYPE_CNAME, "c.b.example.com"));
        assert_eq!(
            parse(&e.buf).unwrap().answers,
            ["5.6.7.8", "c.b.example.com"]
        );
    }

    /// Header with one question whose name is `name_bytes` raw, then type A class IN.
    fn raw_question(name_bytes: &[u8]) -> Vec<u8> {
        let mut e = Encoder::new(1, 0x0100, 1, 0, false);
        e.buf.extend_from_slice(name_bytes);
        e.u16(1);
        e.u16(1);
        e.buf
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_rejected() {
        // Points at itself (offset 12).
        assert_eq!(parse(&raw_question(&[0xC0, 12])), None);
        // Forward pointer to a valid name later in the message.
        assert_eq!(parse(&raw_question(&[0xC0, 14, 1, b'a', 0])), None);
        // A label that jumps over a later pointer back to it: 12: "\x03" covers 13..16,
        // 16: pointer to 12 would loop; it is not strictly before the run start.
        assert_eq!(parse(&raw_question(&[3, b'a', 0xC0, 12, 0xC0, 12])), None);
        // Two names pointing at each other in the answer section.
        let mut bytes = response(1, "x", TYPE_A, 0, &[], false);
        bytes[7] = 1;
        let at = bytes.len();
        bytes.extend_from_slice(&[0xC0, (at + 2) as u8, 0xC0, at as u8]);
        let m = parse(&bytes).unwrap();
        assert!(m.answers.is_empty());
        // Reserved label types and overlong names.
        assert_eq!(parse(&raw_question(&[0x40, 0])), None);
        let label = std::iter::once(63).chain([b'a'; 63]);
        let long: Vec<u8> = label.cycle().take(64 * 5).chain([0]).collect();
        assert_eq!(parse(&raw_question(&long)), None);
    }

    #[test]
    fn truncated_capture_keeps_answer_count() {
        let answers: Vec<(&str, Rd)> = (0..4).map(|i| ("t.example", Rd::A([9, 9, 9, i]))).collect();
        let full = response(8, "t.example", TYPE_A, 0, &answers, true);
        let cut = &full[..full.len() - 6];
        let m = parse(cut).unwrap();
        assert_eq!(m.answer_count, 4);
        assert_eq!(m.answers, ["9.9.9.0", "9.9.9.1", "9.9.9.2"]);
        let question_only = &full[..12 + 11 + 4];
        assert_eq!(parse(question_only).unwrap().answers.len(), 0);
    }

    #[test]
    fn garbage_and_short_inputs_are_rejected() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0; 11]), None);
        assert_eq!(parse(&[0; 12]), None, "no question");
        let q = query(1, "example.com", TYPE_A);
        assert_eq!(parse(&q[..q.len() - 1]), None, "question cut");
        assert_eq!(parse(&q[..20]), None, "name cut");
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), None);
        let mut bad_class = q.clone();
        *bad_class.last_mut().unwrap() = 77;
        assert_eq!(parse(&bad_class), None);
    }

    const A: u16 = TYPE_A;

    fn a_response(id: u16, name: &str, ip: u8) -> Vec<u8> {
        response(id, name, A, 0, &[(name, Rd::A([10, 0, 0, ip]))], true)
    }

    #[test]
    fn client_side_pairing_with_latency() {
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        p.feed(S, &query(1, "example.com", A), 1_000, &mut out);
        assert!(out.is_empty());
        p.feed(R, &a_response(1, "example.com", 1), 5_000, &mut out);
        assert_eq!(
            out,
            [Lookup {
                name: "example.com".into(),
                qtype: A,
                rcode: Some(0),
                answers: vec!["10.0.0.1".into()],
                answer_count: 1,
                query_time_ns: 1_000,
                latency_ns: Some(4_000),
                timed_out: false,
            }]
        );
        assert!(p.waiting.is_empty());
    }

    #[test]
    fn server_side_pairing() {
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        p.feed(R, &query(2, "srv.example", A), 10, &mut out);
        // A response in the same direction as the query is not its answer.
        p.feed(R, &a_response(2, "srv.example", 1), 15, &mut out);
        assert!(out.is_empty());
        p.feed(S, &a_response(2, "srv.example", 2), 30, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].latency_ns, out[0].answers[0].as_str()),
            (Some(20), "10.0.0.2")
        );
    }

    #[test]
    fn out_of_order_answers_and_mismatched_name() {
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        p.feed(S, &query(10, "one.example", A), 100, &mut out);
        p.feed(S, &query(11, "two.example", A), 200, &mut out);
        p.feed(R, &a_response(10, "other.example", 9), 250, &mut out);
        assert!(out.is_empty(), "mismatched name is ignored");
        p.feed(R, &a_response(11, "two.example", 2), 300, &mut out);
        p.feed(R, &a_response(10, "ONE.example", 1), 400, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|l| (l.name.as_str(), l.latency_ns))
            .collect();
        assert_eq!(
            got,
            [("two.example", Some(100)), ("one.example", Some(300))]
        );
        assert!(p.waiting.is_empty());
    }

    #[test]
    fn expire_and_close() {
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        p.feed(S, &query(1, "old.example", A), 0, &mut out);
        p.feed(S, &query(2, "new.example", A), 900, &mut out);
        p.expire(1_000, 500, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].name.as_str(), out[0].timed_out, out[0].rcode),
            ("old.example", true, None)
        );
        out.clear();
        p.close(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].name.as_str(), out[0].timed_out, out[0].latency_ns),
            ("new.example", false, None)
        );
        assert!(p.waiting.is_empty());
    }

    #[test]
    fn waiting_queries_are_capped() {
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        for id in 0..(MAX_WAITING as u16 + 3) {
            p.feed(S, &query(id, "cap.example", A), u64::from(id), &mut out);
        }
        assert_eq!(p.waiting.len(), MAX_WAITING);
        let evicted: Vec<_> = out
            .iter()
            .map(|l| (l.query_time_ns, l.timed_out, l.rcode))
            .collect();
        assert_eq!(
            evicted,
            [(0, false, None), (1, false, None), (2, false, None)]
        );
    }

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut bytes = (message.len() as u16).to_be_bytes().to_vec();
        bytes.extend_from_slice(message);
        bytes
    }

    #[test]
    fn stream_two_messages_in_one_call() {
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        let mut sent = framed(&query(1, "a.example", A));
        sent.extend(framed(&query(2, "b.example", A)));
        p.feed_stream(S, &sent, 1, &mut out);
        assert_eq!(p.waiting.len(), 2);
        let mut received = framed(&a_response(2, "b.example", 2));
        received.extend(framed(&a_response(1, "a.example", 1)));
        p.feed_stream(R, &received, 9, &mut out);
        let names: Vec<_> = out.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["b.example", "a.example"]);
    }

    #[test]
    fn stream_message_split_over_three_calls() {
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        p.feed_stream(S, &framed(&query(5, "split.example", A)), 1, &mut out);
        let bytes = framed(&a_response(5, "split.example", 5));
        p.feed_stream(R, &bytes[..1], 2, &mut out);
        p.feed_stream(R, &bytes[1..20], 3, &mut out);
        assert!(out.is_empty());
        p.feed_stream(R, &bytes[20..], 4, &mut out);
        assert_eq!((out.len(), out[0].latency_ns), (1, Some(3)));
    }

    #[test]
    fn stream_resyncs_and_handles_oversized_messages() {
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        // An implausible length drops the buffer; the next call starts afresh.
        p.feed_stream(S, &[0, 3, 1, 2, 3], 1, &mut out);
        p.feed_stream(S, &framed(&query(1, "ok.example", A)), 2, &mut out);
        assert_eq!(p.waiting.len(), 1);
        // A 6000-byte response: parsed from its first 4 KiB, its tail skipped.
        let answers: Vec<(&str, Rd)> = (0..400)
            .map(|_| ("ok.example", Rd::A([1, 2, 3, 4])))
            .collect();
        let mut e = Encoder::new(1, 0x8180, 1, answers.len() as u16, true);
        e.question("ok.example", A);
        for (owner, rd) in &answers {
            e.answer(owner, rd);
        }
        let mut stream = framed(&e.buf);
        assert!(stream.len() > STREAM_BUFFER);
        stream.extend(framed(&query(2, "after.example", A)));
        p.feed_stream(R, &stream, 3, &mut out);
        assert_eq!(
            (out.len(), out[0].answer_count, out[0].answers.len()),
            (1, 400, MAX_ANSWERS)
        );
        p.feed_stream(R, &[], 4, &mut out);
        assert_eq!(
            p.waiting.back().map(|q| q.name.as_str()),
            Some("after.example")
        );
        assert!(p.received.buf.is_empty() && p.received.skip == 0);
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn check_message_bounds(m: &Message) {
        assert!(m.name.len() <= MAX_NAME_TEXT);
        assert!(m.answers.len() <= MAX_ANSWERS);
        assert!(m.answers.len() <= usize::from(m.answer_count));
        // Longest: an MX preference plus a full name, or 64 bytes of lossy TXT.
        assert!(m.answers.iter().all(|a| a.len() <= 6 + MAX_NAME_TEXT));
    }

    #[test]
    fn fuzz_parse_feed_and_stream() {
        let mx_answers = [
            ("mx.example", Rd::Mx(5, "mail.mx.example")),
            ("mx.example", Rd::Txt(b"hello")),
            ("mx.example", Rd::Name(TYPE_CNAME, "c.mx.example")),
        ];
        let seeds = [
            query(1, "fuzz.example.com", A),
            a_response(1, "fuzz.example.com", 1),
            response(2, "mx.example", TYPE_MX, 0, &mx_answers, true),
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let (mut p, mut out) = (Pairing::new(), Vec::new());
        let (mut parsed, mut outputs) = (0, 0);
        for round in 0..20_000u64 {
            let input = if round % 2 == 0 {
                let len = rng.below(300);
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                let mut bytes = seeds[rng.below(seeds.len())].clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len());
                    bytes[at] = match rng.below(3) {
                        0 => rng.next() as u8,
                        1 => 0xC0 | (rng.next() as u8 & 0x3F),
                        _ => rng.below(bytes.len()) as u8,
                    };
                }
                bytes.truncate(rng.below(bytes.len() + 1));
                bytes
            };
            if let Some(m) = parse(&input) {
                check_message_bounds(&m);
                parsed += 1;
            }
            let dir = [S, R][rng.below(2)];
            p.feed(dir, &input, round, &mut out);
            p.feed_stream(dir, &input, round, &mut out);
            assert!(p.waiting.len() <= MAX_WAITING);
            assert!(p.sent.buf.len() <= STREAM_BUFFER && p.received.buf.len() <= STREAM_BUFFER);
            if round % 1_000 == 0 {
                p.expire(round, 500, &mut out);
            }
            assert!(
                out.iter()
                    .all(|l| l.name.len() <= MAX_NAME_TEXT && l.answers.len() <= MAX_ANSWERS)
            );
            outputs += out.len();
            out.clear();
        }
        p.close(&mut out);
        assert!(p.waiting.is_empty());
        eprintln!("fuzz: {parsed} parsed, {outputs} lookups");
        // The mutated half must reach the deep paths, not bounce off the header checks.
        assert!(parsed > 1_000 && outputs > 50);
    }
}
