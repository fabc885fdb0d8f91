//! Test-only: a planted panic, to check that a panic anywhere ends the whole job.
//!
//! `BITORRENT_TEST_PANIC=<actor>[@<rank>]`, with `<actor>` one of `upload`, `download`, `mirror`,
//! `writer`, `pump`, `tracker`, makes that actor panic where it handles its mail, in every peer
//! or in rank `<rank>` alone (the tracker is rank 0). Not for users: `tests/faults.rs` is its
//! one client. The variable is read once, as the run's configuration is made
//! ([`crate::cli::RunArgs::config`]); each actor is told once, at its start, whether it is the
//! one (a `bool` of its own), and checks that flag only where it handles mail that comes once or
//! once a batch, never per segment request, so the hook costs nothing on the hot paths.

use std::fmt;

use crate::model::PeerId;

/// Where a planted panic goes off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The upload server, at its first mail (the book changes at the go).
    Upload,
    /// The download scheduler, at the first replies to its requests: mid-download.
    Download,
    /// The tracker mirror, at its first mail (the go).
    Mirror,
    /// The file writer, at the first finished file, before it writes it.
    Writer,
    /// A peer's pump, the first time it hands replies to the scheduler: mid-download.
    Pump,
    /// The tracker, right after it says go: every peer is running.
    Tracker,
}

impl Site {
    const ALL: [Site; 6] = [Site::Upload, Site::Download, Site::Mirror, Site::Writer, Site::Pump, Site::Tracker];

    pub fn name(self) -> &'static str {
        match self {
            Site::Upload => "upload",
            Site::Download => "download",
            Site::Mirror => "mirror",
            Site::Writer => "writer",
            Site::Pump => "pump",
            Site::Tracker => "tracker",
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which actor of which rank panics, if any. The default plants nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestPanic {
    site: Option<Site>,
    /// `None`: every rank's.
    rank: Option<u32>,
}

impl TestPanic {
    pub const VARIABLE: &'static str = "BITORRENT_TEST_PANIC";

    /// From the environment. A value that does not parse is said on stderr and plants nothing.
    pub fn from_env() -> TestPanic {
        let Some(value) = std::env::var_os(Self::VARIABLE) else { return TestPanic::default() };
        let value = value.to_string_lossy();
        TestPanic::parse(&value).unwrap_or_else(|error| {
            crate::console::say(format_args!("ignoring {}={value}: {error}", Self::VARIABLE));
            TestPanic::default()
        })
    }

    pub fn parse(text: &str) -> Result<TestPanic, String> {
        let (site, rank) = match text.split_once('@') {
            Some((site, rank)) => (site, Some(rank.parse::<u32>().map_err(|_| format!("{rank:?} is not a rank"))?)),
            None => (text, None),
        };
        let site = Site::ALL.into_iter().find(|candidate| candidate.name() == site).ok_or_else(|| {
            let names: Vec<_> = Site::ALL.iter().map(|site| site.name()).collect();
            format!("expected <actor>[@<rank>] with <actor> one of {}", names.join(", "))
        })?;
        Ok(TestPanic { site: Some(site), rank })
    }

    /// Whether `site` of rank `me` is to panic.
    pub fn armed(&self, site: Site, me: PeerId) -> bool {
        self.site == Some(site) && self.rank.is_none_or(|rank| rank == me.0)
    }
}

/// Goes off: the panic an armed actor plants. (The rank's error message names the rank.)
#[cold]
pub fn trip(site: Site) -> ! {
    panic!("{} planted this panic in the {site}", TestPanic::VARIABLE)
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn parses_an_actor_and_an_optional_rank() {
        let writer3 = TestPanic::parse("writer@3").unwrap();
        assert!(writer3.armed(Site::Writer, PeerId(3)));
        assert!(!writer3.armed(Site::Writer, PeerId(2)));
        assert!(!writer3.armed(Site::Download, PeerId(3)));
        let pumps = TestPanic::parse("pump").unwrap();
        assert!(pumps.armed(Site::Pump, PeerId(1)) && pumps.armed(Site::Pump, PeerId(7)));
        for site in Site::ALL {
            assert!(TestPanic::parse(site.name()).unwrap().armed(site, PeerId(0)));
        }
        assert!(!TestPanic::default().armed(Site::Tracker, PeerId::TRACKER));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for bad in ["", "writers", "writer@", "writer@x", "@3", "Writer"] {
            assert!(TestPanic::parse(bad).is_err(), "{bad:?}");
        }
    }
}
