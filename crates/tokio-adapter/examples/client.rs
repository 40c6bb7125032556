//! A TLS client: standard input goes to the server, the server's bytes go to standard output.
//! At the end of input it sends close_notify and prints the rest of the server's reply.
//!
//! ```text
//! cargo run -p tlswire-tokio --example client -- localhost:4433 ca.crt
//! ```

use std::sync::Arc;

use tlswire_core::{load_roots, ClientOptions, ServerTrust};
use tlswire_tokio::TlsConnector;
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, ca] = args.as_slice() else {
        return Err("usage: client HOST:PORT CA.pem".into());
    };
    let host = target
        .rsplit_once(':')
        .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
        .ok_or("HOST:PORT expected")?;
    let roots = load_roots(ca)?;
    let config = ClientOptions::new(ServerTrust::Roots(Arc::new(roots))).build()?;
    let tcp = tokio::net::TcpStream::connect(target.as_str()).await?;
    let tls = TlsConnector::new(config).connect(host, tcp).await?;
    let peer = tls.peer();
    eprintln!(
        "connected: {:?}, {:?}",
        peer.version.ok_or("no version")?,
        peer.cipher_suite.ok_or("no cipher suite")?
    );
    let (mut reader, mut writer) = tls.into_split();
    let upload = async move {
        tokio::io::copy(&mut tokio::io::stdin(), &mut writer).await?;
        // End of input: close_notify, then the TCP write side.
        writer.shutdown().await
    };
    let download = async move {
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut reader, &mut stdout).await?;
        stdout.flush().await
    };
    let (up, down) = tokio::join!(upload, download);
    down?;
    up?;
    Ok(())
}
