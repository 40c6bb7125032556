//! `--dev`: certificates under `./tlswire-dev` (made once), the embedded store, and the
//! exact `tlswire send` command to try.

use std::path::{Path, PathBuf};

use crate::IngestError;

/// The files `--dev` runs with.
#[derive(Debug, Clone)]
pub struct DevSetup {
    /// The server certificate (also what `tlswire send --ca` pins).
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
    /// The pinned client bundle (`client_certs.crt`).
    pub client_certs: PathBuf,
    /// The dev client's certificate.
    pub client_cert: PathBuf,
    /// The dev client's key.
    pub client_key: PathBuf,
    /// Whether the certificates were made just now.
    pub created: bool,
}

impl DevSetup {
    /// The command that sends a dict to a daemon listening on `port` with this setup.
    pub fn send_command(&self, port: u16) -> String {
        format!(
            "echo '{{\"hello\": \"world\", \"user:1\": {{\"name\": \"ada\", \"age\": 36}}}}' | tlswire send 127.0.0.1:{port} --cert {} --key {} --ca {} -",
            self.client_cert.display(),
            self.client_key.display(),
            self.server_cert.display()
        )
    }
}

/// Makes dev certificates under `dir` (a server for localhost and 127.0.0.1, and one client
/// named `client`) unless they already exist.
pub fn prepare_dev(dir: &Path) -> Result<DevSetup, IngestError> {
    let setup = DevSetup {
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_certs: dir.join("client_certs.crt"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
        created: false,
    };
    let complete = [
        &setup.server_cert,
        &setup.server_key,
        &setup.client_certs,
        &setup.client_cert,
        &setup.client_key,
    ]
    .iter()
    .all(|p| p.exists());
    if complete {
        return Ok(setup);
    }
    let generated =
        tlswire_devcerts::generate(&["localhost", "127.0.0.1"], &["client"]).map_err(|e| {
            IngestError::InvalidSetting {
                key: "dev",
                value: dir.display().to_string(),
                reason: e.to_string(),
            }
        })?;
    generated
        .write_to(dir)
        .map_err(|e| IngestError::InvalidSetting {
            key: "dev",
            value: dir.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(DevSetup {
        created: true,
        ..setup
    })
}
