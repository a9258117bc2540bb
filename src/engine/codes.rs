//! Stop codes: a stable name for every way a run can stop short of success (`CUT-DNS-001`), so a
//! notification, a runbook and the README's troubleshooting table speak of the same thing. Written
//! once here; the README lists every entry of [`CODES`] (a test holds it to that).
//!
//! A code is chosen from the error that stopped the run and the step it stopped at
//! ([`for_step_error`]), or from the kind of stop when no step error caused it (a wait, a held lock).

use super::error::StepError;

/// One stop code and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopCode {
    /// The code, e.g. `CUT-DNS-001`.
    pub code: &'static str,
    /// What happened, in a few words.
    pub title: &'static str,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $title:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: StopCode = StopCode { code: $code, title: $title };
        )*
        /// Every stop code, in the README's order.
        pub const CODES: &[StopCode] = &[$($name),*];
    };
}

codes! {
    PREFLIGHT_REFUSED = "CUT-PRE-001", "a pre-flight gate refused the plan before anything was created";
    PREFLIGHT_UNREADABLE = "CUT-PRE-002", "a pre-flight gate could not read what it checks";
    PRECONDITION = "CUT-PRE-003", "the world is not as the plan expects (a name taken, blue missing)";
    EKS_FAILED = "CUT-EKS-001", "EKS failed to create or delete part of green";
    HELM_FAILED = "CUT-HELM-001", "a Helm release did not install on green";
    CHECK_FAILED = "CUT-CHK-001", "green failed a check before taking traffic";
    GATE_FAILED = "CUT-CHK-002", "a gate failed during a bake; traffic went back to blue";
    DNS_HAND_EDIT = "CUT-DNS-001", "Route53 weights were changed by hand; cutover changed nothing";
    DNS_FAILED = "CUT-DNS-002", "a Route53 change failed or did not reach INSYNC";
    IAM_HAND_EDIT = "CUT-IAM-001", "an IAM trust policy was changed by hand; cutover changed nothing";
    IAM_FAILED = "CUT-IAM-002", "an IAM or Pod Identity call failed";
    TIMED_OUT = "CUT-TIME-001", "a bounded wait ran out";
    AWS_FAILED = "CUT-AWS-001", "an AWS or Kubernetes call failed after its retries";
    INTERLOCK = "CUT-SAFE-001", "a safety interlock stopped the run";
    PAST_NO_RETURN = "CUT-PNR-001", "a step failed past the point of no return; rollback is impossible";
    ROLLBACK_FAILED = "CUT-RBK-001", "undoing a step failed; the rollback is unfinished";
    WAITING = "CUT-WAIT-001", "the run waits on purpose (blue's retention)";
    LOCK_HELD = "CUT-LOCK-001", "another run holds the environment's lock";
    DRIFT = "CUT-DRIFT-001", "the live releases differ from their pins";
    RTO_MISSED = "CUT-RTO-001", "a drill rebuilt the environment but missed its RTO";
    RPO_MISSED = "CUT-RPO-001", "a drill restored data older than its RPO";
    BUG = "CUT-BUG-001", "cutover hit an internal error (a bug)";
}

/// The code of `error` at step `step`.
pub fn for_step_error(error: &StepError, step: &str) -> StopCode {
    let stage = step.split('.').next().unwrap_or_default();
    let identity = step.starts_with("provision.oidc-provider")
        || step.starts_with("provision.pod-identity.")
        || step.ends_with("irsa-trust");
    let dns = stage == "traffic" || step == super::ids::RETIRE_BLUE_RECORDS || step == super::ids::TEARDOWN_TRAFFIC;
    match error {
        StepError::Refused(_) => PREFLIGHT_REFUSED,
        StepError::Precondition(_) => PRECONDITION,
        StepError::CheckFailed { .. } if stage == "traffic" => GATE_FAILED,
        StepError::CheckFailed { .. } => CHECK_FAILED,
        StepError::Interlock(_) if identity => IAM_HAND_EDIT,
        StepError::Interlock(_) if dns => DNS_HAND_EDIT,
        StepError::Interlock(_) => INTERLOCK,
        StepError::Timeout { .. } => TIMED_OUT,
        StepError::Internal(_) => BUG,
        StepError::Provider { .. } if stage == "preflight" => PREFLIGHT_UNREADABLE,
        StepError::Provider { .. } if identity => IAM_FAILED,
        StepError::Provider { .. } if stage == "provision" || step == super::ids::RETIRE_BLUE_CLUSTER => EKS_FAILED,
        StepError::Provider { .. } if stage == "releases" => HELM_FAILED,
        StepError::Provider { .. } if dns => DNS_FAILED,
        StepError::Provider { .. } => AWS_FAILED,
    }
}

/// The code named `code`, if it is one.
pub fn find(code: &str) -> Option<StopCode> {
    CODES.iter().copied().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ErrorKind, ProviderError};

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for c in CODES {
            assert!(seen.insert(c.code), "{} twice", c.code);
            let parts: Vec<&str> = c.code.split('-').collect();
            assert!(parts.len() == 3 && parts[0] == "CUT" && parts[2].len() == 3, "{}", c.code);
        }
    }

    #[test]
    fn the_step_decides_what_a_provider_error_or_an_interlock_means() {
        let provider = || StepError::provider("x", ProviderError::new(ErrorKind::Other, "boom"));
        assert_eq!(for_step_error(&provider(), "releases.install.api"), HELM_FAILED);
        assert_eq!(for_step_error(&provider(), "provision.nodegroup.general"), EKS_FAILED);
        assert_eq!(for_step_error(&provider(), "provision.irsa-trust"), IAM_FAILED);
        assert_eq!(for_step_error(&provider(), "traffic.shift.50"), DNS_FAILED);
        let interlock = StepError::Interlock("x".into());
        assert_eq!(for_step_error(&interlock, "traffic.shift.50"), DNS_HAND_EDIT);
        assert_eq!(for_step_error(&interlock, "retire.irsa-trust"), IAM_HAND_EDIT);
        let check = StepError::CheckFailed { check: "smoke".into(), detail: "503".into() };
        assert_eq!(for_step_error(&check, "verify.check.smoke"), CHECK_FAILED);
        assert_eq!(for_step_error(&check, "traffic.shift.10"), GATE_FAILED);
    }
}

/// The code of a stopped run, from its journal; `None` while it runs and when it succeeded
/// (completed, or rolled back because someone asked).
pub fn for_run(status: &super::status::RunStatus) -> Option<StopCode> {
    use super::status::{RunPhase, StepState};
    let failure = || {
        status
            .last_failure
            .as_ref()
            .and_then(|(_, code)| code.as_deref())
            .and_then(find)
            // A journal from before codes: the stage still says where.
            .unwrap_or(AWS_FAILED)
    };
    Some(match &status.phase {
        RunPhase::Running | RunPhase::RollingBack { .. } | RunPhase::Completed => return None,
        RunPhase::RolledBack { requested_by: Some(_), .. } => return None,
        RunPhase::Refused { .. } => PREFLIGHT_REFUSED,
        RunPhase::Waiting { .. } => WAITING,
        RunPhase::Paused { .. } | RunPhase::RolledBack { .. } => failure(),
        RunPhase::NeedsAttention { .. } => {
            if status.steps.iter().any(|s| matches!(s.state, StepState::CompensationFailed { .. })) {
                ROLLBACK_FAILED
            } else {
                let code = failure();
                let hand_edit = [DNS_HAND_EDIT, IAM_HAND_EDIT, INTERLOCK].contains(&code);
                if status.point_of_no_return.is_some() && !hand_edit { PAST_NO_RETURN } else { code }
            }
        }
    })
}
