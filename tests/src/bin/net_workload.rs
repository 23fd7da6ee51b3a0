//! Known network traffic for the network probes' tests.
//!
//! Every subcommand prints `ready` once set up; with `--after FILE` it then waits until
//! FILE exists before its work, for pods, which have no stdin. ADDR is `IP:PORT`, an IPv6
//! IP in brackets: `[fd00::1]:80`. One line per outcome, on stdout.
//!
//! `net-workload listen ADDR [--reset]`: accepts until killed. Per connection, `accepted
//! PEER`, then `closed PEER after N bytes` once the peer has closed its side. With
//! `--reset`, reads once and aborts the connection with a RST instead: `reset PEER after N
//! bytes`.
//!
//! `net-workload connect ADDR [--count N] [--send BYTES] [--hold MS] [--timeout MS]`: N
//! connections one after the other. Each prints `connected ADDR in Nus`, sends BYTES,
//! waits MS, closes its side first and reads until the server closes (`closed`) or resets
//! (`reset`); or it prints `refused`, `timed out` or `failed ERROR`.
//!
//! `net-workload connect-and-stall ADDR --until FILE [--timeout MS]`: one connection that
//! sends 1 KiB every 10 ms until FILE exists (`stopped after N bytes`), the timeout
//! passes (`timed out after N bytes`) or sending fails (`failed after N bytes: ERROR`).
//! Cut the path meanwhile and the kernel retransmits.
//!
//! `net-workload udp-send ADDR [--count N] [--size BYTES] [--from-port PORT]`: N datagrams
//! of BYTES from an unconnected socket (bound to source port PORT when given), so ICMP
//! errors do not stop it: `sent N`, or `failed after N: ERROR`.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

const USAGE: &str = "usage: net-workload listen ADDR [--reset] [--after FILE]
       net-workload connect ADDR [--count N] [--send BYTES] [--hold MS] [--timeout MS] [--after FILE]
       net-workload connect-and-stall ADDR --until FILE [--timeout MS] [--after FILE]
       net-workload udp-send ADDR [--count N] [--size BYTES] [--from-port PORT] [--after FILE]";

struct Options {
    count: u64,
    send: usize,
    hold: Duration,
    timeout: Option<Duration>,
    after: Option<PathBuf>,
    until: Option<PathBuf>,
    reset: bool,
    size: usize,
    from_port: u16,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(command), Some(addr)) = (args.first(), args.get(1)) else {
        usage("a subcommand and an address are required")
    };
    let addr: SocketAddr = addr
        .parse()
        .unwrap_or_else(|_| usage(&format!("{addr} is not IP:PORT ([IPv6]:PORT)")));
    let allowed: &[&str] = match command.as_str() {
        "listen" => &["--reset"],
        "connect" => &["--count", "--send", "--hold", "--timeout"],
        "connect-and-stall" => &["--until", "--timeout"],
        "udp-send" => &["--count", "--size", "--from-port"],
        other => usage(&format!("unknown subcommand {other}")),
    };
    let options = parse_options(&args[2..], allowed);
    match command.as_str() {
        "listen" => listen(addr, &options),
        "connect" => connect(addr, &options),
        "connect-and-stall" => connect_and_stall(addr, &options),
        _ => udp_send(addr, &options),
    }
}

fn parse_options(args: &[String], allowed: &[&str]) -> Options {
    let mut options = Options {
        count: 1,
        send: 0,
        hold: Duration::ZERO,
        timeout: None,
        after: None,
        until: None,
        reset: false,
        size: 64,
        from_port: 0,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag != "--after" && !allowed.contains(&flag.as_str()) {
            usage(&format!("{flag} is not an option here"));
        }
        if flag == "--reset" {
            options.reset = true;
            continue;
        }
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = || -> u64 {
            value
                .parse()
                .unwrap_or_else(|_| usage(&format!("{flag} {value} is not a number")))
        };
        match flag.as_str() {
            "--count" => options.count = number(),
            "--send" => options.send = number() as usize,
            "--size" => options.size = number() as usize,
            "--from-port" => {
                options.from_port = u16::try_from(number())
                    .unwrap_or_else(|_| usage(&format!("{flag} {value} is not a port")))
            }
            "--hold" => options.hold = Duration::from_millis(number()),
            "--timeout" => options.timeout = Some(Duration::from_millis(number())),
            "--after" => options.after = Some(PathBuf::from(value)),
            _ => options.until = Some(PathBuf::from(value)),
        }
    }
    options
}

fn listen(addr: SocketAddr, options: &Options) {
    let listener = TcpListener::bind(addr).unwrap_or_else(|err| {
        eprintln!("net-workload: listen on {addr}: {err}");
        std::process::exit(1)
    });
    ready(options);
    let reset = options.reset;
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(err) => {
                println!("failed {err}");
                continue;
            }
        };
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "?".to_owned(), |peer| peer.to_string());
        println!("accepted {peer}");
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            let mut bytes = 0;
            if reset {
                bytes = stream.read(&mut buf).unwrap_or(0);
                abort(&stream);
                println!("reset {peer} after {bytes} bytes");
                return;
            }
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break println!("closed {peer} after {bytes} bytes"),
                    Ok(n) => bytes += n,
                    Err(err) => break println!("failed {peer} after {bytes} bytes: {err}"),
                }
            }
        });
    }
}

/// Closes with SO_LINGER {on, 0}: the kernel sends a RST instead of a FIN.
fn abort(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if set != 0 {
        println!("failed SO_LINGER: {}", std::io::Error::last_os_error());
    }
}

fn connect(addr: SocketAddr, options: &Options) {
    ready(options);
    let timeout = options.timeout.unwrap_or(Duration::from_secs(5));
    let payload = vec![b'x'; options.send];
    for _ in 0..options.count {
        let start = Instant::now();
        let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => stream,
            Err(err) => {
                println!("{}", failure(&err));
                continue;
            }
        };
        println!("connected {addr} in {}us", start.elapsed().as_micros());
        let outcome = stream
            .write_all(&payload)
            .and_then(|()| {
                std::thread::sleep(options.hold);
                stream.shutdown(Shutdown::Write)
            })
            .and_then(|()| stream.set_read_timeout(Some(timeout)))
            .and_then(|()| {
                let mut buf = [0u8; 65536];
                while stream.read(&mut buf)? > 0 {}
                Ok(())
            });
        match outcome {
            Ok(()) => println!("closed"),
            // After a RST, shutdown fails with ENOTCONN; the socket still holds the
            // ECONNRESET that says why.
            Err(err) => println!(
                "{}",
                failure(&stream.take_error().ok().flatten().unwrap_or(err))
            ),
        }
    }
}

fn connect_and_stall(addr: SocketAddr, options: &Options) {
    let until = options
        .until
        .as_deref()
        .unwrap_or_else(|| usage("connect-and-stall needs --until FILE"));
    ready(options);
    let timeout = options.timeout.unwrap_or(Duration::from_secs(10));
    let start = Instant::now();
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(stream) => stream,
        Err(err) => return println!("{}", failure(&err)),
    };
    println!("connected {addr} in {}us", start.elapsed().as_micros());
    // Short write timeouts: once the path is cut the send buffer fills, and the loop
    // must still see FILE.
    if let Err(err) = stream.set_write_timeout(Some(Duration::from_millis(50))) {
        return println!("failed after 0 bytes: {err}");
    }
    let chunk = [b'x'; 1024];
    let mut sent = 0;
    loop {
        if until.exists() {
            return println!("stopped after {sent} bytes");
        }
        if start.elapsed() > timeout {
            return println!("timed out after {sent} bytes");
        }
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(err) => return println!("failed after {sent} bytes: {err}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn udp_send(addr: SocketAddr, options: &Options) {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, options.from_port).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, options.from_port).into()
    };
    let socket = UdpSocket::bind(local).unwrap_or_else(|err| {
        eprintln!("net-workload: bind {local}: {err}");
        std::process::exit(1)
    });
    ready(options);
    let payload = vec![b'x'; options.size];
    for sent in 0..options.count {
        if let Err(err) = socket.send_to(&payload, addr) {
            return println!("failed after {sent}: {err}");
        }
    }
    println!("sent {}", options.count);
}

/// Prints `ready`, then waits for `--after FILE` when given.
fn ready(options: &Options) {
    println!("ready");
    let _ = std::io::stdout().flush();
    if let Some(file) = &options.after {
        wait_for(file);
    }
}

fn wait_for(file: &Path) {
    while !file.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn failure(err: &std::io::Error) -> String {
    match err.kind() {
        ErrorKind::ConnectionRefused => "refused".to_owned(),
        ErrorKind::ConnectionReset => "reset".to_owned(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out".to_owned(),
        _ => format!("failed {err}"),
    }
}

fn usage(why: &str) -> ! {
    eprintln!("net-workload: {why}\n{USAGE}");
    std::process::exit(2)
}
