//! Core pinning: on a machine with 4 or more cores, the local engine, the
//! load generator and the serving side each get cores of their own, so that
//! the serving side's figures are not its neighbours' noise. Below 4 cores
//! nothing is pinned (two parties would have to share a core anyway).
//!
//! Threads inherit the affinity of the thread that creates them, so each
//! party pins the thread it starts from: the bench's main thread (the load
//! generator's runtime), the engine runtime's worker threads, and a serving
//! child's main thread (told through [`CPUS_ENV`], which the Python app
//! reads too).

use std::fmt;

use crate::BoxError;

/// Environment variable naming the cores a serving child pins itself to,
/// as a comma-separated list of core numbers.
pub(crate) const CPUS_ENV: &str = "RSTREAM_BENCH_CPUS";

/// Fewest cores for which the bench pins.
pub(crate) const MIN_CORES: usize = 4;

/// Which cores each party of a run gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The local engine (edge, control channels, relaying).
    pub(crate) engine: Vec<usize>,
    /// The load generator.
    pub(crate) load: Vec<usize>,
    /// The serving process being measured.
    pub(crate) serve: Vec<usize>,
}

impl Layout {
    /// The layout over `cores` (the core numbers this process may run on),
    /// or `None` with fewer than [`MIN_CORES`]. The serving side gets a
    /// quarter of the cores (at least one) so that it is the bottleneck of
    /// the throughput rows; the engine, which pays two TLS passes per
    /// request, gets the larger half of the rest and the load generator the
    /// remainder.
    pub(crate) fn split(cores: &[usize]) -> Option<Layout> {
        if cores.len() < MIN_CORES {
            return None;
        }
        let serve = (cores.len() / 4).max(1);
        let rest = cores.len() - serve;
        let engine = rest.div_ceil(2);
        Some(Layout {
            engine: cores[..engine].to_vec(),
            load: cores[engine..rest].to_vec(),
            serve: cores[rest..].to_vec(),
        })
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "engine on cores {}, load generator on {}, serving side on {}",
            list(&self.engine),
            list(&self.load),
            list(&self.serve)
        )
    }
}

/// `cores` as the comma-separated list [`CPUS_ENV`] holds.
pub(crate) fn list(cores: &[usize]) -> String {
    cores
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a [`list`].
pub(crate) fn parse_list(text: &str) -> Result<Vec<usize>, BoxError> {
    let cores = text
        .split(',')
        .map(|c| {
            c.trim()
                .parse::<usize>()
                .map_err(|_| format!("{CPUS_ENV}: {c:?} is not a core number"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if cores.is_empty() {
        return Err(format!("{CPUS_ENV} names no core").into());
    }
    Ok(cores)
}

/// The cores the calling thread may run on.
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cores() -> Result<Vec<usize>, BoxError> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    let set = sched_getaffinity(Pid::from_raw(0)).map_err(|e| format!("reading affinity: {e}"))?;
    Ok((0..CpuSet::count())
        .filter(|&core| set.is_set(core).unwrap_or(false))
        .collect())
}

/// Pinning is only done on Linux; elsewhere no core is listed, and so no
/// layout is made.
#[cfg(not(target_os = "linux"))]
pub(crate) fn allowed_cores() -> Result<Vec<usize>, BoxError> {
    Ok(Vec::new())
}

/// Pins the calling thread (and so every thread it creates later) to
/// `cores`.
#[cfg(target_os = "linux")]
pub(crate) fn pin_current_thread(cores: &[usize]) -> Result<(), BoxError> {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    for &core in cores {
        set.set(core)
            .map_err(|e| format!("core {core} cannot be pinned: {e}"))?;
    }
    // Pid 0 is the calling thread.
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| format!("pinning to cores: {e}"))?;
    Ok(())
}

/// Pinning is only done on Linux; elsewhere it is refused.
#[cfg(not(target_os = "linux"))]
pub(crate) fn pin_current_thread(_cores: &[usize]) -> Result<(), BoxError> {
    Err("core pinning is only supported on Linux".into())
}

/// In a serving child: pins the process's main thread to the cores named in
/// [`CPUS_ENV`], if any. Called before any other thread starts.
pub(crate) fn pin_from_env() -> Result<(), BoxError> {
    match std::env::var(CPUS_ENV) {
        Ok(text) => pin_current_thread(&parse_list(&text)?),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_layout_below_four_cores() {
        assert_eq!(Layout::split(&[0]), None);
        assert_eq!(Layout::split(&[0, 1]), None);
        assert_eq!(Layout::split(&[0, 1, 2]), None);
    }

    #[test]
    fn four_cores_give_every_party_its_own() {
        let layout = Layout::split(&[0, 1, 2, 3]).unwrap();
        assert_eq!(layout.engine, vec![0, 1]);
        assert_eq!(layout.load, vec![2]);
        assert_eq!(layout.serve, vec![3]);
        assert_eq!(
            layout.to_string(),
            "engine on cores 0,1, load generator on 2, serving side on 3"
        );
    }

    #[test]
    fn layouts_cover_every_core_once() {
        for cores in MIN_CORES..=64 {
            let layout = Layout::split(&(0..cores).collect::<Vec<_>>()).unwrap();
            let mut all: Vec<usize> = [&layout.engine, &layout.load, &layout.serve]
                .into_iter()
                .flatten()
                .copied()
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..cores).collect::<Vec<_>>(), "{cores} cores");
            assert!(!layout.load.is_empty() && !layout.serve.is_empty());
            assert!(layout.engine.len() >= layout.load.len());
        }
        let eight = Layout::split(&(0..8).collect::<Vec<_>>()).unwrap();
        assert_eq!(
            (eight.engine.len(), eight.load.len(), eight.serve.len()),
            (3, 3, 2)
        );
    }

    #[test]
    fn layouts_use_the_cores_given_not_the_first_ones() {
        // A process restricted to cores 4..=11 (a container, taskset).
        let layout = Layout::split(&(4..12).collect::<Vec<_>>()).unwrap();
        assert_eq!(layout.engine, vec![4, 5, 6]);
        assert_eq!(layout.load, vec![7, 8, 9]);
        assert_eq!(layout.serve, vec![10, 11]);
    }

    #[test]
    fn core_lists_round_trip_and_refuse_garbage() {
        assert_eq!(parse_list(&list(&[3, 5, 7])).unwrap(), vec![3, 5, 7]);
        assert!(parse_list("").is_err());
        assert!(parse_list("1,x").is_err());
        assert!(parse_list("-1").is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pinning_a_thread_restricts_it_to_those_cores() {
        // Pin a fresh thread to the first core it may use and read the
        // affinity back.
        let first = allowed_cores().unwrap()[0];
        std::thread::spawn(move || {
            pin_current_thread(&[first]).unwrap();
            assert_eq!(allowed_cores().unwrap(), vec![first]);
            // A thread started from the pinned one inherits the pinning.
            std::thread::spawn(move || assert_eq!(allowed_cores().unwrap(), vec![first]))
                .join()
                .unwrap();
        })
        .join()
        .unwrap();
    }
}
