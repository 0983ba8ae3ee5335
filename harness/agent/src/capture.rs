//! `capture`: counts IPv4 packets seen on one interface, the way the cilium
//! encryption check uses tcpdump, but without libpcap. An AF_PACKET datagram
//! socket (link header stripped) receives every packet of the namespace; we
//! keep the ones whose ifindex is the chosen interface. Only the first bytes
//! of each packet are read, which is all the counters need.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use nix::sys::socket::{
    AddressFamily, LinkAddr, SockFlag, SockProtocol, SockType, recvfrom, setsockopt, socket,
    sockopt,
};
use nix::sys::time::TimeVal;
use serde::Serialize;

const ETH_P_IP: u16 = 0x0800;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    Any,
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    fn matches(self, ip_proto: u8) -> bool {
        match self {
            Proto::Any => true,
            Proto::Tcp => ip_proto == 6,
            Proto::Udp => ip_proto == 17,
            Proto::Icmp => ip_proto == 1,
        }
    }
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Interface to count on (in the agent's network namespace), or `auto`
    /// for the one the main routing table sends --route-to through.
    #[arg(long)]
    pub iface: String,
    /// With `--iface auto`: the IPv4 address whose egress interface is
    /// counted on (e.g. the other node's InternalIP), as `ip route get` would
    /// pick it from the main table.
    #[arg(long)]
    pub route_to: Option<Ipv4Addr>,
    /// IPv4 addresses; a packet is plaintext when both its source and
    /// destination are in this list.
    #[arg(long, value_delimiter = ',', required = true)]
    pub filter_ips: Vec<Ipv4Addr>,
    /// Only count plaintext packets of this IP protocol.
    #[arg(long, value_enum, default_value = "any")]
    pub proto: Proto,
    /// Also count UDP packets to or from this port (e.g. WireGuard 51871).
    #[arg(long)]
    pub udp_port: Option<u16>,
    /// How long to count.
    #[arg(long, default_value_t = 5.0)]
    pub duration_s: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct CaptureReport {
    pub mode: &'static str,
    pub ok: bool,
    pub error: Option<String>,
    pub iface: String,
    pub ifindex: u32,
    pub duration_s: f64,
    /// Every packet seen on the interface.
    pub packets_total: u64,
    pub ipv4_packets: u64,
    /// IPv4 packets between two of --filter-ips (matching --proto).
    pub plaintext_packets: u64,
    pub udp_port: Option<u16>,
    pub udp_port_packets: u64,
}

#[derive(Debug, Default, PartialEq)]
pub struct Counts {
    pub ipv4: u64,
    pub plaintext: u64,
    pub udp_port: u64,
}

/// Classifies one IPv4 packet (starting at the IP header).
pub fn classify(
    pkt: &[u8],
    ips: &BTreeSet<Ipv4Addr>,
    proto: Proto,
    udp_port: Option<u16>,
    c: &mut Counts,
) {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return;
    }
    c.ipv4 += 1;
    let ihl = usize::from(pkt[0] & 0x0F) * 4;
    let ip_proto = pkt[9];
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    if src != dst && ips.contains(&src) && ips.contains(&dst) && proto.matches(ip_proto) {
        c.plaintext += 1;
    }
    let first_fragment = u16::from_be_bytes([pkt[6], pkt[7]]) & 0x1FFF == 0;
    if let Some(port) = udp_port
        && ip_proto == 17
        && first_fragment
        && let Some(ports) = pkt.get(ihl..ihl + 4)
    {
        let sport = u16::from_be_bytes([ports[0], ports[1]]);
        let dport = u16::from_be_bytes([ports[2], ports[3]]);
        if sport == port || dport == port {
            c.udp_port += 1;
        }
    }
}

pub fn run(args: &CaptureArgs) -> CaptureReport {
    let mut report = CaptureReport {
        mode: "capture",
        iface: args.iface.clone(),
        udp_port: args.udp_port,
        ..CaptureReport::default()
    };
    match count(args, &mut report) {
        Ok(()) => report.ok = true,
        Err(e) => report.error = Some(e),
    }
    report
}

/// The interface of the longest-prefix match for `dst` in a
/// `/proc/net/route` table (IPv4 main table; ties go to the lowest metric).
/// Policy routing is not consulted: node-to-node traffic, which is what a
/// leak check watches, follows the main table.
pub fn egress_iface(table: &str, dst: Ipv4Addr) -> Option<String> {
    let dst = u32::from(dst);
    let mut best: Option<(u32, u32, String)> = None;
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(dest), Some(flags), Some(metric), Some(mask)) =
            (cols.first(), cols.get(1), cols.get(3), cols.get(6), cols.get(7))
        else {
            continue;
        };
        // /proc/net/route prints addresses as the raw in-memory u32, i.e.
        // network byte order read on a little-endian host.
        let parse = |h: &str| u32::from_str_radix(h, 16).ok().map(|v| u32::from_be_bytes(v.to_le_bytes()));
        let (Some(dest), Some(mask), Ok(flags), Ok(metric)) =
            (parse(dest), parse(mask), u32::from_str_radix(flags, 16), metric.parse::<u32>())
        else {
            continue;
        };
        const RTF_UP: u32 = 0x1;
        if flags & RTF_UP == 0 || dst & mask != dest & mask {
            continue;
        }
        let better = match &best {
            None => true,
            Some((m, met, _)) => mask.count_ones() > m.count_ones() || (mask == *m && metric < *met),
        };
        if better {
            best = Some((mask, metric, (*iface).to_owned()));
        }
    }
    best.map(|(_, _, iface)| iface)
}

fn count(args: &CaptureArgs, report: &mut CaptureReport) -> Result<(), String> {
    if args.iface == "auto" {
        let dst = args.route_to.ok_or("--iface auto needs --route-to ADDR")?;
        let table = std::fs::read_to_string("/proc/net/route").map_err(|e| format!("failed to read /proc/net/route: {e}"))?;
        report.iface = egress_iface(&table, dst).ok_or_else(|| format!("failed to find a route to {dst}"))?;
    }
    let ifindex = nix::net::if_::if_nametoindex(report.iface.as_str())
        .map_err(|e| format!("failed to find interface {}: {e}", report.iface))?;
    report.ifindex = ifindex;
    let fd = socket(
        AddressFamily::Packet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .map_err(|e| format!("failed to open packet socket (needs CAP_NET_RAW): {e}"))?;
    // A short receive timeout bounds how late we notice the deadline.
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 50_000))
        .map_err(|e| format!("failed to set receive timeout: {e}"))?;
    let ips: BTreeSet<Ipv4Addr> = args.filter_ips.iter().copied().collect();
    // Tell the caller the socket is live, so it can start traffic knowing
    // nothing is missed.
    eprintln!("{{\"ready\":true}}");

    let span = Duration::from_secs_f64(args.duration_s.max(0.0));
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let mut counts = Counts::default();
    while started.elapsed() < span {
        match recvfrom::<LinkAddr>(fd.as_raw_fd(), &mut buf) {
            Ok((n, Some(addr))) => {
                if addr.ifindex() != ifindex as usize {
                    continue;
                }
                report.packets_total += 1;
                if u16::from_be(addr.protocol()) == ETH_P_IP {
                    classify(
                        &buf[..n.min(buf.len())],
                        &ips,
                        args.proto,
                        args.udp_port,
                        &mut counts,
                    );
                }
            }
            Ok((_, None)) => {}
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("failed to receive from packet socket: {e}")),
        }
    }
    report.duration_s = started.elapsed().as_secs_f64();
    report.ipv4_packets = counts.ipv4;
    report.plaintext_packets = counts.plaintext;
    report.udp_port_packets = counts.udp_port;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
eth1\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
down0\t0500000A\t00000000\t0000\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n\
eth2\t0002000A\t00000000\t0001\t0\t0\t10\t00FFFFFF\t0\t0\t0\n\
eth3\t0002000A\t00000000\t0001\t0\t0\t5\t00FFFFFF\t0\t0\t0\n";

    #[test]
    fn egress_interface_is_the_longest_prefix_match() {
        let at = |ip: [u8; 4]| egress_iface(ROUTES, Ipv4Addr::from(ip));
        assert_eq!(at([192, 168, 1, 7]).as_deref(), Some("eth0"));
        assert_eq!(at([10, 0, 9, 9]).as_deref(), Some("eth1"));
        // A /24 beats the /16; between equal prefixes the lower metric wins.
        assert_eq!(at([10, 0, 2, 1]).as_deref(), Some("eth3"));
        // Routes that are not up are ignored.
        assert_eq!(at([10, 0, 0, 5]).as_deref(), Some("eth1"));
        // Everything else takes the default route.
        assert_eq!(at([8, 8, 8, 8]).as_deref(), Some("eth0"));
        assert_eq!(egress_iface("Iface\tDestination\n", Ipv4Addr::LOCALHOST), None);
    }

    fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn counts_plaintext_between_listed_ips_only() {
        let ips: BTreeSet<Ipv4Addr> =
            [Ipv4Addr::new(10, 200, 0, 1), Ipv4Addr::new(10, 200, 0, 2)].into();
        let mut c = Counts::default();
        classify(
            &ipv4([10, 200, 0, 1], [10, 200, 0, 2], 6, 1, 2),
            &ips,
            Proto::Tcp,
            Some(51871),
            &mut c,
        );
        classify(
            &ipv4([10, 200, 0, 2], [10, 200, 0, 1], 17, 1, 2),
            &ips,
            Proto::Tcp,
            Some(51871),
            &mut c,
        );
        classify(
            &ipv4([10, 199, 0, 1], [10, 199, 0, 2], 17, 51871, 51871),
            &ips,
            Proto::Tcp,
            Some(51871),
            &mut c,
        );
        assert_eq!(
            c,
            Counts {
                ipv4: 3,
                plaintext: 1,
                udp_port: 1
            }
        );
        let mut any = Counts::default();
        classify(
            &ipv4([10, 200, 0, 2], [10, 200, 0, 1], 17, 1, 2),
            &ips,
            Proto::Any,
            None,
            &mut any,
        );
        assert_eq!(any.plaintext, 1);
    }

    #[test]
    fn ignores_non_ipv4_and_short_packets() {
        let ips = BTreeSet::new();
        let mut c = Counts::default();
        classify(&[0x60; 40], &ips, Proto::Any, None, &mut c);
        classify(&[0x45; 10], &ips, Proto::Any, None, &mut c);
        assert_eq!(c, Counts::default());
    }
}
