//! Builds the few messages our speaker sends, on top of the codec's types.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::{
    BgpCapability, FourOctetAsCapability, MultiProtocolExtensionsCapability,
};
use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress};
use netgauze_bgp_pkt::notification::{
    BgpNotificationMessage, CeaseError, FiniteStateMachineError, HoldTimerExpiredError,
    OpenMessageError,
};
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};
use netgauze_bgp_pkt::path_attribute::{
    As2PathSegment, As4PathSegment, AsPath, AsPathSegmentType, LocalPreference, NextHop, Origin,
    PathAttribute, PathAttributeValue,
};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_iana::address_family::AddressType;

use super::{Error, Result};

/// RFC 6793: the 2-octet stand-in for a 4-octet AS number.
pub(crate) const AS_TRANS: u16 = 23456;

pub(crate) fn open(local_asn: u32, hold_secs: u16, router_id: Ipv4Addr) -> BgpMessage {
    let my_as = u16::try_from(local_asn).unwrap_or(AS_TRANS);
    let caps = vec![
        BgpCapability::MultiProtocolExtensions(MultiProtocolExtensionsCapability::new(
            AddressType::Ipv4Unicast,
        )),
        BgpCapability::FourOctetAs(FourOctetAsCapability::new(local_asn)),
    ];
    BgpMessage::Open(BgpOpenMessage::new(
        my_as,
        hold_secs,
        router_id,
        vec![BgpOpenMessageParameter::new_capabilities(caps)],
    ))
}

fn nlri(prefixes: &[Ipv4Net]) -> Result<Vec<Ipv4UnicastAddress>> {
    prefixes
        .iter()
        .map(|p| {
            Ipv4Unicast::from_net(p.trunc())
                .map(Ipv4UnicastAddress::new_no_path_id)
                .map_err(|_| Error::InvalidPrefix(*p))
        })
        .collect()
}

fn attr(optional: bool, value: PathAttributeValue) -> Result<PathAttribute> {
    PathAttribute::from(optional, true, false, false, value)
        .map_err(|(v, e)| Error::Encode(format!("path attribute {v:?}: {e:?}")))
}

/// An UPDATE announcing `announce` with us as origin and withdrawing
/// `withdraw`. iBGP sessions get an empty AS_PATH and LOCAL_PREF 100
/// (RFC 4271 5.1.2, 5.1.5); eBGP ones get our AS prepended.
pub(crate) fn update(
    announce: &[Ipv4Net],
    withdraw: &[Ipv4Net],
    local_asn: u32,
    next_hop: Ipv4Addr,
    asn4: bool,
    ibgp: bool,
) -> Result<BgpMessage> {
    let mut attrs = Vec::new();
    if !announce.is_empty() {
        attrs.push(attr(false, PathAttributeValue::Origin(Origin::IGP))?);
        let path = match (ibgp, asn4) {
            (true, true) => AsPath::As4PathSegments(Box::new([])),
            (true, false) => AsPath::As2PathSegments(Box::new([])),
            (false, true) => AsPath::As4PathSegments(Box::new([As4PathSegment::new(
                AsPathSegmentType::AsSequence,
                vec![local_asn],
            )])),
            (false, false) => AsPath::As2PathSegments(Box::new([As2PathSegment::new(
                AsPathSegmentType::AsSequence,
                vec![u16::try_from(local_asn).unwrap_or(AS_TRANS)],
            )])),
        };
        attrs.push(attr(false, PathAttributeValue::AsPath(path))?);
        attrs.push(attr(false, PathAttributeValue::NextHop(NextHop::new(next_hop)))?);
        if ibgp {
            attrs.push(attr(
                false,
                PathAttributeValue::LocalPreference(LocalPreference::new(100)),
            )?);
        }
    }
    Ok(BgpMessage::Update(BgpUpdateMessage::new(
        nlri(withdraw)?,
        attrs,
        nlri(announce)?,
    )))
}

pub(crate) fn cease_admin_shutdown() -> BgpMessage {
    BgpMessage::Notification(BgpNotificationMessage::CeaseError(
        CeaseError::AdministrativeShutdown {
            value: Box::new([]),
        },
    ))
}

/// Cease / Administrative Reset (RFC 4486 subcode 4): "drop the session and
/// come back", what an operator's `clear bgp` sends.
pub(crate) fn cease_admin_reset() -> BgpMessage {
    BgpMessage::Notification(BgpNotificationMessage::CeaseError(
        CeaseError::AdministrativeReset {
            value: Box::new([]),
        },
    ))
}

pub(crate) fn hold_timer_expired() -> BgpMessage {
    BgpMessage::Notification(BgpNotificationMessage::HoldTimerExpiredError(
        HoldTimerExpiredError::Unspecific {
            sub_code: 0,
            value: Box::new([]),
        },
    ))
}

pub(crate) fn bad_peer_as() -> BgpMessage {
    BgpMessage::Notification(BgpNotificationMessage::OpenMessageError(
        OpenMessageError::BadPeerAs {
            value: Box::new([]),
        },
    ))
}

pub(crate) fn unacceptable_hold_time() -> BgpMessage {
    BgpMessage::Notification(BgpNotificationMessage::OpenMessageError(
        OpenMessageError::UnacceptableHoldTime {
            value: Box::new([]),
        },
    ))
}

pub(crate) fn fsm_error() -> BgpMessage {
    BgpMessage::Notification(BgpNotificationMessage::FiniteStateMachineError(
        FiniteStateMachineError::Unspecific {
            value: Box::new([]),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use netgauze_bgp_pkt::codec::BgpCodec;
    use tokio_util::codec::{Decoder, Encoder};

    fn roundtrip(codec: &mut BgpCodec, msg: BgpMessage) -> BgpMessage {
        let mut buf = BytesMut::new();
        codec.encode(msg, &mut buf).unwrap();
        codec.decode(&mut buf).unwrap().unwrap().0
    }

    #[test]
    fn open_carries_four_octet_asn_and_ipv4_unicast() {
        let mut c = BgpCodec::default();
        let back = roundtrip(&mut c, open(4_200_000_001, 9, Ipv4Addr::new(10, 198, 0, 1)));
        let BgpMessage::Open(o) = back else { panic!("not an open: {back:?}") };
        assert_eq!(o.my_as(), AS_TRANS);
        assert_eq!(o.my_asn4(), 4_200_000_001);
        assert_eq!(o.hold_time(), 9);
        assert!(o.capabilities().iter().any(|c| matches!(
            c,
            BgpCapability::MultiProtocolExtensions(m) if m.address_type() == AddressType::Ipv4Unicast
        )));
    }

    #[test]
    fn update_roundtrips_with_four_octet_path() {
        let mut c = BgpCodec::default();
        // Sending and receiving an OPEN with the capability switches the codec to 4-octet mode.
        let o = open(4_200_000_001, 9, Ipv4Addr::new(10, 198, 0, 1));
        roundtrip(&mut c, o);
        let u = update(
            &["10.10.0.0/24".parse().unwrap()],
            &["10.11.0.0/24".parse().unwrap()],
            4_200_000_001,
            Ipv4Addr::new(10, 198, 0, 1),
            true,
            false,
        )
        .unwrap();
        let back = roundtrip(&mut c, u.clone());
        assert_eq!(back, u);
    }

    #[test]
    fn host_route_is_accepted_and_prefix_bits_are_truncated() {
        let u = update(
            &["10.0.0.7/32".parse().unwrap(), "10.1.2.3/16".parse().unwrap()],
            &[],
            65001,
            Ipv4Addr::new(10, 198, 0, 1),
            true,
            false,
        )
        .unwrap();
        let BgpMessage::Update(u) = u else { panic!() };
        let got: Vec<String> = u.nlri().iter().map(|n| n.network().address().to_string()).collect();
        assert_eq!(got, vec!["10.0.0.7/32", "10.1.0.0/16"]);
    }
}
