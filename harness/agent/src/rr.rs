//! Request/response protocol for `client rr|crr` (netperf TCP_RR/TCP_CRR
//! style). The client opens with a 9-byte header: b'R', request size (u32 BE),
//! response size (u32 BE); then each transaction is `request size` bytes in,
//! `response size` bytes out, until the client closes.

use std::io::{self, Read, Write};
use std::net::TcpStream;

pub const MAGIC: u8 = b'R';
/// Caps what a client may ask the server to allocate.
pub const MAX_MSG: u32 = 16 << 20;

pub fn header(req: u32, resp: u32) -> [u8; 9] {
    let mut h = [0u8; 9];
    h[0] = MAGIC;
    h[1..5].copy_from_slice(&req.to_be_bytes());
    h[5..9].copy_from_slice(&resp.to_be_bytes());
    h
}

pub fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut h = [0u8; 9];
    stream.read_exact(&mut h)?;
    let req = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
    let resp = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
    if h[0] != MAGIC || req == 0 || req > MAX_MSG || resp > MAX_MSG {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad rr header"));
    }
    let mut inbuf = vec![0u8; req as usize];
    let outbuf = vec![b'r'; resp as usize];
    loop {
        match stream.read_exact(&mut inbuf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        stream.write_all(&outbuf)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        let h = header(1, 256);
        assert_eq!(h, [b'R', 0, 0, 0, 1, 0, 0, 1, 0]);
    }
}
