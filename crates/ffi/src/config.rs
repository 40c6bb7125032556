//! Client and server configurations: built up by setter calls, turned into rustls
//! configurations when the first connection needs them.

use std::ffi::{c_char, c_int};
use std::sync::{Arc, Mutex, PoisonError};

use tlswire_core::rustls::sign::CertifiedKey;
use tlswire_core::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tlswire_core::{
    load_identity, load_pinned, load_roots, ClientAuth, ClientOptions, ReloadableIdentity,
    ServerTrust, Site, SiteOptions,
};

use crate::error::{boundary, FfiError, TLSWIRE_ERROR_CONFIG, TLSWIRE_ERROR_INVALID_ARGUMENT};
use crate::ptr::{c_str, out_ptr, this, this_mut};

/// Client authentication: none is asked for.
pub const TLSWIRE_CLIENT_AUTH_NONE: i32 = 0;
/// Client authentication: a certificate is asked for; one sent must chain to the CA file.
pub const TLSWIRE_CLIENT_AUTH_OPTIONAL: i32 = 1;
/// Client authentication: a certificate chaining to the CA file is required.
pub const TLSWIRE_CLIENT_AUTH_REQUIRED: i32 = 2;
/// Client authentication: the client's certificate must be one of those in the file, exactly
/// (self-signed certificates welcome).
pub const TLSWIRE_CLIENT_AUTH_PINNED: i32 = 3;

enum Trust {
    Roots(RootCertStore),
    Os,
    DangerousAcceptAny,
}

/// How a client connects: whom it trusts, its certificate, ALPN. Made by
/// `tlswire_client_config_new`, freed by `tlswire_client_config_free`; it may be freed while
/// connections made with it live on.
pub struct tlswire_client_config {
    trust: Option<Trust>,
    identity: Option<CertifiedKey>,
    alpn: Vec<Vec<u8>>,
    built: Mutex<Option<Arc<ClientConfig>>>,
}

impl tlswire_client_config {
    /// The rustls configuration, built once.
    pub(crate) fn rustls(&self) -> Result<Arc<ClientConfig>, FfiError> {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(config) = &*built {
            return Ok(config.clone());
        }
        let trust =
            match &self.trust {
                None => return Err(FfiError::new(
                    TLSWIRE_ERROR_CONFIG,
                    "the client config trusts nothing: call tlswire_client_config_trust_pem_file, \
                     tlswire_client_config_trust_os or \
                     tlswire_client_config_dangerous_accept_any_certificate",
                )),
                Some(Trust::Roots(roots)) => ServerTrust::Roots(Arc::new(roots.clone())),
                Some(Trust::Os) => ServerTrust::Platform,
                Some(Trust::DangerousAcceptAny) => ServerTrust::DangerousAcceptAnyCertificate,
            };
        let mut options = ClientOptions::new(trust).with_alpn(&self.alpn);
        if let Some(identity) = &self.identity {
            options = options.with_identity(identity.clone());
        }
        let config = options
            .build()
            .map_err(|e| FfiError::new(TLSWIRE_ERROR_CONFIG, e.to_string()))?;
        *built = Some(config.clone());
        Ok(config)
    }

    fn changed(&mut self) {
        *self.built.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Makes an empty client configuration in `*out`. Choose a trust source before connecting.
///
/// # Safety
/// `out` must be NULL or point to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn tlswire_client_config_new(out: *mut *mut tlswire_client_config) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a writable pointer slot.
        let mut out = unsafe { out_ptr(out, "out") }?;
        out.set(Box::into_raw(Box::new(tlswire_client_config {
            trust: None,
            identity: None,
            alpn: Vec::new(),
            built: Mutex::new(None),
        })));
        Ok(())
    })
}

/// Trusts the CA certificates in the PEM file at `path` (adds to those trusted already).
///
/// # Safety
/// `config` must be NULL or from `tlswire_client_config_new`; `path` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn tlswire_client_config_trust_pem_file(
    config: *mut tlswire_client_config,
    path: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a live config and a C string.
        let (config, path) = unsafe { (this_mut(config, "config")?, c_str(path, "path")?) };
        let roots =
            load_roots(path).map_err(|e| FfiError::new(TLSWIRE_ERROR_CONFIG, e.to_string()))?;
        match &mut config.trust {
            Some(Trust::Roots(existing)) => existing.roots.extend(roots.roots),
            other => *other = Some(Trust::Roots(roots)),
        }
        config.changed();
        Ok(())
    })
}

/// Trusts the operating system's certificate store (rustls-platform-verifier).
///
/// # Safety
/// `config` must be NULL or from `tlswire_client_config_new`.
#[no_mangle]
pub unsafe extern "C" fn tlswire_client_config_trust_os(
    config: *mut tlswire_client_config,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a live config.
        let config = unsafe { this_mut(config, "config") }?;
        config.trust = Some(Trust::Os);
        config.changed();
        Ok(())
    })
}

/// Accepts ANY server certificate, from anyone, for any name. This gives no security at all:
/// only for tests against throwaway servers.
///
/// # Safety
/// `config` must be NULL or from `tlswire_client_config_new`.
#[no_mangle]
pub unsafe extern "C" fn tlswire_client_config_dangerous_accept_any_certificate(
    config: *mut tlswire_client_config,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a live config.
        let config = unsafe { this_mut(config, "config") }?;
        tracing::warn!("client config accepts any server certificate: no security");
        config.trust = Some(Trust::DangerousAcceptAny);
        config.changed();
        Ok(())
    })
}

/// Presents the certificate chain and key in these PEM files when a server asks (mutual TLS).
///
/// # Safety
/// `config` must be NULL or from `tlswire_client_config_new`; paths NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn tlswire_client_config_identity_pem_files(
    config: *mut tlswire_client_config,
    cert_path: *const c_char,
    key_path: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a live config and C strings.
        let (config, cert, key) = unsafe {
            (
                this_mut(config, "config")?,
                c_str(cert_path, "cert_path")?,
                c_str(key_path, "key_path")?,
            )
        };
        let identity = load_identity(cert, key)
            .map_err(|e| FfiError::new(TLSWIRE_ERROR_CONFIG, e.to_string()))?;
        config.identity = Some(identity);
        config.changed();
        Ok(())
    })
}

/// Offers the ALPN protocol `protocol` (call once per protocol, most preferred first).
///
/// # Safety
/// `config` must be NULL or from `tlswire_client_config_new`; `protocol` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn tlswire_client_config_alpn(
    config: *mut tlswire_client_config,
    protocol: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a live config and a C string.
        let (config, protocol) =
            unsafe { (this_mut(config, "config")?, c_str(protocol, "protocol")?) };
        config.alpn.push(alpn_protocol(protocol)?);
        config.changed();
        Ok(())
    })
}

/// Frees a client configuration; NULL is ignored. Connections made with it are not affected.
///
/// # Safety
/// `config` must be NULL or from `tlswire_client_config_new`, and not freed before.
#[no_mangle]
pub unsafe extern "C" fn tlswire_client_config_free(config: *mut tlswire_client_config) {
    let _ = boundary(|| {
        if !config.is_null() {
            // SAFETY: the caller gives back a pointer from `Box::into_raw`, once.
            drop(unsafe { Box::from_raw(config) });
        }
        Ok(())
    });
}

fn alpn_protocol(protocol: &str) -> Result<Vec<u8>, FfiError> {
    if protocol.is_empty() || protocol.len() > 255 {
        return Err(FfiError::new(
            TLSWIRE_ERROR_INVALID_ARGUMENT,
            format!("ALPN protocol {protocol:?} must be 1 to 255 bytes"),
        ));
    }
    Ok(protocol.as_bytes().to_vec())
}

/// How a server accepts: its certificate and key, client authentication, ALPN. Made by
/// `tlswire_server_config_new`, freed by `tlswire_server_config_free`.
pub struct tlswire_server_config {
    identity: Arc<ReloadableIdentity>,
    client_auth: ClientAuth,
    alpn: Vec<Vec<u8>>,
    built: Mutex<Option<Arc<ServerConfig>>>,
}

impl tlswire_server_config {
    /// The rustls configuration, built once.
    pub(crate) fn rustls(&self) -> Result<Arc<ServerConfig>, FfiError> {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(config) = &*built {
            return Ok(config.clone());
        }
        let options = SiteOptions::default()
            .with_client_auth(self.client_auth.clone())
            .with_alpn(&self.alpn);
        let site = Site::new(self.identity.clone(), options)
            .map_err(|e| FfiError::new(TLSWIRE_ERROR_CONFIG, e.to_string()))?;
        let config = site.server_config();
        *built = Some(config.clone());
        Ok(config)
    }

    fn changed(&mut self) {
        *self.built.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Makes a server configuration in `*out` that presents the chain and key in these PEM files.
///
/// # Safety
/// Paths must be NULL or C strings; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_server_config_new(
    cert_path: *const c_char,
    key_path: *const c_char,
    out: *mut *mut tlswire_server_config,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or C strings and a writable pointer slot.
        let (cert, key, mut out) = unsafe {
            (
                c_str(cert_path, "cert_path")?,
                c_str(key_path, "key_path")?,
                out_ptr(out, "out")?,
            )
        };
        let identity = load_identity(cert, key)
            .map_err(|e| FfiError::new(TLSWIRE_ERROR_CONFIG, e.to_string()))?;
        out.set(Box::into_raw(Box::new(tlswire_server_config {
            identity: ReloadableIdentity::new(identity),
            client_auth: ClientAuth::None,
            alpn: Vec::new(),
            built: Mutex::new(None),
        })));
        Ok(())
    })
}

/// Sets client authentication: `mode` is one of `TLSWIRE_CLIENT_AUTH_*`; `ca_path` is the PEM
/// file of CA certificates (OPTIONAL, REQUIRED) or of pinned client certificates (PINNED), and
/// is ignored (may be NULL) for NONE.
///
/// # Safety
/// `config` must be NULL or from `tlswire_server_config_new`; `ca_path` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn tlswire_server_config_client_auth(
    config: *mut tlswire_server_config,
    mode: c_int,
    ca_path: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a live config.
        let config = unsafe { this_mut(config, "config") }?;
        let config_error =
            |e: tlswire_core::ConfigError| FfiError::new(TLSWIRE_ERROR_CONFIG, e.to_string());
        config.client_auth = match mode {
            TLSWIRE_CLIENT_AUTH_NONE => ClientAuth::None,
            TLSWIRE_CLIENT_AUTH_OPTIONAL
            | TLSWIRE_CLIENT_AUTH_REQUIRED
            | TLSWIRE_CLIENT_AUTH_PINNED => {
                // SAFETY: the caller passes NULL or a C string.
                let path = unsafe { c_str(ca_path, "ca_path") }?;
                match mode {
                    TLSWIRE_CLIENT_AUTH_OPTIONAL => {
                        ClientAuth::Optional(Arc::new(load_roots(path).map_err(config_error)?))
                    }
                    TLSWIRE_CLIENT_AUTH_REQUIRED => {
                        ClientAuth::Required(Arc::new(load_roots(path).map_err(config_error)?))
                    }
                    _ => ClientAuth::Pinned(load_pinned(path).map_err(config_error)?),
                }
            }
            other => {
                return Err(FfiError::new(
                    TLSWIRE_ERROR_INVALID_ARGUMENT,
                    format!("client auth mode {other} is not one of TLSWIRE_CLIENT_AUTH_*"),
                ))
            }
        };
        config.changed();
        config.rustls().map(|_| ())
    })
}

/// Offers the ALPN protocol `protocol` (call once per protocol, most preferred first).
///
/// # Safety
/// `config` must be NULL or from `tlswire_server_config_new`; `protocol` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn tlswire_server_config_alpn(
    config: *mut tlswire_server_config,
    protocol: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a live config and a C string.
        let (config, protocol) =
            unsafe { (this_mut(config, "config")?, c_str(protocol, "protocol")?) };
        config.alpn.push(alpn_protocol(protocol)?);
        config.changed();
        Ok(())
    })
}

/// Frees a server configuration; NULL is ignored. Connections made with it are not affected.
///
/// # Safety
/// `config` must be NULL or from `tlswire_server_config_new`, and not freed before.
#[no_mangle]
pub unsafe extern "C" fn tlswire_server_config_free(config: *mut tlswire_server_config) {
    let _ = boundary(|| {
        if !config.is_null() {
            // SAFETY: the caller gives back a pointer from `Box::into_raw`, once.
            drop(unsafe { Box::from_raw(config) });
        }
        Ok(())
    });
}

/// Reads a config for building a connection.
///
/// # Safety
/// `config` must be NULL or a live config.
pub(crate) unsafe fn client_config<'a>(
    config: *const tlswire_client_config,
) -> Result<&'a tlswire_client_config, FfiError> {
    // SAFETY: forwarded from the caller.
    unsafe { this(config, "config") }
}

/// Reads a config for building a connection.
///
/// # Safety
/// `config` must be NULL or a live config.
pub(crate) unsafe fn server_config<'a>(
    config: *const tlswire_server_config,
) -> Result<&'a tlswire_server_config, FfiError> {
    // SAFETY: forwarded from the caller.
    unsafe { this(config, "config") }
}
