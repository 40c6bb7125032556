//! Tests of loading, translating and checking configuration files.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigFileError> {
    Config::from_yaml(text, Path::new("proxy.yml"), Path::new("/etc/tlswire"))
}

#[test]
fn linkerd_tcp_shape() {
    let config = parse(
        r#"
admin:
  port: 9989
  metricsIntervalSecs: 10
routers:
  - label: default
    interpreter:
      kind: io.l5d.namerd.http
      baseUrl: http://localhost:4180
      namespace: default
      periodSecs: 20
    servers:
      - port: 7474
        dstName: /svc/default
        connectTimeoutMs: 500
      - ip: 0.0.0.0
        port: 7575
        dstName: /svc/default
        connectionLifetimeSecs: 60
        maxConcurrency: 100
        tls:
          alpnProtocols: [h2]
          defaultIdentity:
            privateKey: private.pem
            certs: [cert.pem, ca-chain.pem]
          identities:
            api.example.com:
              privateKey: /keys/api.key
              certs: [/keys/api.crt]
    client:
      tls:
        dnsName: "www.google.com"
        trustCerts: [ca-chain.pem]
"#,
    )
    .unwrap();
    assert_eq!(config.admin.port, 9989);
    assert_eq!(config.admin.grace_secs, 10);
    let router = &config.routers[0];
    assert!(matches!(
        router.interpreter,
        InterpreterConfig::Namerd {
            period_secs: 20,
            ..
        }
    ));
    let tls = router.servers[1].tls.as_ref().unwrap();
    let default = tls.default_identity.as_ref().unwrap();
    assert_eq!(default.private_key, Path::new("/etc/tlswire/private.pem"));
    assert_eq!(
        tls.identities["api.example.com"].certs[0],
        Path::new("/keys/api.crt")
    );
    assert_eq!(router.servers[1].max_concurrency, 100);
    assert_eq!(router.servers[0].ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let client_tls = router.client.tls.as_ref().unwrap();
    assert_eq!(
        client_tls.trust_certs[0],
        Path::new("/etc/tlswire/ca-chain.pem")
    );
}

#[test]
fn older_proxies_shape() {
    let config = parse(
        r#"
proxies:
  - servers:
      - addr: 127.0.0.1:7474
      - addr: 0.0.0.0:7575
        tls:
          private_key_path: private.pem
          cert_paths:
            - cert.pem
            - ../eg-ca/ca/intermediate/certs/ca-chain.cert.pem
    namerd:
      addr: 127.0.0.1:4180
      path: /svc/google
    client:
      tls:
        name: "www.google.com"
        trust_cert_paths:
          - ../eg-ca/ca/intermediate/certs/ca-chain.cert.pem
          - /usr/local/etc/openssl/cert.pem
"#,
    )
    .unwrap();
    let router = &config.routers[0];
    assert_eq!(router.servers.len(), 2);
    assert_eq!(router.servers[1].port, 7575);
    assert_eq!(router.servers[1].dst_name, "/svc/google");
    let InterpreterConfig::Namerd { base_url, .. } = &router.interpreter else {
        panic!("namerd interpreter expected");
    };
    assert_eq!(base_url, "http://127.0.0.1:4180");
    let id = router.servers[1]
        .tls
        .as_ref()
        .unwrap()
        .default_identity
        .as_ref()
        .unwrap();
    assert_eq!(id.certs.len(), 2);
    assert_eq!(
        router.client.tls.as_ref().unwrap().dns_name,
        "www.google.com"
    );
    assert_eq!(
        router.client.tls.as_ref().unwrap().trust_certs[1],
        Path::new("/usr/local/etc/openssl/cert.pem")
    );
}

#[test]
fn unknown_key_names_key_and_line() {
    let err = parse("routers:\n  - servers:\n      - port: 1\n        dstName: /svc/a\n        maxConcurency: 3\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("maxConcurency"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(err.starts_with("proxy.yml: "), "{err}");
}

#[test]
fn dns_interpreter_names_and_nameservers() {
    use crate::discovery::dns::{DnsTarget, Nameserver};
    let config = parse(
        r#"
routers:
  - interpreter:
      kind: io.l5d.dns
      names:
        /svc/web: web.internal:8080
        /svc/api: _api._tcp.example.internal
      nameservers: ["127.0.0.1:5353", "::1"]
    servers: [{port: 1, dstName: /svc/web}]
"#,
    )
    .unwrap();
    let InterpreterConfig::Dns {
        names,
        nameservers,
        period_secs,
    } = &config.routers[0].interpreter
    else {
        panic!("dns interpreter expected");
    };
    assert_eq!(*period_secs, 30);
    assert_eq!(
        names["/svc/api"],
        DnsTarget::Srv("_api._tcp.example.internal".into())
    );
    assert!(matches!(
        names["/svc/web"],
        DnsTarget::HostPort { port: 8080, .. }
    ));
    assert_eq!(
        nameservers,
        &[
            Nameserver("127.0.0.1:5353".parse().unwrap()),
            Nameserver("[::1]:53".parse().unwrap())
        ]
    );
}

#[test]
fn bad_dns_values_are_named() {
    let with = |interpreter: &str| {
        parse(&format!(
            "routers:\n  - interpreter: {interpreter}\n    servers: [{{port: 1, dstName: /a}}]\n"
        ))
        .unwrap_err()
        .to_string()
    };
    let err = with("{kind: io.l5d.dns, names: {/a: web.internal}}");
    assert!(
        err.contains("routers[0]: interpreter.names: \"web.internal\" is neither"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
    let err = with("{kind: io.l5d.dns, nameservers: [resolver.internal]}");
    assert!(
        err.contains("interpreter.nameservers: \"resolver.internal\""),
        "{err}"
    );
    let err = with("{kind: io.l5d.dns, nameserver: [127.0.0.1]}");
    assert!(err.contains("nameserver"), "{err}");
}

#[test]
fn invalid_values_name_the_key() {
    let err = parse("routers:\n  - servers:\n      - port: 1\n        dstName: svc\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("routers[0].servers[0].dstName: a destination name starts with `/`")
            && err.ends_with("at line 4"),
        "{err}"
    );
    let err = parse(
            "routers:\n  - servers:\n      - port: 1\n        dstName: /a\n    client:\n      tls:\n        dnsName: x\n",
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("routers[0].client.tls: needs trustCerts") && err.ends_with("at line 7"),
        "{err}"
    );
}

#[test]
fn namerd_over_tls_needs_https_and_trust() {
    let router = |interpreter: &str| {
        format!("routers:\n  - interpreter: {interpreter}\n    servers: [{{port: 1, dstName: /svc/a}}]\n")
    };
    let config = parse(&router(
        "{kind: io.l5d.namerd.http, baseUrl: \"https://namerd:4180\", tls: {dnsName: namerd, trustCerts: [ca.crt]}}",
    ))
    .unwrap();
    let InterpreterConfig::Namerd { tls: Some(tls), .. } = &config.routers[0].interpreter else {
        panic!("not namerd with tls: {:?}", config.routers[0].interpreter);
    };
    assert_eq!(tls.trust_certs, [Path::new("/etc/tlswire/ca.crt")]);

    for (interpreter, expected) in [
        (
            "{kind: io.l5d.namerd.http, baseUrl: \"https://namerd:4180\"}",
            "routers[0].interpreter.tls: an https:// baseUrl needs `tls`",
        ),
        (
            "{kind: io.l5d.namerd.http, baseUrl: \"http://namerd:4180\", tls: {dnsName: namerd, trustCerts: [ca.crt]}}",
            "routers[0].interpreter.baseUrl: `tls` is set, so baseUrl must start with https://",
        ),
        (
            "{kind: io.l5d.namerd.http, baseUrl: \"https://namerd:4180\", tls: {dnsName: namerd}}",
            "routers[0].interpreter.tls: needs trustCerts or pinnedCerts",
        ),
    ] {
        let err = parse(&router(interpreter)).unwrap_err().to_string();
        assert!(err.contains(expected), "{interpreter}: {err}");
    }
}
