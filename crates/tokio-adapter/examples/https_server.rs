//! A tiny HTTPS (HTTP/1.1) server: answers every request with a short text page.
//!
//! ```text
//! cargo run -p tlswire-tokio --example https_server -- 127.0.0.1:8443 server.crt server.key
//! curl --cacert ca.crt https://localhost:8443/hello
//! ```
//!
//! It prints `listening on ADDR` first, so a script can bind port 0 and read the address.

use std::io;

use tlswire_core::{IdentityFiles, ReloadableIdentity, Site, SiteOptions};
use tlswire_tokio::{EofPolicy, TlsAcceptor, TlsStream};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, cert, key] = args.as_slice() else {
        return Err("usage: https_server ADDR CERT.pem KEY.pem".into());
    };
    let identity = ReloadableIdentity::from_files(IdentityFiles::new(cert, key))?;
    let site = Site::new(identity, SiteOptions::default().with_alpn(["http/1.1"]))?;
    // HTTP frames its messages (content-length), so a client that hangs up without
    // close_notify between requests is an ordinary end of connection here.
    let acceptor = TlsAcceptor::new(site.server_config()).with_eof_policy(EofPolicy::Lenient);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let result = async {
                let tls = acceptor.accept(tcp).await?;
                serve(tls).await
            }
            .await;
            if let Err(e) = result {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

/// Answers requests on one connection until the client closes or asks to.
async fn serve(tls: TlsStream<TcpStream>) -> io::Result<()> {
    let mut conn = BufReader::new(tls);
    loop {
        let Some((path, close)) = read_request_head(&mut conn).await? else {
            // The client closed between requests.
            break;
        };
        let body = format!("hello from tlswire over TLS; you asked for {path}\n");
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "connection: close\r\n" } else { "" },
        );
        let tls = conn.get_mut();
        tls.write_all(response.as_bytes()).await?;
        // The response is complete: send it now rather than when the next one is written.
        tls.flush().await?;
        if close {
            break;
        }
    }
    conn.into_inner().shutdown().await
}

/// Reads a request line and headers; returns the path and whether the client asked to close.
/// Request bodies are not supported (this server answers GET and HEAD-like requests).
async fn read_request_head(
    conn: &mut BufReader<TlsStream<TcpStream>>,
) -> io::Result<Option<(String, bool)>> {
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut close = line.trim_end().ends_with("HTTP/1.0");
    let mut head_len = line.len();
    loop {
        line.clear();
        let n = conn.read_line(&mut line).await?;
        head_len += n;
        if n == 0 || head_len > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head truncated or larger than 16 KiB",
            ));
        }
        let header = line.trim_end();
        if header.is_empty() {
            return Ok(Some((path, close)));
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close")
            {
                close = true;
            }
        }
    }
}
