//! Ports on 127.0.0.1: picking a free one, waiting until a peer listens on it, and checking
//! that it listens there only.
//!
//! Every server the benchmark starts must stay on loopback; a peer without a host flag is
//! pinned there by other means (see `peers`), and [`ensure_loopback_only`] proves it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::process::Owned;

/// A port nobody listens on right now (the OS's pick, released for the peer to take).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Wait, up to `limit`, until `process` accepts connections on 127.0.0.1:`port`; fail early
/// if it exits.
pub fn wait_listening(process: &mut Owned, port: u16, limit: Duration) -> Result<()> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + limit;
    loop {
        process.ensure_running()?;
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "nothing listened on 127.0.0.1:{port} within {} s; the end of the log:\n{}",
                limit.as_secs(),
                process.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An error if any socket listening on `port` is bound to an address other than loopback.
pub fn ensure_loopback_only(port: u16) -> Result<()> {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for (address, listening_port) in listeners(&text) {
            if listening_port == port && !is_loopback(&address) {
                bail!("a peer listens on {address}:{port}, not on loopback only");
            }
        }
    }
    Ok(())
}

/// `(local address in kernel hex, port)` of each LISTEN row of a `/proc/net/tcp{,6}` table.
fn listeners(table: &str) -> Vec<(String, u16)> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) != Some(&LISTEN) {
                return None;
            }
            let (address, port) = fields.get(1)?.split_once(':')?;
            Some((address.to_owned(), u16::from_str_radix(port, 16).ok()?))
        })
        .collect()
}

/// 127.0.0.0/8, `::1` or `::ffff:127.x.x.x`, as the kernel prints them (32-bit words in host
/// order, which is little-endian on the machines this runs on).
fn is_loopback(hex: &str) -> bool {
    match hex.len() {
        8 => hex.ends_with("7F"),
        32 => {
            hex == "00000000000000000000000001000000"
                || (hex.starts_with("0000000000000000FFFF0000") && hex.ends_with("7F"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
";

    #[test]
    fn only_listening_rows_are_read() {
        assert_eq!(
            listeners(TCP),
            vec![("0100007F".to_owned(), 8080), ("00000000".to_owned(), 8081)],
            "the established row (state 01) is not a listener"
        );
    }

    #[test]
    fn loopback_addresses_are_told_from_wildcards() {
        assert!(is_loopback("0100007F"), "127.0.0.1");
        assert!(is_loopback("0200007F"), "127.0.0.2");
        assert!(!is_loopback("00000000"), "0.0.0.0");
        assert!(is_loopback("00000000000000000000000001000000"), "::1");
        assert!(!is_loopback("00000000000000000000000000000000"), "::");
        assert!(
            is_loopback("0000000000000000FFFF00000100007F"),
            "::ffff:127.0.0.1"
        );
    }
}
