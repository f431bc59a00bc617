//! Building blocks shared by the pages.

pub mod charts;
pub mod hosts;
pub mod layout;
pub mod services;
pub mod tone;
pub mod whatif;
pub mod widgets;
