//! A TLS echo server: every connection gets back what it sends, then a clean close.
//!
//! ```text
//! cargo run -p tlswire-tokio --example echo_server -- 127.0.0.1:4433 server.crt server.key
//! openssl s_client -connect 127.0.0.1:4433 -CAfile ca.crt -quiet
//! ```
//!
//! Make test certificates with `tlswire certs gen --out certs --hosts localhost,127.0.0.1`.

use tlswire_core::{IdentityFiles, ReloadableIdentity, Site, SiteOptions};
use tlswire_tokio::TlsAcceptor;
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, cert, key] = args.as_slice() else {
        return Err("usage: echo_server ADDR CERT.pem KEY.pem".into());
    };
    let identity = ReloadableIdentity::from_files(IdentityFiles::new(cert, key))?;
    let site = Site::new(identity, SiteOptions::default())?;
    let acceptor = TlsAcceptor::new(site.server_config());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let result: std::io::Result<u64> = async {
                let tls = acceptor.accept(tcp).await?;
                let (mut reader, mut writer) = tls.into_split();
                let copied = tokio::io::copy(&mut reader, &mut writer).await?;
                writer.shutdown().await?;
                Ok(copied)
            }
            .await;
            match result {
                Ok(n) => eprintln!("{peer}: echoed {n} bytes"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
        });
    }
}
