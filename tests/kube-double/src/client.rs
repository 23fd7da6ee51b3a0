//! A minimal blocking HTTP/1.1 client for tests: requests, JSON answers and line streams.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::TcpStream,
    time::Duration,
};

use serde_json::Value;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response whose body is read as it arrives (watches, followed logs).
pub struct Stream {
    pub status: u16,
    reader: BufReader<TcpStream>,
    chunked: bool,
    chunk_left: usize,
    done: bool,
}

fn host_port(base: &str) -> &str {
    base.trim_start_matches("http://").trim_end_matches('/')
}

fn send(
    base: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<BufReader<TcpStream>> {
    let mut stream = TcpStream::connect(host_port(base))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        host_port(base),
        crate::kubeconfig::TOKEN,
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    Ok(BufReader::new(stream))
}

fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((status, headers))
}

pub fn request(
    base: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<Response> {
    let mut reader = send(base, method, path, content_type, body)?;
    let (status, headers) = read_head(&mut reader)?;
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let mut s = Stream {
        status,
        reader,
        chunked,
        chunk_left: 0,
        done: false,
    };
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

pub fn get(base: &str, path: &str) -> io::Result<Response> {
    request(base, "GET", path, "application/json", b"")
}

pub fn post(base: &str, path: &str, body: &Value) -> io::Result<Response> {
    request(
        base,
        "POST",
        path,
        "application/json",
        body.to_string().as_bytes(),
    )
}

pub fn put(base: &str, path: &str, body: &Value) -> io::Result<Response> {
    request(
        base,
        "PUT",
        path,
        "application/json",
        body.to_string().as_bytes(),
    )
}

pub fn patch(base: &str, path: &str, content_type: &str, body: &Value) -> io::Result<Response> {
    request(
        base,
        "PATCH",
        path,
        content_type,
        body.to_string().as_bytes(),
    )
}

pub fn delete(base: &str, path: &str) -> io::Result<Response> {
    request(base, "DELETE", path, "application/json", b"")
}

/// Opens a streaming GET (watch or followed log).
pub fn stream(base: &str, path: &str) -> io::Result<Stream> {
    let mut reader = send(base, "GET", path, "application/json", b"")?;
    let (status, headers) = read_head(&mut reader)?;
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    Ok(Stream {
        status,
        reader,
        chunked,
        chunk_left: 0,
        done: false,
    })
}

impl Stream {
    pub fn set_timeout(&self, t: Duration) {
        let _ = self.reader.get_ref().set_read_timeout(Some(t));
    }

    /// The next line, without its newline; `None` at a clean end of stream.
    pub fn next_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.read(&mut byte)? {
                0 if line.is_empty() => return Ok(None),
                0 => return Ok(Some(String::from_utf8_lossy(&line).into_owned())),
                _ if byte[0] == b'\n' => {
                    return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
                }
                _ => line.push(byte[0]),
            }
        }
    }

    pub fn next_json(&mut self) -> io::Result<Option<Value>> {
        Ok(self
            .next_line()?
            .map(|l| serde_json::from_str(&l).unwrap_or(Value::Null)))
    }
}

impl Read for Stream {
    /// Reads the de-chunked body; an unterminated chunked body is an `UnexpectedEof` error.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if !self.chunked {
            return self.reader.read(buf);
        }
        if self.chunk_left == 0 {
            let mut size = String::new();
            if self.reader.read_line(&mut size)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream cut before its last chunk",
                ));
            }
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {size:?}")))?;
            if size == 0 {
                let mut crlf = String::new();
                let _ = self.reader.read_line(&mut crlf);
                self.done = true;
                return Ok(0);
            }
            self.chunk_left = size;
        }
        let want = buf.len().min(self.chunk_left);
        let n = self.reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream cut mid-chunk",
            ));
        }
        self.chunk_left -= n;
        if self.chunk_left == 0 {
            let mut crlf = [0u8; 2];
            self.reader.read_exact(&mut crlf)?;
        }
        Ok(n)
    }
}
