//! `tlswire client HOST:PORT`: standard input to a TLS server, its replies to standard output,
//! like `openssl s_client -quiet`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use tlswire_core::{load_identity, load_roots, ClientOptions, ServerTrust};
use tlswire_tokio::TlsConnector;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// `tlswire client …`
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Server to connect to, as HOST:PORT (`[::1]:443` for IPv6).
    target: String,
    /// CA certificates (PEM) to verify the server with; without it, the OS trust store.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Server name to send and verify (default: HOST).
    #[arg(long, value_name = "NAME")]
    sni: Option<String>,
    /// ALPN protocols to offer, most preferred first (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "PROTO,...")]
    alpn: Vec<String>,
    /// Accept any server certificate. Only for testing: no security at all.
    #[arg(long, conflicts_with = "ca")]
    insecure: bool,
}

pub(crate) fn run(args: ClientArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(relay(&args, tokio::io::stdin(), tokio::io::stdout()));
    // Standard input is read on a blocking thread that may still wait for a line; do not
    // wait for it once the server has closed.
    runtime.shutdown_background();
    result
}

/// Splits HOST:PORT, accepting `[v6]:port`.
fn split_target(target: &str) -> anyhow::Result<(&str, u16)> {
    let Some((host, port)) = target.rsplit_once(':') else {
        bail!("{target:?} is not HOST:PORT");
    };
    let port = port
        .parse()
        .with_context(|| format!("{port:?} in {target:?} is not a port number"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        bail!("{target:?} has no host");
    }
    Ok((host, port))
}

fn client_config(args: &ClientArgs) -> anyhow::Result<Arc<tlswire_core::rustls::ClientConfig>> {
    let trust = if args.insecure {
        eprintln!("tlswire client: --insecure: the server's certificate is NOT verified");
        ServerTrust::DangerousAcceptAnyCertificate
    } else if let Some(ca) = &args.ca {
        ServerTrust::Roots(Arc::new(load_roots(ca).map_err(config_error)?))
    } else {
        ServerTrust::Platform
    };
    let mut options = ClientOptions::new(trust).with_alpn(&args.alpn);
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        options = options.with_identity(load_identity(cert, key).map_err(config_error)?);
    }
    options.build().map_err(config_error)
}

/// The core's configuration errors already name the file and the OS reason; keep them as one
/// message rather than repeating the reason as a cause.
fn config_error(e: tlswire_core::ConfigError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Connects, then copies `input` to the server and the server's bytes to `output` until the
/// server closes. At the end of `input` it sends close_notify and keeps reading.
async fn relay<I, O>(args: &ClientArgs, mut input: I, mut output: O) -> anyhow::Result<()>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let (host, port) = split_target(&args.target)?;
    let server_name = args.sni.as_deref().unwrap_or(host);
    let connector = TlsConnector::new(client_config(args)?);
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {}", args.target))?;
    let tls = connector
        .connect(server_name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {} as {server_name:?}", args.target))?;
    let peer = tls.peer();
    eprintln!(
        "tlswire client: connected to {} ({}, {}, ALPN {})",
        args.target,
        peer.version
            .map_or_else(|| "?".into(), |v| format!("{v:?}")),
        peer.cipher_suite
            .map_or_else(|| "?".into(), |c| format!("{c:?}")),
        peer.alpn.as_deref().map_or_else(
            || "none".into(),
            |p| String::from_utf8_lossy(p).into_owned()
        ),
    );
    let (mut reader, mut writer) = tls.into_split();
    let download = async {
        let result = tokio::io::copy(&mut reader, &mut output).await;
        output.flush().await?;
        result
    };
    let upload = async {
        tokio::io::copy(&mut input, &mut writer).await?;
        writer.shutdown().await
    };
    tokio::pin!(download, upload);
    let mut upload_done = false;
    // Runs until the server's side ends; the upload may finish first (end of input) or never.
    let downloaded = loop {
        tokio::select! {
            result = &mut download => break result,
            result = &mut upload, if !upload_done => {
                upload_done = true;
                result.with_context(|| format!("sending to {}", args.target))?;
            }
        }
    };
    match downloaded {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            eprintln!("tlswire client: warning: {e}");
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("reading from {}", args.target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlswire_testkit::{temp_dir, TestPki};
    use tokio::io::AsyncReadExt;

    fn args(target: String, ca: PathBuf) -> ClientArgs {
        ClientArgs {
            target,
            ca: Some(ca),
            cert: None,
            key: None,
            sni: Some("localhost".into()),
            alpn: vec!["echo".into()],
            insecure: false,
        }
    }

    #[test]
    fn targets_split_into_host_and_port() {
        assert_eq!(split_target("localhost:443").unwrap(), ("localhost", 443));
        assert_eq!(split_target("[::1]:8443").unwrap(), ("::1", 8443));
        assert!(split_target("localhost").is_err());
        assert!(split_target("localhost:https").is_err());
        assert!(split_target(":443").is_err());
    }

    /// The relay sends input, half-closes with close_notify, and prints everything the server
    /// sent back until its close_notify.
    #[tokio::test]
    async fn relays_input_and_output_through_a_tls_echo_server() {
        let pki = TestPki::new();
        let dir = temp_dir("cli-client");
        pki.write_all(&dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let site = pki.site(&pki.server, tlswire_core::ClientAuth::None, &["echo"]);
        let acceptor = tlswire_tokio::TlsAcceptor::new(site.server_config());
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            assert_eq!(tls.peer().alpn.as_deref(), Some(b"echo".as_slice()));
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            tls.write_all(&got).await.unwrap();
            tls.shutdown().await.unwrap();
        });
        let mut output = Vec::new();
        relay(
            &args(addr.to_string(), dir.join("ca.crt")),
            b"line one\nline two\n".as_slice(),
            &mut output,
        )
        .await
        .unwrap();
        assert_eq!(output, b"line one\nline two\n");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_untrusted_server_is_a_clear_error() {
        let pki = TestPki::new();
        let other = TestPki::new();
        let dir = temp_dir("cli-client-untrusted");
        other.write_all(&dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tlswire_tokio::TlsAcceptor::new(pki.server_config());
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = acceptor.accept(tcp).await;
        });
        let e = relay(
            &args(addr.to_string(), dir.join("ca.crt")),
            tokio::io::empty(),
            Vec::new(),
        )
        .await
        .unwrap_err();
        let message = format!("{e:#}");
        assert!(message.contains("TLS handshake with"), "{message}");
        assert!(message.contains("certificate"), "{message}");
    }
}
