//! Building blocks shared by the pages.

pub mod engines;
pub mod layout;
pub mod widgets;
