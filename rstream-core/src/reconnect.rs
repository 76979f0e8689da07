//! When a lost connection to the engine is tried again: the reconnect
//! policy and the delays it gives. Pure: no I/O, no clock.

use std::time::Duration;

use crate::Error;

/// How a session and its tunnels (and the engine API's event watch) reconnect
/// after losing its connection to the engine.
///
/// The default: the first attempt after a loss goes out at once (after a
/// random pause of at most 25 ms, so that many clients dropped together do
/// not arrive in the same instant); each further attempt waits 1 s doubling
/// to 30 s, each delay shortened at random by up to 20 %; no limit on
/// attempts. A connection that comes back online starts the schedule over.
///
/// Authentication and request errors always stop reconnecting, and so does a
/// first connection refused at TLS for a reason retrying cannot fix (the
/// engine's certificate is not trusted or not valid for its name); see
/// [`Client::tunnel`](crate::Client::tunnel).
///
/// ```
/// use std::time::Duration;
/// use rstream_core::ReconnectPolicy;
///
/// let patient = ReconnectPolicy::default().max_delay(Duration::from_secs(60));
/// let give_up_soon = ReconnectPolicy::default().max_attempts(3);
/// let surface_failures = ReconnectPolicy::never();
/// # let _ = (patient, give_up_soon, surface_failures);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectPolicy {
    first_retry_jitter: Duration,
    initial_delay: Duration,
    max_delay: Duration,
    jitter: f64,
    max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            first_retry_jitter: Duration::from_millis(25),
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            jitter: 0.2,
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// No reconnecting: the first lost connection is final and reported to
    /// the application (the same as `max_attempts(0)`).
    pub fn never() -> Self {
        ReconnectPolicy::default().max_attempts(0)
    }

    /// The longest random pause before the first attempt after a loss
    /// (default 25 ms; zero sends it at once).
    pub fn first_retry_jitter(mut self, jitter: Duration) -> Self {
        self.first_retry_jitter = jitter;
        self
    }

    /// The delay before the second attempt after a loss (default 1 s); it
    /// doubles after each failed attempt, up to [`max_delay`](Self::max_delay).
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay between attempts (default 30 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How much of each delay may be taken off at random, from 0 (none) to
    /// 1 (all of it); default 0.2.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// How many attempts in a row may fail before giving up (default: no
    /// limit). Counted from the last time the connection was online.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Checks the settings; called by [`ClientBuilder::build`](crate::ClientBuilder::build).
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::config(format!(
                "reconnect jitter {} must be between 0 and 1",
                self.jitter
            )));
        }
        if self.initial_delay.is_zero() || self.initial_delay > self.max_delay {
            return Err(Error::config(format!(
                "reconnect delays must satisfy 0 < initial ({:?}) <= max ({:?})",
                self.initial_delay, self.max_delay
            )));
        }
        Ok(())
    }
}

/// The delays of one reconnecting connection under a [`ReconnectPolicy`].
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    policy: ReconnectPolicy,
    /// Attempts made since the last success.
    attempts: u32,
    /// The delay after the next failed attempt, before jitter.
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(ReconnectPolicy::default())
    }
}

impl Backoff {
    pub(crate) fn new(policy: ReconnectPolicy) -> Self {
        let next = policy.initial_delay;
        Backoff {
            policy,
            attempts: 0,
            next,
        }
    }

    /// The wait before the next attempt, with `random` in `[0, 1)` choosing
    /// the jitter; `None` once the policy's attempts are spent.
    pub(crate) fn next_with(&mut self, random: f64) -> Option<Duration> {
        if self
            .policy
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
        {
            return None;
        }
        let random = random.clamp(0.0, 1.0);
        self.attempts += 1;
        if self.attempts == 1 {
            return Some(self.policy.first_retry_jitter.mul_f64(random));
        }
        let base = self.next;
        self.next = (self.next * 2).min(self.policy.max_delay);
        Some(base.mul_f64(1.0 - self.policy.jitter * random))
    }

    /// The wait before the next attempt, with random jitter.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        self.next_with(rand::random::<f64>())
    }

    /// The connection is back: the next loss starts the schedule over.
    pub(crate) fn reset(&mut self) {
        self.attempts = 0;
        self.next = self.policy.initial_delay;
    }
}

/// Whether a connection lost with `error` is worth trying again.
/// `ever_online`: whether it was online at least once; before that, a TLS
/// refusal that no retry can fix (an untrusted certificate, say) is final.
///
/// Transport failures, timeouts (liveness loss included), protocol errors
/// and engine codes 6000, 7000 and 9000 are retried, as the reference CLI
/// does; authentication (1000) and request errors (2xxx, 3xxx) are final.
/// (A re-created tunnel whose hostname or port the previous connection still
/// holds is retried by the session, which knows the tunnel held it: no
/// engine message is read.)
pub(crate) fn should_retry(error: &Error, ever_online: bool) -> bool {
    match error {
        Error::Protocol(_) => true,
        Error::TlsRejected(_) => ever_online,
        e => e.is_retryable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(policy: ReconnectPolicy, random: f64, n: usize) -> Vec<Option<Duration>> {
        let mut b = Backoff::new(policy);
        (0..n).map(|_| b.next_with(random)).collect()
    }

    #[test]
    fn first_retry_at_once_then_doubling_to_the_cap() {
        let ms = |v: u64| Some(Duration::from_millis(v));
        assert_eq!(
            schedule(ReconnectPolicy::default(), 0.0, 9),
            [
                ms(0),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(16000),
                ms(30000),
                ms(30000),
                ms(30000)
            ]
        );
        // Full jitter: at most 25 ms before the first, 20 % off the others.
        assert_eq!(
            schedule(ReconnectPolicy::default(), 1.0, 3),
            [ms(25), ms(800), ms(1600)]
        );
        for _ in 0..100 {
            let mut b = Backoff::default();
            let first = b.next_delay().unwrap();
            let second = b.next_delay().unwrap();
            assert!(first <= Duration::from_millis(25), "{first:?}");
            assert!(
                (Duration::from_millis(800)..=Duration::from_secs(1)).contains(&second),
                "{second:?}"
            );
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.next_with(0.0);
        }
        b.reset();
        assert_eq!(b.next_with(0.0), Some(Duration::ZERO));
        assert_eq!(b.next_with(0.0), Some(Duration::from_secs(1)));
    }

    #[test]
    fn attempts_limit_and_never() {
        let three = schedule(ReconnectPolicy::default().max_attempts(3), 0.0, 5);
        assert_eq!(three.iter().filter(|d| d.is_some()).count(), 3);
        assert_eq!(three[3], None);
        assert_eq!(schedule(ReconnectPolicy::never(), 0.5, 1), [None]);
        let mut b = Backoff::new(ReconnectPolicy::default().max_attempts(1));
        assert!(b.next_with(0.0).is_some());
        assert!(b.next_with(0.0).is_none());
        b.reset();
        assert!(
            b.next_with(0.0).is_some(),
            "a success gives the attempts back"
        );
    }

    #[test]
    fn custom_delays() {
        let policy = ReconnectPolicy::default()
            .first_retry_jitter(Duration::ZERO)
            .initial_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(250))
            .jitter(0.0);
        let ms = |v: u64| Some(Duration::from_millis(v));
        assert_eq!(
            schedule(policy, 0.9, 5),
            [ms(0), ms(100), ms(200), ms(250), ms(250)]
        );
    }

    #[test]
    fn invalid_policies_are_config_errors() {
        for bad in [
            ReconnectPolicy::default().jitter(1.5),
            ReconnectPolicy::default().jitter(-0.1),
            ReconnectPolicy::default().initial_delay(Duration::ZERO),
            ReconnectPolicy::default().initial_delay(Duration::from_secs(60)),
        ] {
            assert!(matches!(bad.validate(), Err(Error::Config(_))), "{bad:?}");
        }
        assert!(ReconnectPolicy::default().validate().is_ok());
        assert!(ReconnectPolicy::never().validate().is_ok());
    }

    #[test]
    fn retry_classification() {
        assert!(should_retry(&Error::engine(6000, "busy"), false));
        assert!(!should_retry(
            &Error::engine(2000, "Hostname is already in use."),
            true
        ));
        assert!(should_retry(
            &Error::timeout("liveness", Duration::from_secs(1)),
            true
        ));
        assert!(should_retry(&Error::protocol("bad frame"), true));
        assert!(should_retry(
            &Error::Tls("reset during handshake".into()),
            false
        ));
        assert!(!should_retry(&Error::engine(1000, "invalid token"), true));
        assert!(!should_retry(&Error::engine(2000, "bad request"), true));
        assert!(!should_retry(&Error::engine(3000, "not found"), true));
        assert!(!should_retry(&Error::config("bad"), true));
        // An untrusted certificate: final on the first connection, retried
        // once the engine was reachable (it is fixed on the engine's side).
        assert!(!should_retry(
            &Error::TlsRejected("unknown CA".into()),
            false
        ));
        assert!(should_retry(&Error::TlsRejected("unknown CA".into()), true));
    }
}
