//! Random identifiers: UIDs, container ids and generated-name suffixes.

use std::io::Read;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // Not cryptographic; only uniqueness matters here.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) as u8) ^ (i as u8);
        }
    }
    buf
}

/// A UUID v4, as the API server gives `metadata.uid`.
pub fn uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// 64 lowercase hex characters, like a containerd or CRI-O container id.
pub fn container_id() -> String {
    hex(&random_bytes::<32>())
}

/// The alphabet the API server uses for `generateName` suffixes (no vowels, no look-alikes).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five characters, as appended to `generateName`.
pub fn name_suffix() -> String {
    random_bytes::<5>()
        .iter()
        .map(|b| ALPHANUMS[usize::from(*b) % ALPHANUMS.len()] as char)
        .collect()
}

/// Encodes a hash the way the deployment controller names its ReplicaSets.
pub fn safe_encode(mut n: u32) -> String {
    let mut out = String::new();
    loop {
        out.push(ALPHANUMS[(n % ALPHANUMS.len() as u32) as usize] as char);
        n /= ALPHANUMS.len() as u32;
        if n == 0 {
            return out;
        }
    }
}

pub fn fnv32a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        let u = super::uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        let c = super::container_id();
        assert_eq!(c.len(), 64);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(super::name_suffix().len(), 5);
    }
}
