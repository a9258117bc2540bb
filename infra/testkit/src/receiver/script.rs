//! [`Script`]: what a [`super::Receiver`] answers, request after request.

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Keep the connection open, send nothing, until the receiver is dropped.
    Hold,
}

/// The answers to give, in order: phases of an answer given a number of times; the last phase
/// goes on for ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    phases: Vec<(Answer, Option<usize>)>,
}

impl Script {
    /// Answers every request with `status` and `body` (text/plain).
    pub fn always(status: u16, body: &str) -> Script {
        Script::of(Answer::Reply {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        })
    }

    /// Answers `times` requests with `status` (body "scripted failure"), then `then_status`
    /// (body "ok") for ever: a receiver that recovers.
    pub fn fail_then(status: u16, times: usize, then_status: u16) -> Script {
        Script::always(status, "scripted failure")
            .times(times)
            .then(Script::always(then_status, "ok"))
    }

    /// Answers `status` (e.g. 429 or 503) with `Retry-After: SECS`.
    pub fn status_with_retry_after(status: u16, secs: u64) -> Script {
        Script::always(status, "retry later").header("Retry-After", &secs.to_string())
    }

    /// Accepts the request and never answers; the connection stays open until the receiver is
    /// dropped: a receiver that hangs, for proving a sender's timeout.
    pub fn never_answer() -> Script {
        Script::of(Answer::Hold)
    }

    /// Limits the last phase to `n` requests, for a following [`Script::then`].
    pub fn times(mut self, n: usize) -> Script {
        self.phases.last_mut().expect("a script has a phase").1 = Some(n);
        self
    }

    /// Continues with `next` once this script's phases are used up (a phase without
    /// [`Script::times`] counts as once here).
    pub fn then(mut self, next: Script) -> Script {
        if let Some(last) = self.phases.last_mut() {
            last.1.get_or_insert(1);
        }
        self.phases.extend(next.phases);
        self
    }

    /// Adds a response header to the last phase's answer.
    pub fn header(mut self, name: &str, value: &str) -> Script {
        if let Some((Answer::Reply { headers, .. }, _)) = self.phases.last_mut() {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    fn of(answer: Answer) -> Script {
        Script {
            phases: vec![(answer, None)],
        }
    }

    /// The answer to the next request, using up one of its phase.
    pub(super) fn next_answer(&mut self) -> Answer {
        while self.phases.len() > 1 && self.phases[0].1 == Some(0) {
            self.phases.remove(0);
        }
        let (answer, remaining) = &mut self.phases[0];
        if let Some(n) = remaining {
            *n = n.saturating_sub(1);
        }
        answer.clone()
    }
}
