//! Configuration from files and its failures, certificate reload, and the client-auth modes.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::path::Path;

use tlswire_core::{
    load_certs, load_identity, load_pinned, load_private_key, load_roots, ClientAuth, ConfigError,
    Error, IdentityFiles, ReloadableIdentity, Site, SiteOptions,
};
use tlswire_testkit::{temp_dir, Pair, Side, TestPki};

fn write(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A PEM block whose base64 is fine but whose contents are not DER.
const NOT_DER: &str = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";

#[test]
fn a_missing_file_is_named() {
    let dir = temp_dir("config-missing");
    let missing = dir.join("nope.pem");
    for e in [
        load_certs(&missing).unwrap_err(),
        load_private_key(&missing).unwrap_err(),
        load_roots(&missing).unwrap_err(),
        load_pinned(&missing).unwrap_err(),
    ] {
        assert!(
            matches!(&e, ConfigError::Io { path, .. } if *path == missing),
            "{e:?}"
        );
        assert!(e.to_string().contains("nope.pem"), "{e}");
    }
}

#[test]
fn a_file_without_a_key_or_certificate_says_so() {
    let pki = TestPki::new();
    let dir = temp_dir("config-nokey");
    let cert_only = write(&dir, "x.pem", &pki.server.cert_pem);
    let e = load_private_key(&cert_only).unwrap_err();
    assert!(matches!(e, ConfigError::NoPrivateKey { .. }), "{e:?}");
    assert!(e.to_string().starts_with("no private key"), "{e}");
    assert!(e.to_string().ends_with("x.pem"), "{e}");

    let key_only = write(&dir, "k.pem", &pki.server.key_pem);
    let e = load_certs(&key_only).unwrap_err();
    assert!(matches!(e, ConfigError::NoCertificates { .. }), "{e:?}");
    assert!(e.to_string().contains("k.pem"), "{e}");
}

#[test]
fn a_bad_certificate_is_named_by_position() {
    let pki = TestPki::new();
    let dir = temp_dir("config-baddder");
    let bundle = write(&dir, "x.pem", &format!("{}{NOT_DER}", pki.server.cert_pem));
    let e = load_certs(&bundle).unwrap_err();
    assert!(
        matches!(e, ConfigError::InvalidCertificate { index: 2, .. }),
        "{e:?}"
    );
    let message = e.to_string();
    assert!(
        message.starts_with(&format!("certificate 2 in {}", bundle.display())),
        "{message}"
    );
    assert!(load_roots(&bundle).is_err());
    assert!(load_pinned(&bundle).is_err());

    let broken = write(
        &dir,
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let e = load_certs(&broken).unwrap_err();
    assert!(matches!(e, ConfigError::InvalidPem { .. }), "{e:?}");
    assert!(e.to_string().contains("broken.pem"), "{e}");
}

#[test]
fn a_key_that_does_not_match_is_refused() {
    let pki = TestPki::new();
    let dir = temp_dir("config-mismatch");
    let (cert, _) = pki.server.write(&dir, "server");
    let (_, other_key) = pki.client.write(&dir, "client");
    let e = load_identity(&cert, &other_key).unwrap_err();
    assert!(matches!(e, ConfigError::KeyMismatch { .. }), "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains("client.key") && message.contains("server.crt"),
        "{message}"
    );
}

#[test]
fn pem_keys_in_every_format_load() {
    let pki = TestPki::new();
    let dir = temp_dir("config-formats");
    let (cert, key) = pki.server.write(&dir, "server");
    load_identity(&cert, &key).unwrap();
    let roots = load_roots(write(&dir, "ca.pem", &pki.ca.cert_pem)).unwrap();
    assert_eq!(roots.len(), 1);
    let pins = load_pinned(write(
        &dir,
        "pins.pem",
        &format!("{}{}", pki.client.cert_pem, pki.client2.cert_pem),
    ))
    .unwrap();
    assert_eq!(pins.len(), 2);
    assert!(pins.contains(&pki.client2.cert()));
}

/// Handshakes a fresh client against `site`; returns the certificate it was served.
fn served_certificate(pki: &TestPki, site: &Site) -> rustls::pki_types::CertificateDer<'static> {
    let mut pair = Pair::from_configs(pki.client_config(), site.server_config(), "localhost");
    pair.handshake().unwrap();
    pair.client.session.peer().certificates[0].clone()
}

#[test]
fn reload_switches_new_handshakes_and_keeps_live_sessions() {
    let pki = TestPki::new();
    let second = pki.server_for(&["localhost"]);
    let dir = temp_dir("config-reload");
    let (cert, key) = pki.server.write(&dir, "live");
    let identity = ReloadableIdentity::from_files(IdentityFiles::new(&cert, &key)).unwrap();
    let site = Site::new(identity.clone(), SiteOptions::default()).unwrap();

    let mut live = Pair::from_configs(pki.client_config(), site.server_config(), "localhost");
    live.handshake().unwrap();
    assert_eq!(
        live.client.session.peer().certificates[0],
        pki.server.cert()
    );

    // New files: new handshakes get the new certificate.
    second.write(&dir, "live");
    identity.reload().unwrap();
    assert_eq!(served_certificate(&pki, &site), second.cert());

    // Broken files: the reload fails naming the file, and the last good certificate stays.
    std::fs::write(&cert, NOT_DER).unwrap();
    let e = identity.reload().unwrap_err();
    assert!(e.to_string().contains("live.crt"), "{e}");
    assert_eq!(served_certificate(&pki, &site), second.cert());
    pki.server.write(&dir, "live");
    std::fs::write(&key, &pki.client.key_pem).unwrap();
    let e = identity.reload().unwrap_err();
    assert!(matches!(e, ConfigError::KeyMismatch { .. }), "{e:?}");
    assert_eq!(served_certificate(&pki, &site), second.cert());

    // In memory: replace.
    identity.replace(pki.server.certified_key());
    assert_eq!(served_certificate(&pki, &site), pki.server.cert());

    // The session made before all this still works and still has its first certificate.
    live.send(Side::Client, b"still here");
    live.send(Side::Server, b"so am I");
    assert_eq!(live.server.received, b"still here");
    assert_eq!(live.client.received, b"so am I");
    assert_eq!(
        live.client.session.peer().certificates[0],
        pki.server.cert()
    );
}

#[test]
fn optional_client_auth_accepts_anonymous_and_verified_clients() {
    let pki = TestPki::new();
    let site = pki.site(&pki.server, ClientAuth::Optional(pki.roots()), &[]);
    let mut anonymous = Pair::from_configs(pki.client_config(), site.server_config(), "localhost");
    anonymous.handshake().unwrap();
    assert!(anonymous.server.session.peer().certificates.is_empty());

    let mut known = Pair::from_configs(
        pki.client_config_with(&pki.client),
        site.server_config(),
        "localhost",
    );
    known.handshake().unwrap();
    assert_eq!(
        known.server.session.peer().certificates[0],
        pki.client.cert()
    );

    let mut stranger = Pair::from_configs(
        pki.client_config_with(&pki.stranger_client),
        site.server_config(),
        "localhost",
    );
    assert!(stranger.handshake().is_err());
    assert!(matches!(
        stranger.server.error,
        Some(Error::Tls(rustls::Error::InvalidCertificate(_)))
    ));
}

#[test]
fn pinned_client_auth_can_be_replaced_live() {
    let pki = TestPki::new();
    let site = pki.site(
        &pki.server,
        ClientAuth::Pinned(pki.pinned(&[&pki.client])),
        &[],
    );
    assert_eq!(site.client_auth_mode(), "pinned");
    let handshake = |identity| {
        Pair::from_configs(
            pki.client_config_with(identity),
            site.server_config(),
            "localhost",
        )
        .handshake()
    };
    handshake(&pki.client).unwrap();
    assert!(handshake(&pki.client2).is_err());
    // A pinned set that names client2 instead, for new handshakes only.
    site.set_client_auth(ClientAuth::Pinned(pki.pinned(&[&pki.client2])))
        .unwrap();
    handshake(&pki.client2).unwrap();
    assert!(handshake(&pki.client).is_err());
    // An anonymous client is refused by a pinned site.
    let mut anonymous = Pair::from_configs(pki.client_config(), site.server_config(), "localhost");
    assert!(anonymous.handshake().is_err());
}

#[test]
fn required_client_auth_with_an_empty_store_is_a_config_error() {
    let pki = TestPki::new();
    let e = Site::new(
        ReloadableIdentity::new(pki.server.certified_key()),
        SiteOptions::default()
            .with_client_auth(ClientAuth::Required(rustls::RootCertStore::empty().into())),
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Verifier(_)), "{e:?}");
}

#[test]
fn client_verifies_the_server() {
    let pki = TestPki::new();
    for (identity, what) in [
        (&pki.expired_server, "expired"),
        (&pki.wrong_name_server, "wrong name"),
    ] {
        let site = pki.site(identity, ClientAuth::None, &[]);
        let mut pair = Pair::from_configs(pki.client_config(), site.server_config(), "localhost");
        assert!(pair.handshake().is_err(), "{what}");
        assert!(
            matches!(
                pair.client.error,
                Some(Error::Tls(rustls::Error::InvalidCertificate(_)))
            ),
            "{what}: {:?}",
            pair.client.error
        );
    }
}
