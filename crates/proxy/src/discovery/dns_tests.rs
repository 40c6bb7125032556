//! Name forms, resolv.conf, and SRV priority and weight selection.

use super::*;

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
    SrvRecord {
        priority,
        weight,
        port,
        target: target.into(),
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

fn weight_of(set: &Endpoints, addr: &str) -> f64 {
    let addr: SocketAddr = addr.parse().unwrap();
    set.iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, w)| *w)
        .unwrap()
}

#[test]
fn target_forms() {
    assert_eq!(
        "web.internal:8080".parse::<DnsTarget>().unwrap(),
        DnsTarget::HostPort {
            host: "web.internal".into(),
            port: 8080
        }
    );
    let v6: DnsTarget = "[::1]:80".parse().unwrap();
    assert_eq!(v6.to_string(), "[::1]:80");
    assert_eq!(
        "_Web._tcp.Example.internal.".parse::<DnsTarget>().unwrap(),
        DnsTarget::Srv("_web._tcp.example.internal".into())
    );
    for bad in [
        "web.internal",
        "_web.example",
        "web:http",
        "web:70000",
        "a..b:80",
        "_a._b..c",
    ] {
        let err = bad.parse::<DnsTarget>().unwrap_err();
        assert!(err.contains(bad), "{err}");
    }
}

#[test]
fn nameserver_forms() {
    let ns = |v: &str| Nameserver::try_from(v.to_owned());
    assert_eq!(ns("127.0.0.1:5353").unwrap().0.port(), 5353);
    assert_eq!(ns("::1").unwrap().0, "[::1]:53".parse().unwrap());
    assert!(ns("localhost:53").unwrap_err().contains("localhost:53"));
}

#[test]
fn resolv_conf() {
    let text =
        "# x\nsearch example\nnameserver 10.0.0.2\nnameserver ::1\nnameserver fe80::1%eth0\n";
    assert_eq!(
        resolv_conf_nameservers(text),
        vec!["10.0.0.2:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
    );
    assert_eq!(
        resolv_conf_nameservers("options ndots:2\n"),
        vec!["127.0.0.1:53".parse().unwrap()]
    );
}

#[test]
fn lowest_priority_number_with_addresses_wins_and_weights_carry_over() {
    let records = vec![
        (srv(10, 3, 8000, "a"), ips(&["10.0.0.1"])),
        (srv(10, 1, 8001, "b"), ips(&["10.0.0.2"])),
        (srv(20, 100, 9000, "c"), ips(&["10.0.0.3"])),
        // Priority 5 would win, but its target has no address.
        (srv(5, 1, 7000, "gone"), Vec::new()),
    ];
    let set = select_srv(&records);
    assert_eq!(set.len(), 2);
    assert_eq!(weight_of(&set, "10.0.0.1:8000"), 3.0);
    assert_eq!(weight_of(&set, "10.0.0.2:8001"), 1.0);
}

#[test]
fn zero_weights_get_a_small_share_unless_all_are_zero() {
    let set = select_srv(&[
        (srv(0, 50, 1, "a"), ips(&["10.0.0.1"])),
        (srv(0, 200, 2, "b"), ips(&["10.0.0.2"])),
        (srv(0, 0, 3, "c"), ips(&["10.0.0.3"])),
    ]);
    assert_eq!(weight_of(&set, "10.0.0.3:3"), 0.5);
    let set = select_srv(&[
        (srv(0, 0, 1, "a"), ips(&["10.0.0.1"])),
        (srv(0, 0, 2, "b"), ips(&["10.0.0.2"])),
    ]);
    assert!(set.iter().all(|(_, w)| *w == 1.0), "{set:?}");
}

#[test]
fn a_weight_is_split_across_a_targets_addresses_and_duplicates_add_up() {
    let set = select_srv(&[
        (srv(0, 4, 80, "multi"), ips(&["10.0.0.1", "::1"])),
        (srv(0, 2, 80, "single"), ips(&["10.0.0.9"])),
        (srv(0, 1, 80, "alias"), ips(&["10.0.0.9"])),
    ]);
    assert_eq!(weight_of(&set, "10.0.0.1:80"), 2.0);
    assert_eq!(weight_of(&set, "[::1]:80"), 2.0);
    assert_eq!(weight_of(&set, "10.0.0.9:80"), 3.0);
    assert!(select_srv(&[(srv(0, 1, 80, "x"), Vec::new())]).is_empty());
    assert!(select_srv(&[]).is_empty());
}
