//! The fake Helm and health checks.

use async_trait::async_trait;
use cutover::plan::{Check, Release};
use cutover::providers::{
    CheckOutcome, CheckTarget, ErrorKind, HealthProvider, Ownership, ProviderError, ReleaseInfo,
    ReleaseProvider, ReleaseStatus,
};

use super::eks::not_found;
use super::{FakeRelease, Verdict, World};

#[async_trait]
impl ReleaseProvider for World {
    async fn verify_chart(&self, release: &Release) -> Result<(), ProviderError> {
        self.enter("verify_chart", &release.name).await
    }

    async fn render(&self, release: &Release, _kube_version: &str) -> Result<String, ProviderError> {
        self.enter("render", &release.name).await?;
        Ok(self.rendered(&release.name))
    }

    async fn status(
        &self,
        cluster: &str,
        name: &str,
        ns: &str,
    ) -> Result<Option<ReleaseInfo>, ProviderError> {
        self.enter("release_status", name).await?;
        let w = self.lock();
        let c = w
            .state
            .clusters
            .get(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        Ok(c.releases
            .get(&format!("{ns}/{name}"))
            .map(|r| ReleaseInfo {
                name: name.into(),
                namespace: ns.into(),
                revision: r.revision,
                status: ReleaseStatus::Deployed,
                chart_version: r.chart_version.clone(),
                run_id: r.run_id.clone(),
            }))
    }

    async fn install(
        &self,
        cluster: &str,
        release: &Release,
        own: &Ownership,
    ) -> Result<ReleaseInfo, ProviderError> {
        self.enter("install", &release.name).await?;
        {
            let mut w = self.lock();
            w.installs_in_flight += 1;
            w.max_installs_in_flight = w.max_installs_in_flight.max(w.installs_in_flight);
        }
        // Decrement even if the engine drops this future mid-install.
        struct InFlight<'a>(&'a World);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.lock().installs_in_flight -= 1;
            }
        }
        let _guard = InFlight(self);
        tokio::time::sleep(self.install_time).await;
        let mut w = self.lock();
        let lb = w.lb_services.get(&release.name).cloned();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        let key = format!("{}/{}", release.namespace, release.name);
        let revision = c.releases.get(&key).map_or(1, |r| r.revision + 1);
        c.releases.insert(
            key,
            FakeRelease {
                chart_version: release.version.clone(),
                revision,
                run_id: Some(own.run_id.clone()),
            },
        );
        if let Some(lb) = lb {
            c.load_balancers.insert(lb);
        }
        World::effect_happened(&mut w, format!("install {cluster}/{}", release.name));
        Ok(ReleaseInfo {
            name: release.name.clone(),
            namespace: release.namespace.clone(),
            revision,
            status: ReleaseStatus::Deployed,
            chart_version: release.version.clone(),
            run_id: Some(own.run_id.clone()),
        })
    }

    async fn uninstall(&self, cluster: &str, name: &str, ns: &str) -> Result<(), ProviderError> {
        self.enter("uninstall", name).await?;
        let mut w = self.lock();
        let lb = w.lb_services.get(name).cloned();
        let Some(c) = w.state.clusters.get_mut(cluster) else {
            return Ok(());
        };
        if c.releases.remove(&format!("{ns}/{name}")).is_some() {
            if let Some(lb) = lb {
                c.load_balancers.remove(&lb);
            }
            World::effect_happened(&mut w, format!("uninstall {cluster}/{name}"));
        }
        Ok(())
    }
}

#[async_trait]
impl HealthProvider for World {
    async fn check(
        &self,
        _target: &CheckTarget,
        check: &Check,
    ) -> Result<CheckOutcome, ProviderError> {
        match self.verdict("check", &check.name) {
            Verdict::Ok => Ok(CheckOutcome {
                passed: true,
                detail: "ok".into(),
            }),
            // A switched-on check fault is a failing check, not a broken provider.
            Verdict::Fail(e) if e.kind == ErrorKind::Other => Ok(CheckOutcome {
                passed: false,
                detail: format!("{} is unhealthy", check.name),
            }),
            Verdict::Fail(e) => Err(e),
            Verdict::Hang => std::future::pending().await,
        }
    }
}
