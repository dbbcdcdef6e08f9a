//! The open-files limit: raised at start-up toward what `maxclients` needs, as Redis does, so
//! that the server never accepts more clients than it has descriptors for.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept beyond one per client (listening socket, log file, the spare descriptor,
/// the runtime's own): Redis's `CONFIG_MIN_RESERVED_FDS`.
pub const RESERVED_FDS: u64 = 32;

/// Raises the soft `RLIMIT_NOFILE` to `maxclients` + [`RESERVED_FDS`] where the hard limit
/// allows. Returns the `maxclients` that fits: lower than asked when the hard limit is, with
/// Redis's log lines. An error when not even one client fits.
pub fn fit_maxclients(maxclients: u64) -> Result<u64, String> {
    let wanted = maxclients.saturating_add(RESERVED_FDS);
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return Ok(maxclients);
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let best = wanted.min(hard).max(soft);
    let error = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(best),
            maximum: limit.maximum,
        },
    )
    .err();
    let now = if error.is_some() { soft } else { best };
    if now >= wanted {
        tracing::info!(
            "Increased maximum number of open files to {now} (it was originally set to {soft})."
        );
        return Ok(maxclients);
    }
    if now <= RESERVED_FDS {
        return Err(format!(
            "Your current 'ulimit -n' of {now} is not enough for the server to start. Please increase your open file limit to at least {}. Exiting.",
            RESERVED_FDS + 1
        ));
    }
    let fitted = now - RESERVED_FDS;
    tracing::warn!(
        "You requested maxclients of {maxclients} requiring at least {wanted} max file descriptors."
    );
    let why = error
        .map(|e| e.to_string())
        .unwrap_or_else(|| "the hard limit is lower".to_string());
    tracing::warn!("Server can't set maximum open files to {wanted} because of OS error: {why}.");
    tracing::warn!(
        "Current maximum open files is {now}. maxclients has been reduced to {fitted} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
    );
    Ok(fitted)
}

/// CONFIG SET's question to the host: a new `maxclients` must fit the open-files limit
/// (raised if the hard limit allows), else it is refused with Redis's words.
pub fn check_config(name: &str, value: &str) -> Result<(), String> {
    if name != "maxclients" {
        return Ok(());
    }
    let wanted: u64 = value
        .parse()
        .map_err(|_| "invalid maxclients".to_string())?;
    let fitted = fit_maxclients(wanted)?;
    if fitted < wanted {
        return Err(format!(
            "The operating system is not able to handle the specified number of clients, try with {fitted}"
        ));
    }
    Ok(())
}
