//! The colour a state is shown in: the tone of its badge (`ok`, `warn`, `bad`,
//! `muted`, each a CSS class of the one stylesheet). Colours are the pages' business,
//! so they live here and not with the states in `domain`.

use crate::wire::{Health, HostState, PoolHostState, RolloutState, ServicePhase};

/// A state with a badge colour.
pub trait Tone {
    fn tone(self) -> &'static str;
}

impl Tone for HostState {
    fn tone(self) -> &'static str {
        match self {
            HostState::Ready => "ok",
            HostState::Unreachable => "bad",
            HostState::Cordoned | HostState::Draining => "warn",
            HostState::Pending => "muted",
        }
    }
}

impl Tone for PoolHostState {
    fn tone(self) -> &'static str {
        match self {
            PoolHostState::Ready => "ok",
            PoolHostState::Creating | PoolHostState::Booting | PoolHostState::Draining => "warn",
            PoolHostState::Destroying => "muted",
        }
    }
}

impl Tone for Health {
    fn tone(self) -> &'static str {
        match self {
            Health::Healthy => "ok",
            Health::Unhealthy => "bad",
            Health::Starting => "warn",
            Health::None => "muted",
        }
    }
}

impl Tone for ServicePhase {
    fn tone(self) -> &'static str {
        match self {
            ServicePhase::Running => "ok",
            ServicePhase::Progressing => "warn",
            ServicePhase::Degraded => "bad",
            ServicePhase::Stopped => "muted",
        }
    }
}

impl Tone for RolloutState {
    fn tone(self) -> &'static str {
        match self {
            RolloutState::Running | RolloutState::Paused => "warn",
            RolloutState::Succeeded => "ok",
            RolloutState::RolledBack => "bad",
            RolloutState::Aborted => "muted",
        }
    }
}
