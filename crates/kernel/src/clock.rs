//! The sandbox's CLOCK_MONOTONIC and CLOCK_REALTIME: one line over the TSC, published in the
//! vDSO's data page and evaluated by the Sentry's own clock syscalls, so that a program mixing
//! the vDSO and the trapping syscall sees one clock that never goes backwards.
//!
//! The line is fitted to the host's clocks by a thread of its own: first after 2 ms (until
//! then, and for good without an invariant TSC, both sides read the host clock), then at
//! doubling intervals up to one second, each update slewing away the error of the last.

use std::sync::{Arc, Weak};
use std::time::Duration;

use mm::{MemoryFile, MmError};
use nix::time::ClockId;
use parking_lot::Mutex;
use vdso::{host_ns, rdtsc_ordered, Calibrator, ClockParams, Sample, SEQ_OFFSET};
use zerocopy::IntoBytes;

/// When the first line is published: long enough for a rate estimate within ~50 ppm.
const FIRST_UPDATE: Duration = Duration::from_millis(2);
/// How often the line is refitted once calibrated (gVisor's timekeeper: the same).
const UPDATE_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct Clock {
    memory: Arc<MemoryFile>,
    /// The memory-file offset of the vvar page.
    vvar: u64,
    /// Held while the line is read or replaced: a reader in the Sentry reads the TSC under it,
    /// so it never mixes a TSC read after an update with the line from before it.
    state: Mutex<State>,
}

struct State {
    /// `None` when the TSC is unusable: the host's clocks answer.
    calibrator: Option<Calibrator>,
    params: ClockParams,
}

impl Clock {
    /// The clock whose line goes to the vvar page at memory-file offset `vvar`, and the thread
    /// that keeps it fitted (none without an invariant TSC).
    pub(crate) fn start(memory: Arc<MemoryFile>, vvar: u64) -> std::io::Result<Arc<Clock>> {
        let calibrator = vdso::tsc_is_usable().then(|| Calibrator::new(Sample::take()));
        let calibrating = calibrator.is_some();
        let clock = Arc::new(Clock {
            memory,
            vvar,
            state: Mutex::new(State {
                calibrator,
                params: ClockParams::default(),
            }),
        });
        if calibrating {
            let weak = Arc::downgrade(&clock);
            std::thread::Builder::new()
                .name("clock".into())
                .spawn(move || keep_fitted(&weak))?;
        }
        Ok(clock)
    }

    /// CLOCK_MONOTONIC in ns.
    pub(crate) fn monotonic_ns(&self) -> u64 {
        let state = self.state.lock();
        if state.params.ready == 0 {
            return host_ns(ClockId::CLOCK_MONOTONIC);
        }
        state.params.monotonic_at(rdtsc_ordered())
    }

    /// CLOCK_REALTIME in ns.
    pub(crate) fn realtime_ns(&self) -> u64 {
        let state = self.state.lock();
        if state.params.ready == 0 {
            return host_ns(ClockId::CLOCK_REALTIME);
        }
        let params = state.params;
        params.realtime_of(params.monotonic_at(rdtsc_ordered()))
    }

    /// Fits a new line now, expecting the next update `next` from now, and publishes it.
    fn update(&self, next: Duration) -> Result<(), MmError> {
        let mut state = self.state.lock();
        let State { calibrator, params } = &mut *state;
        let Some(calibrator) = calibrator.as_mut() else {
            return Ok(());
        };
        let next_ns = u64::try_from(next.as_nanos()).unwrap_or(u64::MAX);
        // The sample is taken once the count is odd (guest readers retry from then on), so no
        // guest read can pair a TSC value from after the sample with the old line.
        let mut host = 0;
        self.memory.write_seqlocked(self.vvar + SEQ_OFFSET, || {
            let sample = Sample::take();
            host = sample.monotonic;
            *params = calibrator.update(sample, next_ns);
            params.as_bytes().to_vec()
        })?;
        let error = i128::from(params.monotonic_base) - i128::from(host);
        tracing::debug!(
            "vdso clock: {error:+} ns off the host clock (+: ahead), slewed away over {next:?}"
        );
        Ok(())
    }
}

/// The clock thread: refits the line until the clock is dropped.
fn keep_fitted(clock: &Weak<Clock>) {
    let mut interval = FIRST_UPDATE;
    loop {
        std::thread::sleep(interval);
        let next = (interval * 2).min(UPDATE_INTERVAL);
        let Some(clock) = clock.upgrade() else {
            return;
        };
        if let Err(e) = clock.update(next) {
            tracing::error!("publishing the vDSO clock: {e}");
            return;
        }
        interval = next;
    }
}
