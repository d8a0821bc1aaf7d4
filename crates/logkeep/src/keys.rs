//! The signing state as the daemon and the commands use it: opened where the configuration
//! says, reconciled with a store's chain at start, checkpoints signed into the chain, and epoch
//! switches done in the crash-safe order (`docs/FORMAT.md`, "Epoch switch"). The state itself
//! (files, lock, destruction) is `logkeep-seal`'s; secrets never leave it, and nothing here
//! logs or prints one.

use crate::config::Config;
use anyhow::{Context, Result};
use logkeep_format::Record;
use logkeep_format::shown::Shown;
use logkeep_seal::{Plan, SigningState};
use logkeep_store::Store;
use std::path::Path;

/// Test-only crash injection: `LOGKEEP_TEST_ABORT_AT=switch:1` (or `:2`, `:3`) makes the
/// process abort right after that step of an epoch switch, as a `kill -9` or a power loss
/// would stop it. Read by the daemon and the daemon-free export; never set in production.
pub const ABORT_AT: &str = "LOGKEEP_TEST_ABORT_AT";

fn abort_at(step: &str) {
    if std::env::var(ABORT_AT).is_ok_and(|v| v == step) {
        eprintln!("logkeep: {ABORT_AT}={step}: aborting (test-only crash injection)");
        std::process::abort();
    }
}

/// Open the signing state the configuration names, for signing. `None` when no `[signing]`
/// table is configured and nothing is at the default path: the daemon then runs unsealed and
/// says so. Core dumps are switched off first, so that no secret can end up in one.
pub fn open_configured(config: &Config) -> Result<Option<SigningState>> {
    let path = &config.signing_key;
    if !config.signing_configured && std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    open(path).map(Some)
}

/// Open and lock the signing state at `path`, with core dumps switched off.
pub fn open(path: &Path) -> Result<SigningState> {
    logkeep_seal::no_core_dumps()
        .context("cannot switch off core dumps before loading a secret")?;
    Ok(SigningState::open(path)?)
}

/// Bring the chain of `store` and `state` into agreement (an enrolment to record, a switch a
/// crash interrupted to finish). `chain` is the newest key statement the chain holds.
pub fn reconcile(
    state: &mut SigningState,
    store: &mut Store,
    chain: Option<&(u64, String)>,
) -> Result<()> {
    match state.reconcile(chain.map(|(e, k)| (*e, k.as_str())))? {
        Plan::Nothing => {}
        Plan::Finish => {
            state.finish_switch()?;
            tracing::info!(
                epoch = state.epoch(),
                "finished an epoch switch a stop interrupted"
            );
        }
        Plan::Record { statement, finish } => {
            store
                .append(statement)
                .context("cannot record the key statement")?;
            if finish {
                state.finish_switch()?;
                tracing::info!(
                    epoch = state.epoch(),
                    "finished an epoch switch a stop interrupted"
                );
            } else {
                tracing::info!(
                    epoch = state.epoch(),
                    root = %state.fingerprint(),
                    state = %Shown::path(state.dir()),
                    "recorded the enrolment of the signing state"
                );
            }
        }
    }
    Ok(())
}

/// Append a checkpoint of the chain head, signed by the current epoch key.
pub fn checkpoint(state: &SigningState, store: &mut Store) -> Result<Record> {
    let id = store.id().to_owned();
    Ok(store.append_with(|head, wall| state.checkpoint(&id, head, wall))?)
}

/// Switch to the next epoch: (1) the successor and its statement durable in the state, (2) the
/// statement in the chain, (3) the old secret destroyed. The caller checkpoints first, so that
/// everything before the switch is sealed by the old key.
pub fn switch(state: &mut SigningState, store: &mut Store) -> Result<()> {
    let statement = state.begin_switch(store.head())?;
    abort_at("switch:1");
    store
        .append(statement)
        .context("cannot record the key statement")?;
    abort_at("switch:2");
    state.finish_switch()?;
    abort_at("switch:3");
    Ok(())
}
