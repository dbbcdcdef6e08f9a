//! TEMPORARY stand-in for the `rill_server::spawn` API until rill-server lands it.

#![allow(missing_docs, dead_code)]

use std::net::SocketAddr;

pub struct Config {
    pub port: u16,
    pub bind: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { port: 6379, bind: "127.0.0.1".into() }
    }
}

pub struct RunningServer;

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }
    pub fn shutdown(self) {}
}

pub fn spawn(_config: Config) -> std::io::Result<RunningServer> {
    Err(std::io::Error::other("rill_server::spawn is not implemented yet (stub)"))
}
