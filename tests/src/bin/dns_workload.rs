//! A DNS server and clients with known answers, for the `dns` probe's tests.
//!
//! `dns-workload serve ADDRESS`: answers on UDP and TCP at ADDRESS (port 53): `known.test`
//! A 10.1.2.3 (AAAA 2001:db8::3); `alias.test` a CNAME to `known.test` and its A;
//! `slow.test` as `known.test` after 200 ms; `fail.test` SERVFAIL; any other name
//! NXDOMAIN. Prints `listening` once both sockets are bound.
//!
//! `dns-workload query ADDRESS [--tcp | --mmsg] NAME...`: asks for each name's A record
//! over UDP from an unconnected socket (`sendto`/`recvfrom`), over TCP with `--tcp`, or
//! with `--mmsg` as glibc's resolver does: A and AAAA in one `sendmmsg` on a connected
//! socket. Prints `answer NAME TYPE RCODE ANSWERS` per reply.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::AsRawFd,
    time::Duration,
};

const A: u16 = 1;
const CNAME: u16 = 5;
const AAAA: u16 = 28;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address: SocketAddr = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage());
    match args.first().map(String::as_str) {
        Some("serve") => serve(address),
        Some("query") => query(address, &args[2..]),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: dns-workload serve ADDRESS | query ADDRESS [--tcp|--mmsg] NAME...");
    std::process::exit(2)
}

fn serve(address: SocketAddr) {
    let udp = UdpSocket::bind(address).expect("bind UDP");
    let tcp = TcpListener::bind(address).expect("bind TCP");
    println!("listening");
    let _ = std::io::stdout().flush();
    std::thread::spawn(move || {
        for stream in tcp.incoming().flatten() {
            std::thread::spawn(move || serve_tcp(stream));
        }
    });
    let mut buffer = [0u8; 512];
    loop {
        let Ok((n, peer)) = udp.recv_from(&mut buffer) else {
            continue;
        };
        if let Some(reply) = answer(&buffer[..n]) {
            let _ = udp.send_to(&reply, peer);
        }
    }
}

fn serve_tcp(mut stream: TcpStream) {
    loop {
        let mut length = [0u8; 2];
        if stream.read_exact(&mut length).is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(length))];
        if stream.read_exact(&mut query).is_err() {
            return;
        }
        let Some(reply) = answer(&query) else {
            return;
        };
        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
        framed.extend(reply);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

/// The reply to a query, by the rules in the header comment.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
    let (name, end) = read_name(query, 12)?;
    let qtype = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    let question = query.get(12..end + 4)?;
    let mut records: Vec<(String, u16, Vec<u8>)> = Vec::new();
    let rcode = match name.as_str() {
        "known.test" | "slow.test" | "alias.test" => {
            if name == "slow.test" {
                std::thread::sleep(Duration::from_millis(200));
            }
            let mut owner = name.clone();
            if name == "alias.test" {
                records.push((name.clone(), CNAME, encode_name("known.test")));
                owner = "known.test".to_owned();
            }
            match qtype {
                A => records.push((owner, A, vec![10, 1, 2, 3])),
                AAAA => {
                    let ip: std::net::Ipv6Addr = "2001:db8::3".parse().expect("an address");
                    records.push((owner, AAAA, ip.octets().to_vec()));
                }
                _ => {}
            }
            0
        }
        "fail.test" => 2,
        _ => 3,
    };
    let mut reply = Vec::new();
    reply.extend(id.to_be_bytes());
    reply.extend((0x8180u16 | rcode).to_be_bytes());
    reply.extend(1u16.to_be_bytes());
    reply.extend((records.len() as u16).to_be_bytes());
    reply.extend([0, 0, 0, 0]);
    reply.extend(question);
    for (owner, rtype, data) in records {
        reply.extend(encode_name(&owner));
        reply.extend(rtype.to_be_bytes());
        reply.extend(1u16.to_be_bytes());
        reply.extend(60u32.to_be_bytes());
        reply.extend((data.len() as u16).to_be_bytes());
        reply.extend(data);
    }
    Some(reply)
}

/// A name without compression, and the offset after it.
fn read_name(message: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*message.get(at)?);
        at += 1;
        if len == 0 {
            return Some((labels.join("."), at));
        }
        labels.push(String::from_utf8_lossy(message.get(at..at + len)?).to_lowercase());
        at += len;
    }
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend(label.as_bytes());
    }
    out.push(0);
    out
}

fn encode_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut query = Vec::new();
    query.extend(id.to_be_bytes());
    query.extend(0x0100u16.to_be_bytes());
    query.extend(1u16.to_be_bytes());
    query.extend([0, 0, 0, 0, 0, 0]);
    query.extend(encode_name(name));
    query.extend(qtype.to_be_bytes());
    query.extend(1u16.to_be_bytes());
    query
}

fn query(server: SocketAddr, args: &[String]) {
    let tcp = args.iter().any(|a| a == "--tcp");
    let mmsg = args.iter().any(|a| a == "--mmsg");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("an address")
    } else {
        "[::]:0".parse().expect("an address")
    };
    for (i, name) in names.iter().enumerate() {
        let id = 0x1000 + i as u16;
        if tcp {
            let mut stream = TcpStream::connect(server).expect("connect");
            let query = encode_query(id, name, A);
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend(query);
            stream.write_all(&framed).expect("send");
            let mut length = [0u8; 2];
            stream.read_exact(&mut length).expect("reply length");
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.read_exact(&mut reply).expect("reply");
            report(name, "A", &reply);
        } else if mmsg {
            let socket = UdpSocket::bind(bind).expect("bind");
            socket.connect(server).expect("connect");
            send_both(&socket, id, name);
            let mut buffer = [0u8; 512];
            for _ in 0..2 {
                let n = socket.recv(&mut buffer).expect("reply");
                let qtype = if u16::from_be_bytes([buffer[0], buffer[1]]) == id {
                    "A"
                } else {
                    "AAAA"
                };
                report(name, qtype, &buffer[..n]);
            }
        } else {
            let socket = UdpSocket::bind(bind).expect("bind");
            socket
                .send_to(&encode_query(id, name, A), server)
                .expect("send");
            let mut buffer = [0u8; 512];
            let (n, _) = socket.recv_from(&mut buffer).expect("reply");
            report(name, "A", &buffer[..n]);
        }
    }
}

/// The A and AAAA queries for `name` in one `sendmmsg`, ids `id` and `id + 0x100`.
fn send_both(socket: &UdpSocket, id: u16, name: &str) {
    let mut queries = [
        encode_query(id, name, A),
        encode_query(id + 0x100, name, AAAA),
    ];
    let mut iovecs: Vec<libc::iovec> = queries
        .iter_mut()
        .map(|q| libc::iovec {
            iov_base: q.as_mut_ptr().cast(),
            iov_len: q.len(),
        })
        .collect();
    let mut messages: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .map(|iov| {
            // SAFETY: an all-zero msghdr is valid; the fields set point at live buffers.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
            header
        })
        .collect();
    // SAFETY: `messages` and what they point at outlive the call.
    let sent = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            messages.as_mut_ptr(),
            messages.len() as u32,
            0,
        )
    };
    assert_eq!(sent, 2, "sendmmsg: {}", std::io::Error::last_os_error());
}

fn report(name: &str, qtype: &str, reply: &[u8]) {
    let rcode = reply.get(3).map_or(99, |flags| flags & 0x0f);
    let answers = reply
        .get(6..8)
        .map_or(0, |count| u16::from_be_bytes([count[0], count[1]]));
    println!("answer {name} {qtype} {rcode} {answers}");
}
