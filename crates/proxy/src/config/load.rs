//! Reading a configuration file: YAML errors with their line, path resolution, and the checks
//! of values that only make sense together.

use std::fmt;
use std::path::{Path, PathBuf};

use super::*;

/// A configuration file that could not be loaded.
#[derive(Debug)]
pub enum ConfigFileError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed or a key is unknown, missing or of the wrong type.
    Yaml {
        /// The file.
        path: PathBuf,
        /// serde_yaml's message: the key path, the fault and the line and column.
        message: String,
    },
    /// The values are well-formed but make no sense together.
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key at fault, such as `routers[0].servers[1].tls`.
        key: String,
        /// What is wrong.
        reason: String,
        /// The key's line in the file (or its nearest ancestor's, when the key is missing);
        /// unknown for the older `proxies:` shape, whose keys are translated.
        line: Option<usize>,
    },
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: cannot read: {source}", path.display()),
            Self::Yaml { path, message } => write!(f, "{}: {message}", path.display()),
            Self::Invalid {
                path,
                key,
                reason,
                line,
            } => {
                write!(f, "{}: {key}: {reason}", path.display())?;
                match line {
                    Some(line) => write!(f, " at line {line}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for ConfigFileError {}

impl Config {
    /// Reads and checks a configuration file; relative paths in it are resolved against its
    /// directory.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_yaml(&text, path, base)
    }

    /// Parses configuration text. `source` names it in errors; relative paths are resolved
    /// against `base`.
    pub fn from_yaml(text: &str, source: &Path, base: &Path) -> Result<Self, ConfigFileError> {
        let yaml_error = |e: serde_yaml::Error| ConfigFileError::Yaml {
            path: source.to_owned(),
            message: e.to_string(),
        };
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(yaml_error)?;
        let is_legacy = value
            .as_mapping()
            .is_some_and(|m| m.contains_key("proxies"));
        let mut config = if is_legacy {
            let legacy: crate::legacy::LegacyConfig =
                serde_yaml::from_str(text).map_err(yaml_error)?;
            legacy.into_config()
        } else {
            serde_yaml::from_str::<Self>(text).map_err(yaml_error)?
        };
        config.resolve_paths(base);
        config.validate(source).map_err(|mut e| {
            if let ConfigFileError::Invalid { key, line, .. } = &mut e {
                if !is_legacy {
                    *line = super::locate::line_of(text, key);
                }
            }
            e
        })?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(t) = &mut self.session_tickets {
            fix(&mut t.keys_path);
        }
        for router in &mut self.routers {
            let mut client_tls: Vec<&mut ClientTlsConfig> = Vec::new();
            match &mut router.interpreter {
                InterpreterConfig::Fs { root_dir, .. } => fix(root_dir),
                InterpreterConfig::Namerd { tls: Some(tls), .. } => client_tls.push(tls),
                _ => {}
            }
            let mut clients: Vec<&mut ClientConfig> = vec![&mut router.client];
            for server in &mut router.servers {
                if let Some(tls) = &mut server.tls {
                    for id in tls
                        .default_identity
                        .iter_mut()
                        .chain(tls.identities.values_mut())
                    {
                        id.certs.iter_mut().for_each(fix);
                        fix(&mut id.private_key);
                        if let Some(auth) = &mut id.client_auth {
                            auth.trust_certs.iter_mut().for_each(fix);
                        }
                    }
                }
                clients.extend(server.routes.iter_mut().filter_map(|r| r.client.as_mut()));
            }
            client_tls.extend(clients.into_iter().filter_map(|c| c.tls.as_mut()));
            for tls in client_tls {
                tls.trust_certs.iter_mut().for_each(fix);
                tls.pinned_certs.iter_mut().for_each(fix);
                if let Some(id) = &mut tls.client_identity {
                    id.certs.iter_mut().for_each(fix);
                    fix(&mut id.private_key);
                }
            }
        }
    }

    fn validate(&self, source: &Path) -> Result<(), ConfigFileError> {
        let invalid = |key: String, reason: &str| ConfigFileError::Invalid {
            path: source.to_owned(),
            key,
            reason: reason.to_owned(),
            line: None,
        };
        if self.routers.is_empty() {
            return Err(invalid("routers".into(), "at least one router is needed"));
        }
        for (r, router) in self.routers.iter().enumerate() {
            if router.servers.is_empty() {
                return Err(invalid(
                    format!("routers[{r}].servers"),
                    "at least one server is needed",
                ));
            }
            for (s, server) in router.servers.iter().enumerate() {
                let key = format!("routers[{r}].servers[{s}]");
                if !server.dst_name.starts_with('/') {
                    return Err(invalid(
                        format!("{key}.dstName"),
                        "a destination name starts with `/`, such as /svc/web",
                    ));
                }
                if server.max_concurrency == 0 || server.max_concurrent_handshakes == 0 {
                    return Err(invalid(key.clone(), "limits must be at least 1"));
                }
                if let Some(tls) = &server.tls {
                    if tls.default_identity.is_none() && tls.identities.is_empty() {
                        return Err(invalid(
                            format!("{key}.tls"),
                            "needs a defaultIdentity or at least one entry in identities",
                        ));
                    }
                }
                for (i, route) in server.routes.iter().enumerate() {
                    if route.sni.is_some() && server.tls.is_none() {
                        return Err(invalid(
                            format!("{key}.routes[{i}].sni"),
                            "routing by SNI needs `tls` on the server",
                        ));
                    }
                }
            }
            if let InterpreterConfig::Namerd { base_url, tls, .. } = &router.interpreter {
                let key = format!("routers[{r}].interpreter");
                match (base_url.starts_with("https://"), tls) {
                    (true, None) => return Err(invalid(
                        format!("{key}.tls"),
                        "an https:// baseUrl needs `tls` (dnsName and trustCerts or pinnedCerts)",
                    )),
                    (false, Some(_)) => {
                        return Err(invalid(
                            format!("{key}.baseUrl"),
                            "`tls` is set, so baseUrl must start with https://",
                        ))
                    }
                    (_, Some(tls)) if tls.trust_certs.is_empty() && tls.pinned_certs.is_empty() => {
                        return Err(invalid(
                            format!("{key}.tls"),
                            "needs trustCerts or pinnedCerts to verify namerd",
                        ))
                    }
                    _ => {}
                }
            }
            let mut clients = vec![(format!("routers[{r}].client"), &router.client)];
            for (s, server) in router.servers.iter().enumerate() {
                for (i, route) in server.routes.iter().enumerate() {
                    if let Some(c) = &route.client {
                        clients.push((format!("routers[{r}].servers[{s}].routes[{i}].client"), c));
                    }
                }
            }
            for (key, client) in clients {
                if let Some(tls) = &client.tls {
                    if tls.trust_certs.is_empty() && tls.pinned_certs.is_empty() {
                        return Err(invalid(
                            format!("{key}.tls"),
                            "needs trustCerts or pinnedCerts to verify the upstream",
                        ));
                    }
                }
                if client.connect_attempts == 0 {
                    return Err(invalid(
                        format!("{key}.connectAttempts"),
                        "must be at least 1",
                    ));
                }
            }
        }
        Ok(())
    }
}
