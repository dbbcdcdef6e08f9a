//! Start-up configuration: `rill-server [config-file] [--name value ...]`, like redis-server,
//! and config files in Redis's `directive value` syntax.

use std::path::PathBuf;

use crate::protocol::split_args;

/// How the server starts: where it listens and the engine's parameters.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP port; 0 picks a free one (tests).
    pub port: u16,
    /// Addresses to listen on, space-separated as in Redis's `bind` (`127.0.0.1 -::1`).
    pub bind: String,
    /// The config file given on the command line, if any (INFO shows it).
    pub config_file: Option<PathBuf>,
    /// Engine parameters (CONFIG GET/SET), including `port`/`bind` echoes for clients.
    pub engine: rill_engine::Config,
    /// How many bytes the process has allocated, when the binary counts them (see
    /// `main.rs`): INFO's `used_memory` then costs nothing.
    pub allocated_bytes: Option<fn() -> u64>,
    /// The allocator the binary uses, for INFO's `mem_allocator`.
    pub mem_allocator: Option<&'static str>,
    /// Applies a new `loglevel` to the process's logger (the binary owns the logger); the
    /// server calls it when CONFIG SET changes the level.
    pub log_level_hook: Option<fn(&str)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: "127.0.0.1".into(),
            config_file: None,
            engine: rill_engine::Config::default(),
            allocated_bytes: None,
            mem_allocator: None,
            log_level_hook: None,
        }
    }
}

/// A start-up error: printed, then the process exits non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Scratch servers started by this process, to give each its own directory.
static SCRATCH_SERVERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Config {
    /// A configuration for a throwaway server (tests, examples): a free loopback port, and a
    /// fresh directory of its own under the system's temporary directory as `dir`, so that
    /// its snapshots (SAVE, save points, the save on shutdown) never land in the working
    /// directory and no other run's file is loaded at start.
    pub fn scratch() -> std::io::Result<Config> {
        let mut config = Config {
            port: 0,
            ..Config::default()
        };
        let dir = std::env::temp_dir().join(format!(
            "rill-scratch-{}-{}",
            std::process::id(),
            SCRATCH_SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        config
            .engine
            .set("dir", &dir.display().to_string(), true)
            .map_err(std::io::Error::other)?;
        Ok(config)
    }

    /// Reads the command line (without the program name).
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut rest = args;
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                let path = PathBuf::from(first);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError(format!(
                        "Fatal error, can't open config file '{first}': {e}"
                    ))
                })?;
                config.apply_text(&text)?;
                config.config_file = Some(path);
                rest = &rest[1..];
            }
        }
        let mut i = 0;
        while i < rest.len() {
            let Some(name) = rest[i].strip_prefix("--") else {
                return Err(ConfigError(format!(
                    "Invalid argument '{}': options are written --name value",
                    rest[i]
                )));
            };
            let mut values = Vec::new();
            i += 1;
            while i < rest.len() && !rest[i].starts_with("--") {
                values.push(rest[i].clone());
                i += 1;
            }
            config
                .apply(name, &values)
                .map_err(|why| fatal("command line", name, &values, &why.0))?;
        }
        Ok(config)
    }

    /// Applies every directive of a config file.
    pub fn apply_text(&mut self, text: &str) -> Result<(), ConfigError> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_args(line.as_bytes())
                .ok_or_else(|| ConfigError(format!("config line {}: unbalanced quotes", n + 1)))?;
            let words: Vec<String> = words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            if let Some((name, values)) = words.split_first() {
                self.apply(name, values)
                    .map_err(|why| fatal(&format!("at line {}", n + 1), name, values, &why.0))?;
            }
        }
        Ok(())
    }

    /// Applies one directive. A directive Rill does not know is an error, never ignored: a
    /// setting the server silently drops is a promise it silently breaks.
    pub fn apply(&mut self, name: &str, values: &[String]) -> Result<(), ConfigError> {
        let lower = name.to_ascii_lowercase();
        if !rill_engine::config::PARAMS.iter().any(|p| p.name == lower) {
            return Err(ConfigError(
                "Bad directive or wrong number of arguments".into(),
            ));
        }
        let value = values.join(" ");
        match lower.as_str() {
            "port" => {
                self.port = value
                    .parse()
                    .map_err(|_| ConfigError(format!("Invalid port '{value}'")))?;
            }
            "bind" => {
                if values.is_empty() {
                    return Err(ConfigError(
                        "Bad directive or wrong number of arguments".into(),
                    ));
                }
                self.bind = values.join(" ");
            }
            _ => {}
        }
        self.engine.set(&lower, &value, true).map_err(|why| {
            // The engine words its errors for CONFIG SET; a config file gets the reason alone.
            let reason = why
                .split_once(") - ")
                .map(|(_, r)| r.to_string())
                .unwrap_or(why);
            ConfigError(reason)
        })
    }
}

/// The message redis-server prints for a bad directive, naming where it came from.
fn fatal(place: &str, name: &str, values: &[String], why: &str) -> ConfigError {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    let reading = if place == "command line" {
        "Reading the command line".to_string()
    } else {
        format!("Reading the configuration file, {place}")
    };
    ConfigError(format!(
        "\n*** FATAL CONFIG FILE ERROR (Rill {}) ***\n{reading}\n>>> '{name} {}'\n{why}",
        env!("CARGO_PKG_VERSION"),
        quoted.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line() {
        let c = Config::from_args(&args(&["--port", "7000", "--requirepass", "pw"]));
        let c = c.unwrap_or_default();
        assert_eq!(c.port, 7000);
        assert_eq!(c.engine.requirepass(), Some("pw"));
        assert!(Config::from_args(&args(&["--port", "x"])).is_err());
    }

    #[test]
    fn config_file_syntax() {
        let mut c = Config::default();
        let text = "# comment\nport 7001\nstream-node-max-entries 50\nsave \"\"\n";
        assert!(c.apply_text(text).is_ok());
        assert_eq!(c.port, 7001);
        assert_eq!(c.engine.node_limits.max_entries, 50);
    }

    #[test]
    fn unknown_directives_are_fatal() {
        let mut c = Config::default();
        let err = c.apply_text("port 7001\nlatency-tracking no\n");
        let Err(ConfigError(text)) = err else {
            panic!("an unknown directive was accepted")
        };
        assert!(text.contains("at line 2\n>>> 'latency-tracking \"no\"'\nBad directive or wrong number of arguments"), "{text}");
        let saves = Config::from_args(&args(&["--save", "3600", "1"]));
        assert!(saves.is_ok_and(|c| c.engine.get("save") == Some("3600 1")));
        let err = Config::from_args(&args(&["--save", "3600"]));
        let Err(ConfigError(text)) = err else {
            panic!("a save line without its number of changes was accepted")
        };
        assert!(text.contains("Invalid save parameters"), "{text}");
    }
}
