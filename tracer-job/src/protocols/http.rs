//! Incremental HTTP/1.x exchange parser for socket payloads seen one syscall at a time.
//!
//! The kernel side of the tracer copies only a bounded prefix of each syscall's payload, together
//! with the syscall's real byte count. A [`Connection`] follows both directions of one socket,
//! finds message boundaries (Content-Length, chunked encoding, read-until-close), counts the bytes
//! it could not see, and pairs requests with responses into [`Exchange`]s.
//!
//! When the framing cannot be followed (a head cut off by the capture limit, a malformed chunk),
//! the stream is "lost": the rest of that syscall belongs to the current message, and the next
//! syscall in that direction starts a new message only if it begins with a start line.

use std::collections::VecDeque;

/// Most header bytes buffered per direction while waiting for the end of a head.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most requests waiting for a response on one connection.
const MAX_WAITING: usize = 64;
/// Longest path, and longest captured header value, kept (in bytes).
const MAX_TEXT_BYTES: usize = 1024;
/// Recognised request methods; tokens are case-sensitive.
const METHODS: [&[u8]; 9] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
];

/// Which way the bytes went, seen from the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Written by the traced process (write, send, ...).
    Sent,
    /// Read by the traced process (read, recv, ...).
    Received,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::Sent => 0,
            Direction::Received => 1,
        }
    }
}

/// The traced process's role on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The traced process sends requests.
    Client,
    /// The traced process receives requests.
    Server,
}

impl Side {
    /// The direction requests travel in, seen from the traced process.
    fn request_direction(self) -> Direction {
        match self {
            Side::Client => Direction::Sent,
            Side::Server => Direction::Received,
        }
    }

    /// The role implied by the first HTTP message seen on a connection.
    fn from_first_message(is_request: bool, dir: Direction) -> Side {
        match (is_request, dir) {
            (true, Direction::Sent) | (false, Direction::Received) => Side::Client,
            _ => Side::Server,
        }
    }
}

/// One request and (if it came) its final response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The traced process's role on the connection.
    pub side: Side,
    /// The request method, e.g. "GET"; empty when the request began beyond the capture.
    pub method: String,
    /// The request target's path; the query string (from '?') is stripped unless
    /// Options::keep_query. Empty when the request began beyond the capture.
    pub path: String,
    /// None when no response came (timed out, or the connection closed first), or when
    /// it began beyond the capture (then `latency_ns` is set).
    pub status: Option<u16>,
    /// From the first byte of the request to the first byte of the (final, non-1xx) response; None without a response.
    pub latency_ns: Option<u64>,
    /// Whole message sizes (start line + headers + body), counted from syscall byte counts, not only captured bytes.
    pub request_bytes: u64,
    /// Size of the final response (interim 1xx responses are not counted); 0 without a response.
    pub response_bytes: u64,
    /// time_ns of the syscall that carried the request's first byte.
    pub request_time_ns: u64,
    /// Only headers whose lower-cased name is in Options::capture_headers: (name lower-cased, value trimmed), request's first, then response's.
    pub headers: Vec<(String, String)>,
    /// The request was given up on by [`Connection::expire`] without a response.
    pub timed_out: bool,
}

/// Parser settings shared by all connections.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep the query string (from '?') in [`Exchange::path`].
    pub keep_query: bool,
    /// Header names (compared case-insensitively) whose values go into [`Exchange::headers`].
    pub capture_headers: Vec<String>,
}

/// Whether the connection has shown itself to speak HTTP/1.x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// No complete start line seen yet.
    Unknown,
    Http,
    /// The first bytes were not HTTP/1.x: all input is ignored.
    NotHttp,
    /// Switched away from HTTP (101 Switching Protocols, CONNECT tunnel): input is ignored.
    Tunnel,
}

/// What a direction is expected to carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Either, until the connection's first message fixes the roles.
    Any,
    Request,
    Response,
}

/// Where a direction's stream stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// At a message boundary.
    #[default]
    Idle,
    /// Buffering a message head that has not ended yet.
    Head,
    /// This many body bytes (by Content-Length) are still to come.
    Body(u64),
    Chunked(Chunk),
    /// The body runs until the connection closes.
    UntilClose,
    /// The framing is unknown: bytes go to the current message until a start line shows up.
    Lost,
}

/// The message that a stream's bytes are currently counted towards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Current {
    /// Nothing to count towards (1xx, unmatched response, unparsable bytes).
    #[default]
    None,
    /// The request with this id.
    Request(u64),
    /// The response in progress in [`Tracker::answering`].
    Response,
}

/// Parsing state of one direction.
#[derive(Debug, Default)]
struct Stream {
    state: State,
    /// Buffered head bytes while `state` is `Head`.
    head: Vec<u8>,
    /// time_ns of the syscall carrying the buffered head's first byte.
    head_time_ns: u64,
    current: Current,
}

/// Position inside a chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line; `ext` is set once past the hex digits.
    Size { value: u64, digits: u8, ext: bool },
    /// This many chunk data bytes are still to come.
    Data(u64),
    /// Expecting the line break that closes a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; `line` counts the current line.
    Trailer { line: u16 },
}

/// The result of feeding one framing byte to a [`Chunk`].
enum ChunkStep {
    Next(Chunk),
    Done,
    Lost,
}

impl Chunk {
    const START: Chunk = Chunk::Size {
        value: 0,
        digits: 0,
        ext: false,
    };

    /// Advances over one framing byte (chunk data is consumed in bulk by the caller).
    fn step(self, byte: u8) -> ChunkStep {
        match self {
            Chunk::Size { value, digits, ext } => match byte {
                b'\n' if digits == 0 => ChunkStep::Lost,
                b'\n' if value == 0 => ChunkStep::Next(Chunk::Trailer { line: 0 }),
                b'\n' => ChunkStep::Next(Chunk::Data(value)),
                b'\r' => ChunkStep::Next(self),
                _ if ext => ChunkStep::Next(self),
                b';' | b' ' | b'\t' if digits > 0 => ChunkStep::Next(Chunk::Size {
                    value,
                    digits,
                    ext: true,
                }),
                // At most 16 hex digits, so the value cannot overflow.
                _ => match hex_value(byte) {
                    Some(digit) if digits < 16 => ChunkStep::Next(Chunk::Size {
                        value: value * 16 + digit,
                        digits: digits + 1,
                        ext,
                    }),
                    _ => ChunkStep::Lost,
                },
            },
            Chunk::Data(_) => ChunkStep::Next(self),
            Chunk::DataEnd => match byte {
                b'\r' => ChunkStep::Next(self),
                b'\n' => ChunkStep::Next(Chunk::START),
                _ => ChunkStep::Lost,
            },
            Chunk::Trailer { line } => match byte {
                b'\n' if line == 0 => ChunkStep::Done,
                b'\n' => ChunkStep::Next(Chunk::Trailer { line: 0 }),
                b'\r' => ChunkStep::Next(self),
                _ => ChunkStep::Next(Chunk::Trailer {
                    line: line.saturating_add(1),
                }),
            },
        }
    }
}

fn hex_value(byte: u8) -> Option<u64> {
    char::from(byte).to_digit(16).map(u64::from)
}

/// The unconsumed rest of one syscall: captured bytes first, then bytes we never saw.
struct Input<'a> {
    visible: &'a [u8],
    hidden: u64,
}

impl<'a> Input<'a> {
    fn new(captured: &'a [u8], len: u64) -> Self {
        Input {
            visible: captured,
            hidden: len.saturating_sub(captured.len() as u64),
        }
    }

    fn is_empty(&self) -> bool {
        self.visible.is_empty() && self.hidden == 0
    }

    /// Consumes up to `n` bytes, visible ones first; returns how many were consumed.
    fn consume(&mut self, n: u64) -> u64 {
        let seen = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(self.visible.len());
        self.visible = &self.visible[seen..];
        let unseen = (n - seen as u64).min(self.hidden);
        self.hidden -= unseen;
        seen as u64 + unseen
    }

    fn consume_all(&mut self) -> u64 {
        self.consume(u64::MAX)
    }
}

/// A request still waiting for its final response.
#[derive(Debug)]
struct Pending {
    id: u64,
    side: Side,
    method: String,
    path: String,
    time_ns: u64,
    bytes: u64,
    headers: Vec<(String, String)>,
}

impl Pending {
    fn unanswered(self, timed_out: bool) -> Exchange {
        Exchange {
            side: self.side,
            method: self.method,
            path: self.path,
            status: None,
            latency_ns: None,
            request_bytes: self.bytes,
            response_bytes: 0,
            request_time_ns: self.time_ns,
            headers: self.headers,
            timed_out,
        }
    }
}

/// A final response in progress, with the request it answers.
#[derive(Debug)]
struct Answer {
    request: Pending,
    /// `None` when the response began in bytes the capture did not copy.
    status: Option<u16>,
    time_ns: u64,
    /// time_ns of the latest syscall that added to the response.
    last_ns: u64,
    bytes: u64,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn into_exchange(self) -> Exchange {
        let mut exchange = self.request.unanswered(false);
        exchange.status = self.status;
        exchange.latency_ns = Some(self.time_ns.saturating_sub(exchange.request_time_ns));
        exchange.response_bytes = self.bytes;
        exchange.headers.extend(self.headers);
        exchange
    }
}

/// Pairs requests with responses in FIFO order.
#[derive(Debug, Default)]
struct Tracker {
    waiting: VecDeque<Pending>,
    answering: Option<Answer>,
    next_id: u64,
}

impl Tracker {
    /// Queues a request and returns its id; the oldest one leaves unanswered when the queue is full.
    fn push_request(&mut self, mut request: Pending, out: &mut Vec<Exchange>) -> u64 {
        request.id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        if self.waiting.len() >= MAX_WAITING
            && let Some(oldest) = self.waiting.pop_front()
        {
            out.push(oldest.unanswered(false));
        }
        let id = request.id;
        self.waiting.push_back(request);
        id
    }

    fn add_request_bytes(&mut self, id: u64, n: u64) {
        // The request being sent is nearly always the newest one.
        if let Some(request) = self.waiting.iter_mut().rev().find(|p| p.id == id) {
            request.bytes = request.bytes.saturating_add(n);
        } else if let Some(answer) = &mut self.answering
            && answer.request.id == id
        {
            answer.request.bytes = answer.request.bytes.saturating_add(n);
        }
    }

    fn add_response_bytes(&mut self, n: u64, time_ns: u64) {
        if let Some(answer) = &mut self.answering {
            answer.bytes = answer.bytes.saturating_add(n);
            answer.last_ns = time_ns;
        }
    }

    /// The method of the request the next response answers.
    fn next_method(&self) -> Option<&str> {
        self.waiting.front().map(|p| p.method.as_str())
    }

    /// Starts the final response to the oldest waiting request; false when none is waiting.
    fn start_answer(
        &mut self,
        status: Option<u16>,
        time_ns: u64,
        headers: Vec<(String, String)>,
        out: &mut Vec<Exchange>,
    ) -> bool {
        self.finish_answer(out);
        let Some(request) = self.waiting.pop_front() else {
            return false;
        };
        self.answering = Some(Answer {
            request,
            status,
            time_ns,
            last_ns: time_ns,
            bytes: 0,
            headers,
        });
        true
    }

    fn finish_answer(&mut self, out: &mut Vec<Exchange>) {
        if let Some(answer) = self.answering.take() {
            out.push(answer.into_exchange());
        }
    }

    fn expire_waiting(&mut self, now_ns: u64, timeout_ns: u64, out: &mut Vec<Exchange>) {
        let expired = |p: &Pending| now_ns.saturating_sub(p.time_ns) > timeout_ns;
        if !self.waiting.iter().any(expired) {
            return;
        }
        let mut kept = VecDeque::with_capacity(self.waiting.len());
        for request in self.waiting.drain(..) {
            if expired(&request) {
                out.push(request.unanswered(true));
            } else {
                kept.push_back(request);
            }
        }
        self.waiting = kept;
    }

    fn drain_unanswered(&mut self, out: &mut Vec<Exchange>) {
        out.extend(self.waiting.drain(..).map(|p| p.unanswered(false)));
    }
}

/// How the body after a complete head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    NoBody,
    Length(u64),
    Chunked,
    UntilClose,
    Unknown,
}

/// What a start line says.
#[derive(Debug)]
enum Start {
    Request { method: String, path: String },
    Response { status: u16 },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ContentLength {
    #[default]
    Absent,
    Valid(u64),
    /// Unparsable, or several that disagree: the body length is unknown.
    Invalid,
}

impl ContentLength {
    fn merge(self, parsed: Option<u64>) -> Self {
        match (self, parsed) {
            (_, None) => ContentLength::Invalid,
            (ContentLength::Absent, Some(n)) => ContentLength::Valid(n),
            (ContentLength::Valid(old), Some(n)) if old == n => self,
            _ => ContentLength::Invalid,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Coding {
    /// No Transfer-Encoding header.
    #[default]
    Identity,
    Chunked,
    /// A Transfer-Encoding whose final coding is not chunked.
    Other,
}

impl Coding {
    /// Only the final coding decides the framing.
    fn from_header(value: &[u8]) -> Self {
        let last = value.rsplit(|&b| b == b',').next().map(trim_ows);
        match last {
            Some(coding) if coding.eq_ignore_ascii_case(b"chunked") => Coding::Chunked,
            _ => Coding::Other,
        }
    }
}

/// The parts of a message head the parser uses.
#[derive(Debug)]
struct Head {
    start: Start,
    content_length: ContentLength,
    coding: Coding,
    headers: Vec<(String, String)>,
}

impl Head {
    fn add_header_line(&mut self, line: &[u8], opts: &Options) {
        // obs-fold continuation lines carry nothing used here.
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return;
        };
        let name = String::from_utf8_lossy(trim_ows(&line[..colon])).to_ascii_lowercase();
        let value = trim_ows(&line[colon + 1..]);
        match name.as_str() {
            "content-length" => {
                self.content_length = self.content_length.merge(parse_decimal(value));
            }
            "transfer-encoding" => self.coding = Coding::from_header(value),
            _ => {}
        }
        if opts
            .capture_headers
            .iter()
            .any(|wanted| wanted.eq_ignore_ascii_case(&name))
        {
            self.headers.push((name, lossy_capped(value)));
        }
    }

    fn request_framing(&self) -> Framing {
        match (self.coding, self.content_length) {
            (Coding::Chunked, _) => Framing::Chunked,
            (Coding::Other, _) | (_, ContentLength::Invalid) => Framing::Unknown,
            (_, ContentLength::Valid(0)) | (_, ContentLength::Absent) => Framing::NoBody,
            (_, ContentLength::Valid(n)) => Framing::Length(n),
        }
    }

    fn response_framing(&self, status: u16, bodiless: bool) -> Framing {
        if bodiless || (100..200).contains(&status) || status == 204 || status == 304 {
            return Framing::NoBody;
        }
        match (self.coding, self.content_length) {
            (Coding::Chunked, _) => Framing::Chunked,
            (Coding::Other, _) | (_, ContentLength::Absent) => Framing::UntilClose,
            (_, ContentLength::Invalid) => Framing::Unknown,
            (_, ContentLength::Valid(0)) => Framing::NoBody,
            (_, ContentLength::Valid(n)) => Framing::Length(n),
        }
    }
}

/// Tracks HTTP/1.x exchanges on one connection from per-syscall payload prefixes.
#[derive(Debug)]
pub struct Connection {
    protocol: Protocol,
    side: Option<Side>,
    /// Indexed by [`Direction::index`].
    streams: [Stream; 2],
    tracker: Tracker,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    /// A connection on which nothing has been seen yet.
    pub fn new() -> Self {
        Connection {
            protocol: Protocol::Unknown,
            side: None,
            streams: Default::default(),
            tracker: Tracker::default(),
        }
    }

    /// One syscall's payload on this connection: `captured` is the copied prefix, `len` the
    /// syscall's real byte count. Completed exchanges are appended to `out`.
    pub fn feed(
        &mut self,
        opts: &Options,
        dir: Direction,
        captured: &[u8],
        len: u64,
        time_ns: u64,
        out: &mut Vec<Exchange>,
    ) {
        if !self.reads_input() {
            return;
        }
        let mut input = Input::new(captured, len);
        if input.is_empty() {
            return;
        }
        self.resync_if_lost(dir, captured, out);
        while self.reads_input() && !input.is_empty() {
            self.step(opts, dir, &mut input, time_ns, out);
        }
    }

    /// Requests waiting longer than timeout_ns at now_ns come out with timed_out = true, status None.
    ///
    /// A response that started but has not ended (unknown length, running to close, stalled body)
    /// and saw no bytes for longer than timeout_ns comes out too, with its status and the bytes
    /// counted so far.
    pub fn expire(&mut self, now_ns: u64, timeout_ns: u64, out: &mut Vec<Exchange>) {
        if let Some(answer) = &self.tracker.answering
            && now_ns.saturating_sub(answer.last_ns) > timeout_ns
        {
            self.tracker.finish_answer(out);
            for stream in &mut self.streams {
                if stream.current == Current::Response {
                    stream.current = Current::None;
                }
            }
        }
        self.tracker.expire_waiting(now_ns, timeout_ns, out);
    }

    /// The connection closed or the trace ended: every waiting request comes out unanswered
    /// (timed_out false, status None). A response in progress (e.g. one running to close) ends here.
    pub fn close(&mut self, out: &mut Vec<Exchange>) {
        self.tracker.finish_answer(out);
        self.tracker.drain_unanswered(out);
        self.streams = Default::default();
    }

    /// False once the connection's first bytes showed it does not speak HTTP/1.x; such a
    /// connection ignores all further input cheaply.
    pub fn is_http(&self) -> bool {
        self.protocol != Protocol::NotHttp
    }

    fn reads_input(&self) -> bool {
        matches!(self.protocol, Protocol::Unknown | Protocol::Http)
    }

    fn kind(&self, dir: Direction) -> Kind {
        match self.side {
            None => Kind::Any,
            Some(side) if side.request_direction() == dir => Kind::Request,
            Some(_) => Kind::Response,
        }
    }

    /// A lost stream picks up again at a syscall that begins with a start line.
    fn resync_if_lost(&mut self, dir: Direction, captured: &[u8], out: &mut Vec<Exchange>) {
        let i = dir.index();
        if self.streams[i].state != State::Lost {
            return;
        }
        // Before the first message nothing is owed to anything: look at every syscall afresh.
        if self.protocol == Protocol::Unknown || looks_like_start(captured, self.kind(dir)) {
            self.end_message(i, out);
        }
    }

    /// Consumes part of `input` according to the stream's state.
    fn step(
        &mut self,
        opts: &Options,
        dir: Direction,
        input: &mut Input,
        time_ns: u64,
        out: &mut Vec<Exchange>,
    ) {
        let i = dir.index();
        match self.streams[i].state {
            State::Idle => self.start_message(dir, input, time_ns, out),
            State::Head => self.continue_head(opts, dir, input, time_ns, out),
            State::Body(remaining) => self.consume_body(i, remaining, input, time_ns, out),
            State::Chunked(chunk) => self.consume_chunked(i, chunk, input, time_ns, out),
            State::UntilClose | State::Lost => {
                let n = input.consume_all();
                self.count(i, n, time_ns);
            }
        }
    }

    fn start_message(
        &mut self,
        dir: Direction,
        input: &mut Input,
        time_ns: u64,
        out: &mut Vec<Exchange>,
    ) {
        let i = dir.index();
        let kind = self.kind(dir);
        // Stray line breaks between messages (some clients send one after a body) are skipped.
        let stray = input
            .visible
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        input.consume(stray as u64);
        let stream = &mut self.streams[i];
        if !input.visible.is_empty() {
            stream.state = State::Head;
            stream.head.clear();
            stream.head_time_ns = time_ns;
        } else if input.hidden > 0 {
            // The next message begins in bytes we cannot see (several messages in one
            // read, beyond the capture). It still takes its place in the order, so that
            // later responses pair with the right requests; what it is stays unknown.
            stream.state = State::Lost;
            stream.current = Current::None;
            self.begin_unseen(i, kind, time_ns, out);
        }
    }

    /// A message whose head the capture did not copy: a request of unknown method and
    /// path (empty), or a response of unknown status to the oldest waiting request.
    fn begin_unseen(&mut self, i: usize, kind: Kind, time_ns: u64, out: &mut Vec<Exchange>) {
        match kind {
            Kind::Request => {
                let request = Pending {
                    id: 0,
                    side: self.side.unwrap_or(Side::Client),
                    method: String::new(),
                    path: String::new(),
                    time_ns,
                    bytes: 0,
                    headers: Vec::new(),
                };
                let id = self.tracker.push_request(request, out);
                self.streams[i].current = Current::Request(id);
            }
            Kind::Response => {
                if self.tracker.start_answer(None, time_ns, Vec::new(), out) {
                    self.streams[i].current = Current::Response;
                }
            }
            // Before the first message, nothing is known to be owed.
            Kind::Any => {}
        }
    }

    fn continue_head(
        &mut self,
        opts: &Options,
        dir: Direction,
        input: &mut Input,
        time_ns: u64,
        out: &mut Vec<Exchange>,
    ) {
        let kind = self.kind(dir);
        let stream = &mut self.streams[dir.index()];
        let before = stream.head.len();
        let take = input
            .visible
            .len()
            .min((MAX_HEAD_BYTES + 1).saturating_sub(before));
        stream.head.extend_from_slice(&input.visible[..take]);
        if check_start_line(&stream.head, kind) == LineCheck::Invalid {
            self.reject_head(dir.index());
            return;
        }
        if let Some(end) = find_head_end(&stream.head, before) {
            stream.head.truncate(end);
            input.consume(end.saturating_sub(before) as u64);
            self.begin_message(opts, dir, true, time_ns, out);
            return;
        }
        input.consume(take as u64);
        let all_seen = input.is_empty();
        if all_seen && stream.head.len() <= MAX_HEAD_BYTES {
            return; // wait for the rest of the head
        }
        // The head ends beyond what we can see: use what its prefix tells, then follow blindly.
        self.begin_message(opts, dir, false, time_ns, out);
    }

    /// The buffered bytes cannot start an HTTP message.
    fn reject_head(&mut self, i: usize) {
        if self.protocol == Protocol::Unknown {
            self.protocol = Protocol::NotHttp;
            self.streams = Default::default(); // frees the buffers
            return;
        }
        let stream = &mut self.streams[i];
        stream.head.clear();
        stream.state = State::Lost;
        stream.current = Current::None;
    }

    /// Starts the message whose head is buffered; `complete` says the whole head is there.
    fn begin_message(
        &mut self,
        opts: &Options,
        dir: Direction,
        complete: bool,
        time_ns: u64,
        out: &mut Vec<Exchange>,
    ) {
        let i = dir.index();
        let stream = &mut self.streams[i];
        let head = parse_head(&stream.head, opts);
        let head_bytes = stream.head.len() as u64;
        let head_time_ns = stream.head_time_ns;
        stream.head.clear();
        stream.head.shrink_to(512);
        let Some(head) = head else {
            // Too little of the start line was visible to tell what the message is.
            stream.state = State::Lost;
            stream.current = Current::None;
            return;
        };
        if self.protocol == Protocol::Unknown {
            let is_request = matches!(head.start, Start::Request { .. });
            self.side = Some(Side::from_first_message(is_request, dir));
            self.protocol = Protocol::Http;
        }
        let request_framing = head.request_framing();
        let (framing, switches) = match head.start {
            Start::Request { method, path } => {
                let request = Pending {
                    id: 0,
                    side: self.side.unwrap_or(Side::Client),
                    method,
                    path,
                    time_ns: head_time_ns,
                    bytes: 0,
                    headers: head.headers,
                };
                let id = self.tracker.push_request(request, out);
                self.streams[i].current = Current::Request(id);
                (request_framing, false)
            }
            Start::Response { status } => self.begin_response(i, status, head, head_time_ns, out),
        };
        self.count(i, head_bytes, time_ns);
        self.apply_framing(i, if complete { framing } else { Framing::Unknown }, out);
        if switches {
            self.protocol = Protocol::Tunnel;
        }
    }

    /// Links a response to the request it answers; returns its framing and whether the
    /// connection stops speaking HTTP after it.
    fn begin_response(
        &mut self,
        i: usize,
        status: u16,
        head: Head,
        time_ns: u64,
        out: &mut Vec<Exchange>,
    ) -> (Framing, bool) {
        let method = self.tracker.next_method();
        let to_head = method == Some("HEAD");
        let tunnel = status == 101 || (method == Some("CONNECT") && (200..300).contains(&status));
        let framing = head.response_framing(status, to_head || tunnel);
        // 1xx other than 101 are interim: the final response is still to come.
        if (100..200).contains(&status) && status != 101 {
            self.streams[i].current = Current::None;
            return (framing, false);
        }
        let answered = self
            .tracker
            .start_answer(Some(status), time_ns, head.headers, out);
        self.streams[i].current = if answered {
            Current::Response
        } else {
            Current::None
        };
        (framing, tunnel)
    }

    fn apply_framing(&mut self, i: usize, framing: Framing, out: &mut Vec<Exchange>) {
        let state = match framing {
            Framing::NoBody | Framing::Length(0) => return self.end_message(i, out),
            Framing::Length(n) => State::Body(n),
            Framing::Chunked => State::Chunked(Chunk::START),
            Framing::UntilClose => State::UntilClose,
            Framing::Unknown => State::Lost,
        };
        self.streams[i].state = state;
    }

    fn consume_body(
        &mut self,
        i: usize,
        remaining: u64,
        input: &mut Input,
        time_ns: u64,
        out: &mut Vec<Exchange>,
    ) {
        let used = input.consume(remaining);
        self.count(i, used, time_ns);
        if used == remaining {
            self.end_message(i, out);
        } else {
            self.streams[i].state = State::Body(remaining - used);
        }
    }

    fn consume_chunked(
        &mut self,
        i: usize,
        mut chunk: Chunk,
        input: &mut Input,
        time_ns: u64,
        out: &mut Vec<Exchange>,
    ) {
        let mut used = 0u64;
        let outcome = loop {
            if input.is_empty() {
                break ChunkStep::Next(chunk);
            }
            if let Chunk::Data(left) = chunk {
                let n = input.consume(left);
                used += n;
                chunk = if n == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - n)
                };
                continue;
            }
            // Framing bytes must be read, so unseen bytes here mean we lose track.
            let Some(&byte) = input.visible.first() else {
                break ChunkStep::Lost;
            };
            used += input.consume(1);
            match chunk.step(byte) {
                ChunkStep::Next(next) => chunk = next,
                other => break other,
            }
        };
        self.count(i, used, time_ns);
        match outcome {
            ChunkStep::Next(next) => self.streams[i].state = State::Chunked(next),
            ChunkStep::Done => self.end_message(i, out),
            ChunkStep::Lost => self.streams[i].state = State::Lost,
        }
    }

    /// Adds `n` bytes to the message the stream is counting towards.
    fn count(&mut self, i: usize, n: u64, time_ns: u64) {
        match self.streams[i].current {
            Current::None => {}
            Current::Request(id) => self.tracker.add_request_bytes(id, n),
            Current::Response => self.tracker.add_response_bytes(n, time_ns),
        }
    }

    /// The stream's current message is over; a final response completes its exchange.
    fn end_message(&mut self, i: usize, out: &mut Vec<Exchange>) {
        let stream = &mut self.streams[i];
        stream.state = State::Idle;
        if std::mem::take(&mut stream.current) == Current::Response {
            self.tracker.finish_answer(out);
        }
    }
}

/// How far a buffer can be the start of an HTTP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineCheck {
    Invalid,
    /// A valid prefix of a start line; its end is not there yet.
    Partial,
    Complete,
}

/// Checks the buffer's first line against the start line `kind` allows.
fn check_start_line(buf: &[u8], kind: Kind) -> LineCheck {
    let (line, complete) = match buf.iter().position(|&b| b == b'\n') {
        Some(end) => (trim_cr(&buf[..end]), true),
        None => (buf, false),
    };
    let fits = (kind != Kind::Response && request_line_fits(line, complete))
        || (kind != Kind::Request && status_line_fits(line, complete));
    match (fits, complete) {
        (false, _) => LineCheck::Invalid,
        (true, true) => LineCheck::Complete,
        (true, false) => LineCheck::Partial,
    }
}

/// METHOD SP target SP HTTP/1.x, or (when not `complete`) a prefix of one.
fn request_line_fits(line: &[u8], complete: bool) -> bool {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let Some(target) = parts.next() else {
        return !complete && METHODS.iter().any(|m| m.starts_with(method));
    };
    if !METHODS.contains(&method) || !target.iter().all(|&b| is_target_byte(b)) {
        return false;
    }
    match parts.next() {
        None => !complete,
        Some(version) => !target.is_empty() && version_fits(version, complete),
    }
}

/// HTTP/1.x SP 3DIGIT [SP reason], or (when not `complete`) a prefix of one.
fn status_line_fits(line: &[u8], complete: bool) -> bool {
    let Some(space) = line.iter().position(|&b| b == b' ') else {
        return !complete && version_fits(line, false);
    };
    if !version_fits(&line[..space], true) {
        return false;
    }
    let rest = &line[space + 1..];
    let code = &rest[..rest.len().min(3)];
    if !code.iter().all(u8::is_ascii_digit) {
        return false;
    }
    match rest.get(3) {
        _ if rest.len() < 3 => !complete,
        None | Some(b' ') => true,
        // A CR not yet followed by its LF.
        Some(b'\r') => !complete && rest.len() == 4,
        Some(_) => false,
    }
}

/// HTTP/1.0 or HTTP/1.1, or (when not `complete`) a prefix of one, possibly with its CR.
fn version_fits(version: &[u8], complete: bool) -> bool {
    if complete {
        return version == b"HTTP/1.1" || version == b"HTTP/1.0";
    }
    let version = match version.strip_suffix(b"\r") {
        Some(bare) if bare.len() == 8 => bare,
        _ => version,
    };
    b"HTTP/1.1".starts_with(version) || b"HTTP/1.0".starts_with(version)
}

fn is_target_byte(byte: u8) -> bool {
    byte > b' ' && byte != 0x7f
}

/// Whether a syscall's captured bytes begin like a new message (used to resync).
fn looks_like_start(captured: &[u8], kind: Kind) -> bool {
    match check_start_line(captured, kind) {
        LineCheck::Complete => true,
        LineCheck::Invalid => false,
        // Without the line's end, ask for enough of it to be distinctive.
        LineCheck::Partial if captured.starts_with(b"HTTP/") => captured.len() >= 12,
        LineCheck::Partial => captured
            .iter()
            .position(|&b| b == b' ')
            .is_some_and(|space| captured.len() > space + 1),
    }
}

/// The end (exclusive) of the blank line closing a head, searching from where `from` bytes
/// were already searched.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    (from.saturating_sub(2)..buf.len()).find_map(|i| match &buf[i..] {
        [b'\n', b'\n', ..] => Some(i + 2),
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

/// Parses a head, or the visible prefix of one (a cut-off last line is ignored).
fn parse_head(buf: &[u8], opts: &Options) -> Option<Head> {
    let (start_line, rest) = match buf.iter().position(|&b| b == b'\n') {
        Some(end) => (&buf[..end], &buf[end + 1..]),
        None => (buf, &buf[buf.len()..]),
    };
    let mut head = Head {
        start: parse_start_line(start_line, opts)?,
        content_length: ContentLength::Absent,
        coding: Coding::Identity,
        headers: Vec::new(),
    };
    let whole_lines = match rest.iter().rposition(|&b| b == b'\n') {
        Some(end) => &rest[..end],
        None => &rest[..0],
    };
    for line in whole_lines.split(|&b| b == b'\n').map(trim_cr) {
        if line.is_empty() {
            break;
        }
        head.add_header_line(line, opts);
    }
    Some(head)
}

/// Parses a start line, possibly cut short after the target or the status code.
fn parse_start_line(line: &[u8], opts: &Options) -> Option<Start> {
    let mut parts = trim_cr(line).splitn(3, |&b| b == b' ');
    let first = parts.next()?;
    let second = parts.next()?;
    if first.starts_with(b"HTTP/") {
        return parse_status(second).map(|status| Start::Response { status });
    }
    if !METHODS.contains(&first) || second.is_empty() {
        return None;
    }
    Some(Start::Request {
        method: String::from_utf8_lossy(first).into_owned(),
        path: request_path(second, opts.keep_query),
    })
}

fn parse_status(code: &[u8]) -> Option<u16> {
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        code.iter()
            .fold(0, |acc, &digit| acc * 10 + u16::from(digit - b'0')),
    )
}

/// The path of a request target (origin or absolute form), capped at [`MAX_TEXT_BYTES`].
fn request_path(target: &[u8], keep_query: bool) -> String {
    let target = strip_scheme_and_authority(target);
    let end = if keep_query {
        target.len()
    } else {
        target
            .iter()
            .position(|&b| b == b'?')
            .unwrap_or(target.len())
    };
    lossy_capped(&target[..end])
}

/// A proxy request's absolute-form target ("http://host/p") reduced to its path.
fn strip_scheme_and_authority(target: &[u8]) -> &[u8] {
    let after_scheme = [&b"http://"[..], b"https://"].iter().find_map(|scheme| {
        let prefix = target.get(..scheme.len())?;
        prefix
            .eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
    });
    let Some(rest) = after_scheme else {
        return target;
    };
    match rest.iter().position(|&b| b == b'/') {
        Some(slash) => &rest[slash..],
        None => b"/",
    }
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = char::from(b).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Lossy UTF-8 text of at most [`MAX_TEXT_BYTES`] bytes.
fn lossy_capped(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_TEXT_BYTES)];
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    // Replacement characters can make the text longer than the bytes it came from.
    let mut end = text.len().min(MAX_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Trims optional whitespace (SP and HTAB) from both ends.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// A path with its variable segments collapsed, for per-route aggregation: segments that are all
/// digits -> "{id}", UUIDs -> "{uuid}", long hex strings (>= 16 hex chars) -> "{hash}", and other
/// segments with digits mixed in that look like generated ids (base64-ish, >= 20 chars, letters
/// and digits interleaved) -> "{id}". Query string dropped.
///
/// E.g. "/users/1234/orders/5f3a9c0d1e2b4a6f7788?x=1" -> "/users/{id}/orders/{hash}".
pub fn route_template(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut route = String::with_capacity(path.len());
    for (n, segment) in path.split('/').enumerate() {
        if n > 0 {
            route.push('/');
        }
        route.push_str(template_segment(segment));
    }
    route
}

fn template_segment(segment: &str) -> &str {
    let bytes = segment.as_bytes();
    if bytes.is_empty() {
        segment
    } else if bytes.iter().all(u8::is_ascii_digit) {
        "{id}"
    } else if is_uuid(bytes) {
        "{uuid}"
    } else if bytes.len() >= 16 && bytes.iter().all(u8::is_ascii_hexdigit) {
        "{hash}"
    } else if looks_generated(bytes) {
        "{id}"
    } else {
        segment
    }
}

fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Base64-ish and long, with letters and digits interleaved (unlike a slug such as "post-2024").
fn looks_generated(bytes: &[u8]) -> bool {
    let base64ish = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'=');
    let switches = bytes
        .windows(2)
        .filter(|pair| {
            (pair[0].is_ascii_digit() && pair[1].is_ascii_alphabetic())
                || (pair[0].is_ascii_alphabetic() && pair[1].is_ascii_digit())
        })
        .count();
    bytes.len() >= 20 && bytes.iter().all(base64ish) && switches >= 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Received, Sent};

    const GET_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    /// Feeds one fully captured syscall.
    fn feed(conn: &mut Connection, dir: Direction, bytes: &[u8], time_ns: u64) -> Vec<Exchange> {
        feed_with(conn, &Options::default(), dir, bytes, time_ns)
    }

    fn feed_with(
        conn: &mut Connection,
        opts: &Options,
        dir: Direction,
        bytes: &[u8],
        time_ns: u64,
    ) -> Vec<Exchange> {
        let mut out = Vec::new();
        conn.feed(opts, dir, bytes, bytes.len() as u64, time_ns, &mut out);
        out
    }

    /// Feeds one syscall of which only the first `capture` bytes were copied.
    fn feed_truncated(
        conn: &mut Connection,
        dir: Direction,
        payload: &[u8],
        capture: usize,
        time_ns: u64,
    ) -> Vec<Exchange> {
        let mut out = Vec::new();
        let captured = &payload[..capture.min(payload.len())];
        let len = payload.len() as u64;
        conn.feed(&Options::default(), dir, captured, len, time_ns, &mut out);
        out
    }

    fn close(conn: &mut Connection) -> Vec<Exchange> {
        let mut out = Vec::new();
        conn.close(&mut out);
        out
    }

    fn expire(conn: &mut Connection, now_ns: u64, timeout_ns: u64) -> Vec<Exchange> {
        let mut out = Vec::new();
        conn.expire(now_ns, timeout_ns, &mut out);
        out
    }

    fn get(path: &str) -> Vec<u8> {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
    }

    fn response(status: u16, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn summary(exchanges: &[Exchange]) -> Vec<(String, Option<u16>)> {
        exchanges
            .iter()
            .map(|e| (e.path.clone(), e.status))
            .collect()
    }

    fn pairs(items: &[(&str, u16)]) -> Vec<(String, Option<u16>)> {
        items
            .iter()
            .map(|(path, status)| (path.to_string(), Some(*status)))
            .collect()
    }

    fn len(bytes: &[u8]) -> u64 {
        bytes.len() as u64
    }

    #[test]
    fn get_200_as_client() {
        let mut conn = Connection::new();
        assert!(feed(&mut conn, Sent, GET_A, 1_000).is_empty());
        let out = feed(&mut conn, Received, OK_HELLO, 3_500);
        let expected = Exchange {
            side: Side::Client,
            method: "GET".into(),
            path: "/a".into(),
            status: Some(200),
            latency_ns: Some(2_500),
            request_bytes: len(GET_A),
            response_bytes: len(OK_HELLO),
            request_time_ns: 1_000,
            headers: vec![],
            timed_out: false,
        };
        assert_eq!(out, vec![expected]);
        assert!(conn.is_http());
        assert!(close(&mut conn).is_empty());
    }

    #[test]
    fn get_200_as_server() {
        let mut conn = Connection::new();
        assert!(feed(&mut conn, Received, GET_A, 10).is_empty());
        let out = feed(&mut conn, Sent, OK_HELLO, 70);
        assert_eq!(out.len(), 1);
        let e = &out[0];
        assert_eq!(e.side, Side::Server);
        assert_eq!((e.method.as_str(), e.path.as_str()), ("GET", "/a"));
        assert_eq!(e.status, Some(200));
        assert_eq!(e.latency_ns, Some(60));
        assert_eq!(
            (e.request_bytes, e.response_bytes),
            (len(GET_A), len(OK_HELLO))
        );
        assert_eq!(e.request_time_ns, 10);
    }

    #[test]
    fn keep_alive_three_exchanges() {
        let mut conn = Connection::new();
        let mut all = Vec::new();
        for (n, status) in [(1, 200), (2, 404), (3, 500)] {
            let t = n * 1_000;
            assert!(feed(&mut conn, Sent, &get(&format!("/{n}")), t).is_empty());
            let out = feed(&mut conn, Received, &response(status, "body"), t + 100);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].latency_ns, Some(100));
            assert_eq!(out[0].request_time_ns, t);
            assert_eq!(out[0].response_bytes, len(&response(status, "body")));
            all.extend(out);
        }
        assert_eq!(
            summary(&all),
            pairs(&[("/1", 200), ("/2", 404), ("/3", 500)])
        );
    }

    #[test]
    fn pipelined_requests_pair_in_order() {
        let mut conn = Connection::new();
        let requests = [get("/1"), get("/2"), get("/3")].concat();
        assert!(feed(&mut conn, Sent, &requests, 100).is_empty());
        assert_eq!(conn.tracker.waiting.len(), 3);
        let responses = [response(200, "a"), response(404, ""), response(201, "bc")].concat();
        // Split the responses at an awkward place: inside the second status line.
        let cut = response(200, "a").len() + 5;
        let mut out = feed(&mut conn, Received, &responses[..cut], 200);
        out.extend(feed(&mut conn, Received, &responses[cut..], 300));
        assert_eq!(
            summary(&out),
            pairs(&[("/1", 200), ("/2", 404), ("/3", 201)])
        );
        assert_eq!(out[0].latency_ns, Some(100));
        assert_eq!(out[1].latency_ns, Some(100)); // its first byte came at 200
        assert_eq!(out[2].latency_ns, Some(200));
        assert!(out.iter().all(|e| e.request_bytes == len(&get("/1"))));
    }

    #[test]
    fn request_and_response_split_byte_by_byte() {
        let mut conn = Connection::new();
        let request = b"POST /p?x=1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        for (k, byte) in request.iter().enumerate() {
            assert!(feed(&mut conn, Sent, &[*byte], 100 + k as u64).is_empty());
        }
        let mut out = Vec::new();
        for (k, byte) in OK_HELLO.iter().enumerate() {
            out.extend(feed(&mut conn, Received, &[*byte], 1_000 + k as u64));
        }
        assert_eq!(out.len(), 1);
        let e = &out[0];
        assert_eq!((e.method.as_str(), e.path.as_str()), ("POST", "/p"));
        assert_eq!(e.request_time_ns, 100);
        assert_eq!(e.latency_ns, Some(900));
        assert_eq!(
            (e.request_bytes, e.response_bytes),
            (len(request), len(OK_HELLO))
        );
    }

    #[test]
    fn headers_split_at_every_position() {
        for cut in 1..GET_A.len() {
            let mut conn = Connection::new();
            assert!(feed(&mut conn, Sent, &GET_A[..cut], 1).is_empty());
            assert!(feed(&mut conn, Sent, &GET_A[cut..], 2).is_empty());
            assert_eq!(conn.tracker.waiting.len(), 1, "cut {cut}");
            for response_cut in [1, 10, 17, 35, 36, 37, 38, 39] {
                let mut conn = Connection::new();
                feed(&mut conn, Sent, GET_A, 1);
                assert!(feed(&mut conn, Received, &OK_HELLO[..response_cut], 5).is_empty());
                let out = feed(&mut conn, Received, &OK_HELLO[response_cut..], 6);
                assert_eq!(out.len(), 1, "response cut {response_cut}");
                assert_eq!(out[0].response_bytes, len(OK_HELLO));
                assert_eq!(out[0].latency_ns, Some(4));
            }
        }
    }

    #[test]
    fn post_body_in_later_syscall() {
        let mut conn = Connection::new();
        let head = b"POST /upload HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
        feed(&mut conn, Sent, head, 10);
        feed(&mut conn, Sent, b"hello", 20);
        feed(&mut conn, Sent, b" world", 30);
        let out = feed(&mut conn, Received, &response(201, ""), 50);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request_bytes, len(head) + 11);
        assert_eq!(out[0].status, Some(201));
        assert_eq!(out[0].latency_ns, Some(40));
        // The body did not start a message of its own.
        assert!(conn.tracker.waiting.is_empty());
    }

    #[test]
    fn chunked_response_over_several_syscalls() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, GET_A, 0);
        let parts: [&[u8]; 5] = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe",
            b"llo\r\n6;name=v\r\n world\r",
            b"\n0\r\n",
            b"Trailer: x\r\n",
            b"\r\n",
        ];
        let mut out = Vec::new();
        for (k, part) in parts.iter().enumerate() {
            out.extend(feed(&mut conn, Received, part, 10 + k as u64));
            assert_eq!(out.len(), usize::from(k == parts.len() - 1), "part {k}");
        }
        assert_eq!(
            out[0].response_bytes,
            parts.iter().map(|p| len(p)).sum::<u64>()
        );
        // The connection is still in step.
        feed(&mut conn, Sent, &get("/2"), 100);
        let out = feed(&mut conn, Received, &response(200, "ok"), 110);
        assert_eq!(summary(&out), pairs(&[("/2", 200)]));
    }

    #[test]
    fn chunked_request_body_with_truncated_chunk_data() {
        let mut conn = Connection::new();
        let head = b"POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        feed(&mut conn, Sent, head, 0);
        // A chunk of 0x1000 bytes of which only 16 were captured.
        let mut chunk = b"1000\r\n".to_vec();
        chunk.extend(std::iter::repeat_n(b'z', 0x1000));
        chunk.extend(b"\r\n0\r\n\r\n");
        feed_truncated(&mut conn, Sent, &chunk[..6 + 0x1000], 16, 1);
        feed(&mut conn, Sent, &chunk[6 + 0x1000..], 2);
        let out = feed(&mut conn, Received, &response(200, ""), 3);
        assert_eq!(out[0].request_bytes, len(head) + len(&chunk));
    }

    #[test]
    fn truncated_response_body_larger_than_capture() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, GET_A, 0);
        let big = response(200, &"x".repeat(10_000));
        let out = feed_truncated(&mut conn, Received, &big, 64, 5);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].response_bytes, len(&big));
        // The next exchange on the connection still parses.
        feed(&mut conn, Sent, &get("/2"), 10);
        let out = feed_truncated(&mut conn, Received, &response(200, "ok"), 64, 20);
        assert_eq!(summary(&out), pairs(&[("/2", 200)]));
    }

    #[test]
    fn messages_beginning_beyond_the_capture_keep_their_place() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, &get("/1"), 0);
        feed(&mut conn, Sent, &get("/2"), 1);
        feed(&mut conn, Sent, &get("/3"), 2);
        // One read holds all three responses; only the first one's head was copied.
        let mut read = response(200, &"x".repeat(500));
        read.extend(response(404, "no"));
        read.extend(response(500, "bad"));
        let out = feed_truncated(&mut conn, Received, &read, 64, 10);
        // The first ends where its length says; the second began unseen and runs on
        // until something shows where it ends.
        assert_eq!(summary(&out), pairs(&[("/1", 200)]));
        let out = close(&mut conn);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!((out[0].path.as_str(), out[0].status), ("/2", None));
        assert_eq!(out[0].latency_ns, Some(9));
        assert_eq!((out[1].path.as_str(), out[1].status), ("/3", None));
        // A request that began unseen, after a body of known length, is still owed a
        // response: the responses after it pair with the right requests.
        let mut conn = Connection::new();
        feed(&mut conn, Sent, &get("/a"), 0);
        let mut sent = b"POST /p HTTP/1.1\r\nContent-Length: 100\r\n\r\n".to_vec();
        sent.extend([b'y'; 100]);
        sent.extend(get("/c"));
        feed_truncated(&mut conn, Sent, &sent, 64, 1);
        let out = feed(&mut conn, Received, &response(200, "a"), 2);
        assert_eq!(summary(&out), pairs(&[("/a", 200)]));
        let out = feed(&mut conn, Received, &response(201, "p"), 3);
        assert_eq!(summary(&out), pairs(&[("/p", 201)]));
        let out = feed(&mut conn, Received, &response(202, "c"), 4);
        assert_eq!((out[0].method.as_str(), out[0].status), ("", Some(202)));
    }

    #[test]
    fn truncated_request_head_resyncs_on_next_request() {
        let mut conn = Connection::new();
        let mut post = b"POST /big?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test-agent/1.0\r\nContent-Length: 10000\r\n\r\n".to_vec();
        post.extend(std::iter::repeat_n(b'y', 10_000 - post.len()));
        assert_eq!(post.len(), 10_000);
        // Only 64 bytes captured: the head's end is not visible, so the length is unknown.
        feed_truncated(&mut conn, Sent, &post, 64, 100);
        let out = feed(&mut conn, Received, &response(201, ""), 200);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].method.as_str(), out[0].path.as_str()),
            ("POST", "/big")
        );
        assert_eq!(out[0].request_bytes, 10_000);
        // Body bytes that do not look like a request line still count for the same message.
        feed_truncated(&mut conn, Sent, &[b'y'; 500], 64, 250);
        // The next request line starts a new message.
        feed_truncated(&mut conn, Sent, &get("/next"), 64, 300);
        let out = feed(&mut conn, Received, &response(200, "ok"), 400);
        assert_eq!(summary(&out), pairs(&[("/next", 200)]));
        assert_eq!(out[0].request_bytes, len(&get("/next")));
    }

    #[test]
    fn truncated_response_head_ends_at_next_response() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, &get("/1"), 0);
        let long_head = format!(
            "HTTP/1.1 200 OK\r\nServer: {}\r\nContent-Length: 3000\r\n\r\n{}",
            "s".repeat(100),
            "b".repeat(3000)
        );
        assert!(feed_truncated(&mut conn, Received, long_head.as_bytes(), 64, 10).is_empty());
        feed(&mut conn, Sent, &get("/2"), 20);
        let out = feed(&mut conn, Received, &response(404, ""), 30);
        assert_eq!(summary(&out), pairs(&[("/1", 200), ("/2", 404)]));
        assert_eq!(out[0].response_bytes, len(long_head.as_bytes()));
    }

    #[test]
    fn head_204_304_have_no_body() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, b"HEAD /h HTTP/1.1\r\n\r\n", 0);
        let head_response = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        let out = feed(&mut conn, Received, head_response, 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].response_bytes, len(head_response));

        feed(
            &mut conn,
            Sent,
            &[get("/204"), get("/304"), get("/after")].concat(),
            2,
        );
        let responses = [
            b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\n".to_vec(),
            response(200, "ok"),
        ]
        .concat();
        let out = feed(&mut conn, Received, &responses, 3);
        assert_eq!(
            summary(&out),
            pairs(&[("/204", 204), ("/304", 304), ("/after", 200)])
        );
    }

    #[test]
    fn continue_100_is_not_final() {
        let mut conn = Connection::new();
        let head = b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
        feed(&mut conn, Sent, head, 100);
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        assert!(feed(&mut conn, Received, interim, 150).is_empty());
        feed(&mut conn, Sent, b"data", 160);
        let out = feed(&mut conn, Received, &response(200, "done"), 400);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, Some(200));
        assert_eq!(out[0].latency_ns, Some(300));
        assert_eq!(out[0].request_bytes, len(head) + 4);
        assert_eq!(out[0].response_bytes, len(&response(200, "done")));
    }

    #[test]
    fn response_without_length_runs_to_close() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, b"GET /old HTTP/1.0\r\n\r\n", 0);
        let head = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
        assert!(feed(&mut conn, Received, head, 10).is_empty());
        // Even a status line inside the body does not end it.
        assert!(feed(&mut conn, Received, b"HTTP/1.1 200 OK\r\n\r\n", 20).is_empty());
        assert!(feed_truncated(&mut conn, Received, &[b'x'; 5_000], 64, 30).is_empty());
        let out = close(&mut conn);
        assert_eq!(summary(&out), pairs(&[("/old", 200)]));
        assert_eq!(out[0].response_bytes, len(head) + 19 + 5_000);
        assert_eq!(out[0].latency_ns, Some(10));
    }

    #[test]
    fn expire_times_out_old_requests() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, &get("/old"), 0);
        feed(&mut conn, Sent, &get("/new"), 5_000);
        assert!(expire(&mut conn, 2_000, 2_000).is_empty());
        let out = expire(&mut conn, 6_000, 2_000);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "/old");
        assert!(out[0].timed_out);
        assert_eq!((out[0].status, out[0].latency_ns), (None, None));
        assert_eq!(out[0].request_bytes, len(&get("/old")));
        // The surviving request still gets its response.
        let out = feed(&mut conn, Received, &response(200, ""), 6_500);
        assert_eq!(summary(&out), pairs(&[("/new", 200)]));
    }

    #[test]
    fn expire_flushes_a_stalled_response() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, GET_A, 0);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        feed(&mut conn, Received, head, 10);
        assert!(expire(&mut conn, 50, 100).is_empty());
        let out = expire(&mut conn, 500, 100);
        assert_eq!(summary(&out), pairs(&[("/a", 200)]));
        assert!(!out[0].timed_out);
        assert_eq!(out[0].response_bytes, len(head));
        // The rest of the body is skipped and the next exchange still parses.
        feed(&mut conn, Received, &[b'b'; 100], 600);
        feed(&mut conn, Sent, &get("/b"), 700);
        let out = feed(&mut conn, Received, &response(200, ""), 800);
        assert_eq!(summary(&out), pairs(&[("/b", 200)]));
    }

    #[test]
    fn close_emits_waiting_requests_unanswered() {
        let mut conn = Connection::new();
        feed(&mut conn, Sent, &[get("/1"), get("/2")].concat(), 7);
        let out = close(&mut conn);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|e| e.status.is_none() && !e.timed_out));
        assert_eq!(out[0].path, "/1");
        assert_eq!(out[1].request_time_ns, 7);
        assert!(close(&mut conn).is_empty());
    }

    #[test]
    fn non_http_traffic_is_ignored() {
        let tls_hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
        let mut conn = Connection::new();
        feed(&mut conn, Sent, &tls_hello, 0);
        assert!(!conn.is_http());
        feed(&mut conn, Sent, GET_A, 1);
        feed(&mut conn, Received, OK_HELLO, 2);
        assert!(close(&mut conn).is_empty());

        let mut ssh = Connection::new();
        feed(&mut ssh, Received, b"SSH-2.0-OpenSSH_9.6\r\n", 0);
        assert!(!ssh.is_http());

        // Lower-case methods are not HTTP methods.
        let mut lower = Connection::new();
        feed(&mut lower, Sent, b"get / HTTP/1.1\r\n\r\n", 0);
        assert!(!lower.is_http());

        // A partial start line is not judged until it can be.
        let mut partial = Connection::new();
        feed(&mut partial, Sent, b"GE", 0);
        assert!(partial.is_http());
        feed(&mut partial, Sent, b"X / HTTP/1.1\r\n", 1);
        assert!(!partial.is_http());

        let mut split = Connection::new();
        feed(&mut split, Sent, b"GE", 0);
        feed(&mut split, Sent, b"T /s HTTP/1.1\r\n\r\n", 1);
        let out = feed(&mut split, Received, &response(200, ""), 2);
        assert_eq!(summary(&out), pairs(&[("/s", 200)]));
        assert_eq!(out[0].request_time_ns, 0);
    }

    #[test]
    fn query_is_stripped_unless_kept() {
        let request = b"GET /search?q=rust&page=2 HTTP/1.1\r\n\r\n";
        let mut conn = Connection::new();
        feed(&mut conn, Sent, request, 0);
        assert_eq!(close(&mut conn)[0].path, "/search");

        let keep = Options {
            keep_query: true,
            ..Options::default()
        };
        let mut conn = Connection::new();
        feed_with(&mut conn, &keep, Sent, request, 0);
        assert_eq!(close(&mut conn)[0].path, "/search?q=rust&page=2");

        let mut proxy = Connection::new();
        feed(
            &mut proxy,
            Sent,
            b"GET http://host:8080/p/q?x=1 HTTP/1.1\r\n\r\n",
            0,
        );
        assert_eq!(close(&mut proxy)[0].path, "/p/q");
    }

    #[test]
    fn capture_headers_in_request_then_response_order() {
        let opts = Options {
            keep_query: false,
            capture_headers: vec!["X-Request-Id".into(), "content-type".into()],
        };
        let mut conn = Connection::new();
        let request = b"GET / HTTP/1.1\r\nX-Request-ID:   abc-1 \t\r\nAccept: */*\r\n\r\n";
        feed_with(&mut conn, &opts, Sent, request, 0);
        let reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n";
        let out = feed_with(&mut conn, &opts, Received, reply, 1);
        assert_eq!(
            out[0].headers,
            vec![
                ("x-request-id".to_string(), "abc-1".to_string()),
                ("content-type".to_string(), "text/plain".to_string()),
            ]
        );
    }

    #[test]
    fn waiting_requests_are_bounded() {
        let mut conn = Connection::new();
        let mut evicted = Vec::new();
        for n in 0..70 {
            evicted.extend(feed(&mut conn, Sent, &get(&format!("/{n}")), n));
        }
        assert_eq!(conn.tracker.waiting.len(), MAX_WAITING);
        let paths: Vec<&str> = evicted.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/0", "/1", "/2", "/3", "/4", "/5"]);
        assert!(evicted.iter().all(|e| e.status.is_none() && !e.timed_out));
        let out = feed(&mut conn, Received, &response(200, ""), 100);
        assert_eq!(summary(&out), pairs(&[("/6", 200)]));
    }

    #[test]
    fn first_message_seen_may_be_a_response() {
        // Attached mid-connection on the server: our response comes first.
        let mut conn = Connection::new();
        assert!(feed(&mut conn, Sent, &response(200, "hi"), 0).is_empty());
        feed(&mut conn, Received, GET_A, 10);
        let out = feed(&mut conn, Sent, &response(200, "yo"), 20);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].side, Side::Server);
    }

    #[test]
    fn switching_protocols_stops_parsing() {
        let mut conn = Connection::new();
        feed(
            &mut conn,
            Sent,
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            0,
        );
        let out = feed(
            &mut conn,
            Received,
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05hello",
            1,
        );
        assert_eq!(summary(&out), pairs(&[("/ws", 101)]));
        feed(&mut conn, Sent, GET_A, 2);
        feed(&mut conn, Received, OK_HELLO, 3);
        assert!(conn.is_http());
        assert!(close(&mut conn).is_empty());
    }

    #[test]
    fn malformed_input_does_not_panic() {
        let mut conn = Connection::new();
        let huge = b"POST /h HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\nbody";
        feed(&mut conn, Sent, huge, 0);
        // Unknown length: the next request line resyncs.
        feed(&mut conn, Sent, &get("/ok"), 1);
        let out = feed(
            &mut conn,
            Received,
            &[response(400, ""), response(200, "")].concat(),
            2,
        );
        assert_eq!(summary(&out), pairs(&[("/h", 400), ("/ok", 200)]));

        let mut long = b"GET /".to_vec();
        long.extend([0xff, 0xfe]);
        long.extend(std::iter::repeat_n(b'a', 3_000));
        long.extend(b" HTTP/1.1\r\n\r\n");
        let mut conn = Connection::new();
        feed(&mut conn, Sent, &long, 0);
        let path = &close(&mut conn)[0].path;
        assert!(path.len() <= MAX_TEXT_BYTES);
        assert!(path.starts_with("/\u{fffd}"));

        // A head that never ends is capped and followed blindly.
        let mut conn = Connection::new();
        feed(&mut conn, Sent, b"GET /endless HTTP/1.1\r\n", 0);
        for n in 0..200 {
            feed(
                &mut conn,
                Sent,
                b"X-Filler: 0123456789012345678901234567890123456789\r\n",
                n,
            );
            assert!(conn.streams[0].head.len() <= MAX_HEAD_BYTES);
        }
        assert_eq!(close(&mut conn)[0].path, "/endless");
    }

    #[test]
    fn route_template_collapses_variable_segments() {
        let cases = [
            (
                "/users/1234/orders/5f3a9c0d1e2b4a6f7788?x=1",
                "/users/{id}/orders/{hash}",
            ),
            (
                "/items/550e8400-e29b-41d4-a716-446655440000",
                "/items/{uuid}",
            ),
            ("/files/aZ3kP9qL0xV7mN2bR5tY_w/raw", "/files/{id}/raw"),
            (
                "/blog/my-first-post-about-rust-2024",
                "/blog/my-first-post-about-rust-2024",
            ),
            ("/api/v2/12/", "/api/v2/{id}/"),
            ("/c/deadbeef", "/c/deadbeef"),
            ("/c/0123456789abcdef", "/c/{hash}"),
            ("/", "/"),
            ("", ""),
            ("*", "*"),
            ("/search#frag", "/search"),
        ];
        for (path, expected) in cases {
            assert_eq!(route_template(path), expected, "{path}");
        }
    }

    /// xorshift64: a tiny deterministic generator for the fuzz test.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const SAMPLES: [&[u8]; 10] = [
        b"GET /a/1?x=2 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HEAD / HTTP/1.0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nuntil close",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ];

    fn random_payload(rng: &mut Rng) -> Vec<u8> {
        match rng.below(6) {
            // Pure noise.
            0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
            // Many pipelined requests at once, to push on the waiting-request bound.
            1 => SAMPLES[0].repeat(1 + rng.below(100)),
            // A slice of a sample, as if split across syscalls.
            2 => {
                let sample = SAMPLES[rng.below(SAMPLES.len())];
                let start = rng.below(sample.len());
                let end = start + rng.below(sample.len() - start + 1);
                sample[start..end].to_vec()
            }
            // Several samples, then mutated.
            _ => {
                let mut bytes = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    bytes.extend_from_slice(SAMPLES[rng.below(SAMPLES.len())]);
                }
                for _ in 0..rng.below(4) {
                    let at = rng.below(bytes.len());
                    match rng.below(4) {
                        0 => bytes[at] = rng.next() as u8,
                        1 => bytes[at] = b"0123456789abcdef\r\n :"[rng.below(20)],
                        2 => bytes.truncate(at),
                        _ => bytes.insert(at, rng.next() as u8),
                    }
                    if bytes.is_empty() {
                        break;
                    }
                }
                bytes
            }
        }
    }

    #[test]
    fn fuzz_never_panics_and_stays_bounded() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let opts = Options {
            keep_query: false,
            capture_headers: vec!["content-length".into(), "host".into()],
        };
        let mut conn = Connection::new();
        let mut out = Vec::new();
        let mut time_ns = 0u64;
        let (mut most_waiting, mut answered) = (0, 0);
        let mut states_seen = Vec::new();
        for _ in 0..20_000 {
            let stuck = !conn.reads_input() && rng.below(10) == 0;
            if rng.below(300) == 0 || stuck {
                conn.close(&mut out);
                conn = Connection::new();
            }
            let payload = random_payload(&mut rng);
            let captured = match rng.below(4) {
                0 => rng.below(payload.len() + 1),
                _ => payload.len(),
            };
            let len = match rng.below(8) {
                0 => payload.len() as u64 + rng.next() % 100_000,
                1 => rng.next(), // absurd byte counts must not break anything
                2 => 0,          // inconsistent with the capture: treated as the capture's size
                _ => payload.len() as u64,
            };
            // Mostly the direction that matches the payload, so exchanges do form.
            let looks_like_response = payload.starts_with(b"HTTP/");
            let dir = if looks_like_response != (rng.below(10) == 0) {
                Received
            } else {
                Sent
            };
            time_ns = time_ns.wrapping_add(rng.next() % 1_000_000);
            conn.feed(&opts, dir, &payload[..captured], len, time_ns, &mut out);
            match rng.below(40) {
                0 => conn.expire(time_ns, rng.next() % 5_000_000, &mut out),
                1 => conn.close(&mut out),
                _ => {}
            }
            assert!(conn.tracker.waiting.len() <= MAX_WAITING);
            assert!(conn.streams.iter().all(|s| s.head.len() <= MAX_HEAD_BYTES));
            most_waiting = most_waiting.max(conn.tracker.waiting.len());
            for stream in &conn.streams {
                let state = std::mem::discriminant(&stream.state);
                if !states_seen.contains(&state) {
                    states_seen.push(state);
                }
            }
            for exchange in out.drain(..) {
                assert!(exchange.path.len() <= MAX_TEXT_BYTES);
                // A status needs a response, and so does a latency.
                assert!(exchange.status.is_none() || exchange.latency_ns.is_some());
                assert!(!exchange.timed_out || exchange.latency_ns.is_none());
                answered += usize::from(exchange.status.is_some());
            }
        }
        // The inputs did reach the interesting states.
        eprintln!("fuzz: {answered} answered exchanges, at most {most_waiting} waiting");
        assert_eq!(most_waiting, MAX_WAITING);
        assert_eq!(states_seen.len(), 6, "every stream state was reached");
        assert!(answered > 100);
    }
}
