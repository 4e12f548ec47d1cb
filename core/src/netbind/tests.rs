use super::*;

fn b(cidrs: &[&str], countries: &[&str]) -> NetBinding {
    NetBinding::parse(cidrs, countries).unwrap()
}

fn from(ip: &str) -> ClientNet<'_> {
    ClientNet {
        ip: Some(ip),
        country: None,
    }
}

#[test]
fn ipv4_and_ipv6_networks() {
    let n = b(&["10.0.0.0/8", "2001:db8::/32", "127.0.0.1/32"], &[]);
    assert!(n.admits(from("10.1.2.3")).is_ok());
    assert!(n.admits(from("127.0.0.1")).is_ok());
    assert!(n.admits(from("2001:db8:1::5")).is_ok());
    assert!(n.admits(from("::ffff:10.9.9.9")).is_ok(), "IPv4-mapped");
    assert_eq!(
        n.admits(from("127.0.0.2")),
        Err(NetRefusal::Network("127.0.0.2".parse().unwrap()))
    );
    assert!(n.admits(from("11.0.0.1")).is_err());
    assert!(n.admits(from("2001:db9::1")).is_err());
    assert!(n.admits(from("::1")).is_err());
}

#[test]
fn prefix_edges() {
    let all4 = b(&["0.0.0.0/0"], &[]);
    assert!(all4.admits(from("255.255.255.255")).is_ok());
    assert!(all4.admits(from("::1")).is_err(), "families never mix");
    let all6 = b(&["::/0"], &[]);
    assert!(all6.admits(from("2001:db8::1")).is_ok() && all6.admits(from("1.2.3.4")).is_err());
    let host6 = b(&["2001:db8::1/128"], &[]);
    assert!(host6.admits(from("2001:db8::1")).is_ok());
    assert!(host6.admits(from("2001:db8::2")).is_err());
    let odd = b(&["10.128.0.0/9"], &[]);
    assert!(odd.admits(from("10.200.1.1")).is_ok() && odd.admits(from("10.127.255.255")).is_err());
    assert_eq!(
        parse_cidr("2001:DB8:0:0::/48").unwrap().to_string(),
        "2001:db8::/48"
    );
}

#[test]
fn missing_or_garbled_client_data_fails_closed() {
    let n = b(&["0.0.0.0/0"], &[]);
    assert_eq!(n.admits(ClientNet::default()), Err(NetRefusal::NoAddress));
    assert_eq!(n.admits(from("not-an-ip")), Err(NetRefusal::NoAddress));
    assert_eq!(
        n.admits(from("10.0.0.1, 1.2.3.4")),
        Err(NetRefusal::NoAddress)
    );
    let c = b(&[], &["DE"]);
    assert_eq!(c.admits(from("1.2.3.4")), Err(NetRefusal::NoCountry));
    let de = ClientNet {
        ip: Some("1.2.3.4"),
        country: Some("de"),
    };
    assert!(c.admits(de).is_ok());
    let us = ClientNet {
        country: Some("US"),
        ..de
    };
    assert_eq!(c.admits(us), Err(NetRefusal::Country("US".into())));
}

#[test]
fn network_and_country_must_both_hold() {
    let n = b(&["10.0.0.0/8"], &["DE"]);
    let ok = ClientNet {
        ip: Some("10.0.0.1"),
        country: Some("DE"),
    };
    assert!(n.admits(ok).is_ok());
    assert!(n
        .admits(ClientNet {
            ip: Some("11.0.0.1"),
            ..ok
        })
        .is_err());
    assert!(n
        .admits(ClientNet {
            country: Some("FR"),
            ..ok
        })
        .is_err());
}

#[test]
fn unbound_admits_anyone() {
    assert!(admit(None, || unreachable!(
        "an unbound credential never asks where the client is"
    ))
    .is_ok());
    assert!(NetBinding::default().admits(ClientNet::default()).is_ok());
    assert!(NetBinding::default().is_unbound());
}

#[test]
fn malformed_lists_are_refused() {
    for bad in [
        "10.0.0.0",
        "10.0.0.0/33",
        "10.0.0.1/8",
        "2001:db8::/129",
        "2001:db8::1/32",
        "",
        "10/8",
        "example.com/8",
        "10.0.0.0/+8",
        "10.0.0.0/08x",
        "10.0.0.0/",
        "/8",
        "10.0.0.0/8/8",
    ] {
        assert!(NetBinding::parse(&[bad], &[] as &[&str]).is_err(), "{bad}");
    }
    let e = NetBinding::parse(&["10.0.0.1/8"], &[] as &[&str]).unwrap_err();
    assert!(e.to_string().contains("10.0.0.0/8"), "{e}");
    for bad in ["DEU", "", "D", "d-"] {
        assert!(NetBinding::parse(&[] as &[&str], &[bad]).is_err(), "{bad}");
    }
    let many: Vec<String> = (0..=MAX_NETS).map(|i| format!("10.{i}.0.0/16")).collect();
    assert!(NetBinding::parse(&many, &[] as &[&str]).is_err());
}

#[test]
fn serialises_as_strings_and_rejects_bad_wire_values() {
    let n = b(&["10.0.0.0/8", "2001:db8::/32", "10.0.0.0/8"], &["de"]);
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(
        json,
        r#"{"cidrs":["10.0.0.0/8","2001:db8::/32"],"countries":["DE"]}"#
    );
    assert_eq!(serde_json::from_str::<NetBinding>(&json).unwrap(), n);
    assert!(serde_json::from_str::<NetBinding>(r#"{"cidrs":["10.0.0.0/99"]}"#).is_err());
    assert!(serde_json::from_str::<NetBinding>(r#"{"cidr":["10.0.0.0/8"]}"#).is_err());
}
