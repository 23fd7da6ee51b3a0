//! An HTTP/1.1 server and client with known requests and exact byte counts, for the
//! `http` probe's tests.
//!
//! `http-workload serve`: listens on 127.0.0.1 (a free port), prints `listening PORT`,
//! and answers on keep-alive connections, one thread each: `/ok` 200, `/missing` 404,
//! `/fail` 500, `/slow` 200 after 300 ms, `/echo` 200 with the request's body, `/hang`
//! never (the connection stays open, unanswered). Each answer's response is written in
//! two writes (head, then body) when it has a body.
//!
//! `http-workload get PORT [--pipeline] METHOD:PATH...`: on one connection, sends each
//! request (a `POST` carries a 1000-byte body) and reads its response; prints
//! `got METHOD PATH STATUS REQUEST_BYTES RESPONSE_BYTES` per exchange, then `done`. A
//! request to `/hang` is sent last and not waited for: it prints `abandoned PATH` and
//! the client exits, leaving the connection open for a second.
//! With `--pipeline`, sends every request before reading any response.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    time::Duration,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("get") => get(&args[1..]),
        _ => {
            eprintln!("usage: http-workload serve | get PORT [--pipeline] METHOD:PATH...");
            std::process::exit(2);
        }
    }
}

fn serve() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    println!("listening {port}");
    let _ = std::io::stdout().flush();
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || answer(stream));
    }
}

/// Answers the requests of one connection until the client closes it.
fn answer(stream: TcpStream) {
    // The head and body go in two writes; without this, the second waits for the
    // client's delayed acknowledgement of the first (Nagle), some 40 ms.
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader) {
        let (status, reason, content) = match path.split('?').next().unwrap_or("") {
            "/ok" => (200, "OK", b"hello".to_vec()),
            "/missing" => (404, "Not Found", b"no such thing".to_vec()),
            "/fail" => (500, "Internal Server Error", b"broken".to_vec()),
            "/slow" => {
                std::thread::sleep(Duration::from_millis(300));
                (200, "OK", b"finally".to_vec())
            }
            "/echo" => (200, "OK", body),
            "/hang" => {
                // Never answered: the client gives up and the connection closes.
                let mut rest = [0u8; 1];
                let _ = reader.get_mut().read(&mut rest);
                return;
            }
            _ => (400, "Bad Request", Vec::new()),
        };
        let _ = method;
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            content.len()
        );
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
        if !content.is_empty() && writer.write_all(&content).is_err() {
            return;
        }
    }
}

/// One request: method, target, body; `None` at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let length = read_headers(reader)?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, body))
}

/// Reads headers up to the blank line; the Content-Length they give (0 without).
fn read_headers(reader: &mut impl BufRead) -> Option<usize> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(length);
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
}

fn get(args: &[String]) {
    let port: u16 = args.first().and_then(|p| p.parse().ok()).expect("PORT");
    let pipeline = args.iter().any(|arg| arg == "--pipeline");
    let requests: Vec<(String, String)> = args[1..]
        .iter()
        .filter(|arg| !arg.starts_with("--"))
        .map(|arg| {
            let (method, path) = arg.split_once(':').expect("METHOD:PATH");
            (method.to_owned(), path.to_owned())
        })
        .collect();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut sizes = Vec::new();
    for (method, path) in &requests {
        let request = request_bytes(method, path);
        if path == "/hang" {
            stream.write_all(&request).expect("send");
            println!("abandoned {path}");
            let _ = std::io::stdout().flush();
            std::thread::sleep(std::time::Duration::from_secs(1));
            println!("done");
            return;
        }
        stream.write_all(&request).expect("send");
        sizes.push(request.len());
        if !pipeline {
            let (status, size) = read_response(&mut reader);
            println!("got {method} {path} {status} {} {size}", request.len());
        }
    }
    if pipeline {
        for ((method, path), request) in requests.iter().zip(sizes) {
            let (status, size) = read_response(&mut reader);
            println!("got {method} {path} {status} {request} {size}");
        }
    }
    println!("done");
}

fn request_bytes(method: &str, path: &str) -> Vec<u8> {
    let body = if method == "POST" {
        vec![b'x'; 1000]
    } else {
        Vec::new()
    };
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: http-workload\r\n");
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend(body);
    bytes
}

/// A whole response: its status and its size in bytes.
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, usize) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status");
    let mut size = line.len();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).expect("header");
        size += header.len();
        let trimmed = header.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, size + length)
}
