//! A TLS echo server and client on async-std.
//!
//! ```text
//! # both ends in one process, with fresh development certificates:
//! cargo run -p tlswire-smol --example async_std_echo
//! # or separately:
//! cargo run -p tlswire-smol --example async_std_echo -- server 127.0.0.1:4433 server.crt server.key
//! cargo run -p tlswire-smol --example async_std_echo -- client 127.0.0.1:4433 ca.crt localhost "hello"
//! ```

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

// async-std's own extension traits have no `close`; futures' do.
use async_std::net::{TcpListener, TcpStream};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use tlswire_core::{
    load_identity, load_roots, ClientOptions, ReloadableIdentity, ServerTrust, Site, SiteOptions,
};
use tlswire_smol::{TlsAcceptor, TlsConnector};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    async_std::task::block_on(async {
        match args.as_slice() {
            [] => demo().await,
            ["server", addr, cert, key] => {
                let listener = TcpListener::bind(addr).await?;
                serve(listener, acceptor(Path::new(cert), Path::new(key))?).await
            }
            ["client", addr, ca, name, message] => {
                let reply = ask(addr.parse()?, Path::new(ca), name, message).await?;
                println!("{reply}");
                Ok(())
            }
            _ => Err(
                "usage: async_std_echo [server ADDR CERT KEY | client ADDR CA NAME MESSAGE]".into(),
            ),
        }
    })
}

fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let identity = ReloadableIdentity::new(load_identity(cert, key)?);
    let site = Site::new(identity, SiteOptions::default())?;
    Ok(TlsAcceptor::new(site.server_config()))
}

/// Echoes every connection until its client closes, each in its own task.
async fn serve(listener: TcpListener, acceptor: TlsAcceptor) -> Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        async_std::task::spawn(async move {
            let echoed = async {
                let tls = acceptor.accept(tcp).await?;
                let (mut reader, mut writer) = tls.into_split();
                // Reads flush what the write half buffered, so copy needs no flush of its own.
                let n = futures_util::io::copy(&mut reader, &mut writer).await?;
                writer.close().await?; // close_notify, then TCP FIN
                Ok::<u64, std::io::Error>(n)
            };
            match echoed.await {
                Ok(n) => eprintln!("{peer}: echoed {n} bytes"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
        });
    }
}

/// Sends `message`, closes our side, and returns everything the server sent back.
async fn ask(addr: SocketAddr, ca: &Path, name: &str, message: &str) -> Result<String> {
    let config = ClientOptions::new(ServerTrust::Roots(load_roots(ca)?.into())).build()?;
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = TlsConnector::new(config).connect(name, tcp).await?;
    tls.write_all(message.as_bytes()).await?;
    tls.close().await?; // flushes, sends close_notify; reading goes on
    let mut reply = String::new();
    tls.read_to_string(&mut reply).await?;
    Ok(reply)
}

async fn demo() -> Result<()> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tlswire-async-std-echo-{}", std::process::id()));
    let files = tlswire_devcerts::generate(&["localhost"], &[])?.write_to(&dir)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = async_std::task::spawn(serve(
        listener,
        acceptor(&files.server_cert, &files.server_key)?,
    ));
    let reply = ask(
        addr,
        &files.ca_cert,
        "localhost",
        "hello over TLS on async-std",
    )
    .await?;
    println!("echoed: {reply}");
    drop(server);
    std::fs::remove_dir_all(&dir)?;
    if reply == "hello over TLS on async-std" {
        Ok(())
    } else {
        Err(format!("unexpected echo {reply:?}").into())
    }
}
