//! Server-side features: certificate rotation under live connections, 0-RTT early data.

use std::sync::Arc;

use smol::io::{AsyncReadExt, AsyncWriteExt};
use tlswire_core::rustls::pki_types::ServerName;
use tlswire_core::{ReloadableIdentity, Site, SiteOptions};
use tlswire_smol::TlsAcceptor;

use crate::runtime::{on_both_runtimes, Runtime};
use crate::{connector, pki};

on_both_runtimes!(
    certificate_rotation_leaves_live_connections_alone,
    server_accepts_early_data_from_a_resuming_client,
);

/// Echoes `connections` connections, each in its own task.
async fn echo_connections<R: Runtime>(
    listener: R::Listener,
    acceptor: TlsAcceptor,
    connections: usize,
) {
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let tcp = R::accept(&listener).await;
        let acceptor = acceptor.clone();
        tasks.push(R::spawn(async move {
            let tls = acceptor.accept(tcp).await.unwrap();
            let (reader, mut writer) = tls.into_split();
            smol::io::copy(reader, &mut writer).await.unwrap();
            writer.close().await.unwrap();
        }));
    }
    for task in tasks {
        task.await;
    }
}

async fn certificate_rotation_leaves_live_connections_alone<R: Runtime>() {
    let pki = pki();
    let identity = ReloadableIdentity::new(pki.server.certified_key());
    let site = Site::new(identity.clone(), SiteOptions::default()).unwrap();
    let (listener, addr) = R::listen().await;
    let server = R::spawn(echo_connections::<R>(
        listener,
        TlsAcceptor::new(site.server_config()),
        2,
    ));

    let mut before = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    assert_eq!(before.peer().certificates[0], pki.server.cert());

    let rotated = pki.server_for(&["localhost"]);
    identity.replace(rotated.certified_key());
    let mut after = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    assert_eq!(after.peer().certificates[0], rotated.cert());

    for (tls, message) in [(&mut before, b"old"), (&mut after, b"new")] {
        tls.write_all(message).await.unwrap();
        tls.flush().await.unwrap();
        let mut echoed = [0u8; 3];
        tls.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, message);
        tls.close().await.unwrap();
    }
    server.await;
}

/// A site that allows early data reads a resuming client's 0-RTT bytes first. The client is
/// futures-rustls: the core has no client-side 0-RTT yet.
async fn server_accepts_early_data_from_a_resuming_client<R: Runtime>() {
    let pki = pki();
    let mut options = SiteOptions::default();
    options.max_early_data_size = 16 * 1024;
    let site = Site::new(ReloadableIdentity::new(pki.server.certified_key()), options).unwrap();
    let acceptor = TlsAcceptor::new(site.server_config());
    let (listener, addr) = R::listen().await;
    let server = R::spawn(async move {
        let mut early = Vec::new();
        for _ in 0..2 {
            let mut tls = acceptor.accept(R::accept(&listener).await).await.unwrap();
            let mut request = [0u8; 5];
            tls.read_exact(&mut request).await.unwrap();
            early.push(tls.received_early_data());
            tls.write_all(&request).await.unwrap();
            tls.close().await.unwrap();
        }
        early
    });

    let mut config = (*pki.client_config()).clone();
    config.enable_early_data = true;
    let connector = futures_rustls::TlsConnector::from(Arc::new(config)).early_data(true);
    for _ in 0..2 {
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector
            .connect(name, R::connect(addr).await)
            .await
            .unwrap();
        tls.write_all(b"early").await.unwrap();
        tls.flush().await.unwrap();
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"early");
    }
    assert_eq!(
        server.await,
        [false, true],
        "the resumed connection should carry 0-RTT data"
    );
}
