//! The routes one peer has announced, kept as the peer's UPDATEs describe
//! them (Adj-RIB-In, no policy applied).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::Ipv4Net;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::path_attribute::{AsPath, MpReach, MpUnreach, PathAttributeValue};
use netgauze_bgp_pkt::update::BgpUpdateMessage;

/// ORIGIN attribute of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Origin {
    Igp,
    Egp,
    Incomplete,
}

/// One received path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    /// NEXT_HOP, or the MP_REACH_NLRI next hop for MP-encoded prefixes.
    pub next_hop: IpAddr,
    /// AS numbers in path order; AS_SET members are listed in place.
    pub as_path: Vec<u32>,
    pub origin: Option<Origin>,
}

/// Prefix → path, as last announced by the peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RouteTable {
    routes: BTreeMap<Ipv4Net, Route>,
}

impl RouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, prefix: &Ipv4Net) -> Option<&Route> {
        self.routes.get(prefix)
    }

    pub fn contains(&self, prefix: &Ipv4Net) -> bool {
        self.routes.contains_key(prefix)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Sorted prefixes, for exact-set comparisons.
    pub fn prefixes(&self) -> Vec<Ipv4Net> {
        self.routes.keys().copied().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Ipv4Net, &Route)> {
        self.routes.iter()
    }

    pub(crate) fn clear(&mut self) {
        self.routes.clear();
    }

    /// Applies one message; anything but an UPDATE leaves the table as is.
    pub fn apply(&mut self, message: &BgpMessage) {
        if let BgpMessage::Update(update) = message {
            self.apply_update(update);
        }
    }

    /// Applies withdrawals first, then announcements, as RFC 4271 3.1 orders
    /// them within one UPDATE.
    pub fn apply_update(&mut self, update: &BgpUpdateMessage) {
        self.apply_update_as(update, None);
    }

    /// Like [`apply_update`](Self::apply_update), with loop detection for a
    /// speaker in `local_asn`: an announcement whose AS_PATH already holds
    /// our AS is a route we sent coming back, and RFC 4271 9.1.2 excludes it;
    /// it counts as a withdrawal of that prefix. Returns how many were dropped.
    pub fn apply_update_as(&mut self, update: &BgpUpdateMessage, local_asn: Option<u32>) -> usize {
        for w in update.withdraw_routes() {
            self.routes.remove(&w.network().address());
        }
        let mut next_hop: Option<IpAddr> = None;
        let mut as_path: Vec<u32> = Vec::new();
        let mut as4_path: Option<Vec<u32>> = None;
        let mut origin = None;
        let mut mp_reach: Vec<(IpAddr, Ipv4Net)> = Vec::new();
        for attr in update.path_attributes() {
            match attr.value() {
                PathAttributeValue::Origin(o) => {
                    origin = Some(match o {
                        netgauze_bgp_pkt::path_attribute::Origin::IGP => Origin::Igp,
                        netgauze_bgp_pkt::path_attribute::Origin::EGP => Origin::Egp,
                        netgauze_bgp_pkt::path_attribute::Origin::Incomplete => Origin::Incomplete,
                    })
                }
                PathAttributeValue::AsPath(p) => as_path = flatten_as_path(p),
                PathAttributeValue::As4Path(p) => {
                    as4_path = Some(
                        p.segments()
                            .iter()
                            .flat_map(|s| s.as_numbers().iter().copied())
                            .collect(),
                    )
                }
                PathAttributeValue::NextHop(nh) => next_hop = Some(IpAddr::V4(nh.next_hop())),
                PathAttributeValue::MpReach(MpReach::Ipv4Unicast { next_hop, nlri, .. }) => {
                    mp_reach.extend(nlri.iter().map(|n| (*next_hop, n.network().address())));
                }
                PathAttributeValue::MpUnreach(MpUnreach::Ipv4Unicast { nlri }) => {
                    for n in nlri.iter() {
                        self.routes.remove(&n.network().address());
                    }
                }
                _ => {}
            }
        }
        // RFC 6793 4.2.3: a 2-octet speaker in the path replaced 4-octet ASNs
        // by AS_TRANS; AS4_PATH carries the true tail of the path.
        if let Some(as4) = as4_path
            && as4.len() <= as_path.len()
        {
            let keep = as_path.len() - as4.len();
            as_path.truncate(keep);
            as_path.extend(as4);
        }
        let looped = local_asn.is_some_and(|asn| as_path.contains(&asn));
        if looped {
            let mut dropped = 0;
            for p in update.nlri().iter().map(|n| n.network().address()).chain(mp_reach.iter().map(|(_, p)| *p)) {
                self.routes.remove(&p);
                dropped += 1;
            }
            return dropped;
        }
        for n in update.nlri() {
            if let Some(nh) = next_hop {
                self.routes.insert(
                    n.network().address(),
                    Route {
                        next_hop: nh,
                        as_path: as_path.clone(),
                        origin,
                    },
                );
            }
        }
        for (nh, prefix) in mp_reach {
            self.routes.insert(
                prefix,
                Route {
                    next_hop: nh,
                    as_path: as_path.clone(),
                    origin,
                },
            );
        }
        0
    }
}

/// Next hops per prefix across several sessions, the router's view of
/// "which nodes announce this VIP" (one table per peer).
pub fn next_hops<'a>(tables: impl IntoIterator<Item = &'a RouteTable>) -> BTreeMap<Ipv4Net, std::collections::BTreeSet<IpAddr>> {
    let mut out: BTreeMap<Ipv4Net, std::collections::BTreeSet<IpAddr>> = BTreeMap::new();
    for t in tables {
        for (p, r) in &t.routes {
            out.entry(*p).or_default().insert(r.next_hop);
        }
    }
    out
}

fn flatten_as_path(p: &AsPath) -> Vec<u32> {
    match p {
        AsPath::As2PathSegments(segs) => segs
            .iter()
            .flat_map(|s| s.as_numbers().iter().map(|a| u32::from(*a)))
            .collect(),
        AsPath::As4PathSegments(segs) => segs
            .iter()
            .flat_map(|s| s.as_numbers().iter().copied())
            .collect(),
    }
}

impl fmt::Display for RouteTable {
    /// One `prefix via next-hop [as path]` per route, comma separated; `{}` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.routes.is_empty() {
            return f.write_str("{}");
        }
        let mut first = true;
        for (p, r) in &self.routes {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{p} via {} {:?}", r.next_hop, r.as_path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::message;
    use std::net::Ipv4Addr;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn announce_then_withdraw_tracks_exact_set() {
        let mut t = RouteTable::new();
        let nh = Ipv4Addr::new(10, 198, 0, 2);
        let ann = message::update(&[net("10.1.0.0/24"), net("10.2.0.0/24")], &[], 65000, nh, true, false).unwrap();
        t.apply(&ann);
        assert_eq!(t.prefixes(), vec![net("10.1.0.0/24"), net("10.2.0.0/24")]);
        let r = t.get(&net("10.1.0.0/24")).unwrap();
        assert_eq!(r.next_hop, IpAddr::V4(nh));
        assert_eq!(r.as_path, vec![65000]);
        assert_eq!(r.origin, Some(Origin::Igp));
        let wd = message::update(&[], &[net("10.1.0.0/24")], 65000, nh, true, false).unwrap();
        t.apply(&wd);
        assert_eq!(t.prefixes(), vec![net("10.2.0.0/24")]);
        assert_eq!(t.to_string(), "10.2.0.0/24 via 10.198.0.2 [65000]");
    }

    #[test]
    fn mp_reach_and_mp_unreach_are_applied() {
        use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress};
        use netgauze_bgp_pkt::path_attribute::{As4PathSegment, AsPathSegmentType, PathAttribute};
        let a = |n: &str| Ipv4UnicastAddress::new_no_path_id(Ipv4Unicast::from_net(net(n)).unwrap());
        let attr = |v| PathAttribute::from(true, false, false, false, v).unwrap();
        let well_known = |v| PathAttribute::from(false, true, false, false, v).unwrap();
        let reach = BgpUpdateMessage::new(
            vec![],
            vec![
                well_known(PathAttributeValue::AsPath(AsPath::As4PathSegments(Box::new([As4PathSegment::new(
                    AsPathSegmentType::AsSequence,
                    vec![65010, 65011],
                )])))),
                attr(PathAttributeValue::MpReach(MpReach::Ipv4Unicast {
                    next_hop: IpAddr::V4(Ipv4Addr::new(10, 198, 0, 9)),
                    next_hop_local: None,
                    nlri: Box::new([a("10.40.0.0/24"), a("10.41.0.0/24")]),
                })),
            ],
            vec![],
        );
        let mut t = RouteTable::new();
        t.apply_update(&reach);
        let r = t.get(&net("10.40.0.0/24")).unwrap();
        assert_eq!(r.next_hop, IpAddr::V4(Ipv4Addr::new(10, 198, 0, 9)));
        assert_eq!(r.as_path, vec![65010, 65011]);
        let unreach = BgpUpdateMessage::new(
            vec![],
            vec![attr(PathAttributeValue::MpUnreach(MpUnreach::Ipv4Unicast { nlri: Box::new([a("10.40.0.0/24")]) }))],
            vec![],
        );
        t.apply_update(&unreach);
        assert_eq!(t.prefixes(), vec![net("10.41.0.0/24")]);
    }

    #[test]
    fn next_hops_merge_sessions() {
        let vip = net("10.50.0.7/32");
        let mut n1 = RouteTable::new();
        let mut n2 = RouteTable::new();
        n1.apply(&message::update(&[vip], &[], 65001, Ipv4Addr::new(10, 0, 0, 1), true, false).unwrap());
        n2.apply(&message::update(&[vip], &[], 65001, Ipv4Addr::new(10, 0, 0, 2), true, false).unwrap());
        let m = next_hops([&n1, &n2]);
        assert_eq!(m[&vip].len(), 2);
    }

    #[test]
    fn routes_carrying_our_own_asn_are_dropped() {
        let mut t = RouteTable::new();
        let nh = Ipv4Addr::new(10, 198, 0, 2);
        t.apply(&message::update(&[net("10.3.0.0/24")], &[], 65000, nh, true, false).unwrap());
        let BgpMessage::Update(looped) = message::update(&[net("10.3.0.0/24")], &[], 65001, nh, true, false).unwrap() else { panic!() };
        assert_eq!(t.apply_update_as(&looped, Some(65001)), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn ibgp_announcement_has_empty_as_path() {
        let mut t = RouteTable::new();
        let nh = Ipv4Addr::new(10, 198, 0, 2);
        t.apply(&message::update(&[net("10.9.0.0/16")], &[], 65000, nh, true, true).unwrap());
        assert_eq!(t.get(&net("10.9.0.0/16")).unwrap().as_path, Vec::<u32>::new());
    }
}
