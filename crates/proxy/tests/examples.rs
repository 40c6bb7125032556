//! Every example configuration in examples/proxy parses and passes validation.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use tlswire_proxy::config::InterpreterConfig;
use tlswire_proxy::Config;

fn example(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/proxy")
        .join(name);
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn linkerd_tcp_example_loads() {
    let config = example("linkerd-tcp.yml");
    assert_eq!(config.admin.port, 9989);
    assert!(matches!(
        config.routers[0].interpreter,
        InterpreterConfig::Namerd { .. }
    ));
    assert_eq!(config.routers[0].servers.len(), 2);
}

#[test]
fn legacy_example_loads() {
    let config = example("legacy-proxies.yml");
    assert_eq!(config.routers[0].servers[1].port, 7575);
    assert!(config.routers[0].client.tls.is_some());
}

#[test]
fn full_example_loads() {
    let config = example("full.yml");
    assert_eq!(config.routers.len(), 4);
    assert!(matches!(
        &config.routers[2].interpreter,
        InterpreterConfig::Dns { names, nameservers, .. } if names.len() == 2 && nameservers.len() == 2
    ));
    assert!(matches!(
        &config.routers[3].interpreter,
        InterpreterConfig::Namerd {
            tls: Some(_),
            long_poll: true,
            ..
        }
    ));
    let server = &config.routers[0].servers[0];
    assert_eq!(server.routes.len(), 3);
    assert!(server.tls.as_ref().unwrap().allow_plaintext);
    assert!(config.session_tickets.is_some());
}
