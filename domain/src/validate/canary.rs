//! A canary rollout's steps: checked, and read and written as the deploy form
//! shows them (`10% 1m, 50%`).

use super::format_duration_ms;
use super::parse_duration_ms;

/// Canary steps that move: 1 to 10, weights from 1 to 99% each above the one
/// before, pauses at most a day.
pub fn canary(c: &crate::wire::Canary) -> Result<(), String> {
    if c.steps.is_empty() || c.steps.len() > crate::wire::Canary::MAX_STEPS {
        return Err(format!(
            "a canary has 1 to {} steps",
            crate::wire::Canary::MAX_STEPS
        ));
    }
    let mut last = 0;
    for s in &c.steps {
        if !(1..=99).contains(&s.weight) {
            return Err(format!(
                "a canary step's weight is a percent from 1 to 99, not {}",
                s.weight
            ));
        }
        if s.weight <= last {
            return Err(format!(
                "each canary step takes more than the one before ({}% after {last}%)",
                s.weight
            ));
        }
        last = s.weight;
        if s.pause_ms.is_some_and(|ms| ms > 86_400_000) {
            return Err("a canary step's pause is at most a day (none: until promoted)".into());
        }
    }
    Ok(())
}

/// Canary steps as a person writes them: `10% 1m, 50%` (a weight, and how long
/// it holds; without one, until promoted), separated by commas.
pub fn parse_canary(text: &str) -> Result<Option<crate::wire::Canary>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut steps = Vec::new();
    for part in text.split(',') {
        let mut words = part.split_whitespace();
        let weight = words.next().unwrap_or_default();
        let w = weight.trim_end_matches('%');
        let weight: u8 = w
            .parse()
            .map_err(|_| format!("invalid canary step {:?}: write e.g. 10% 1m", part.trim()))?;
        let pause_ms = match words.next() {
            Some(d) => Some(parse_duration_ms(d)?),
            None => None,
        };
        if words.next().is_some() {
            return Err(format!(
                "invalid canary step {:?}: a weight and a pause, e.g. 10% 1m",
                part.trim()
            ));
        }
        steps.push(crate::wire::CanaryStep { weight, pause_ms });
    }
    let c = crate::wire::Canary { steps };
    canary(&c)?;
    Ok(Some(c))
}

/// Canary steps as the form shows them (`10% 1m, 50%`); the inverse of
/// [`parse_canary`].
pub fn format_canary(c: &crate::wire::Canary) -> String {
    let steps: Vec<String> = c
        .steps
        .iter()
        .map(|s| match s.pause_ms {
            Some(0) => format!("{}% 0s", s.weight),
            Some(ms) => format!("{}% {}", s.weight, format_duration_ms(ms)),
            None => format!("{}%", s.weight),
        })
        .collect();
    steps.join(", ")
}
