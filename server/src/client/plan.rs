//! `berth plan`, `berth apply` and `berth export`: a stack or Compose file (and
//! the `env_file`s beside it) sent to the stacks API, its plan shown as people
//! read it, applied only with a yes and only while the plan still holds.

use std::io::{BufRead, IsTerminal, Write};

use domain::wire::{
    KeyVerdict, PlanAction, PlanChange, ServicePlan, StackApplied, StackApplyInput, StackFormat,
    StackPlan, StackPlanInput,
};

use super::args::{FileArgs, WaitArgs};
use super::commands::{decode, follow, print_json};
use super::files;
use super::http::Api;
use super::wait::{Follow, Target};
use super::ClientError;

/// `berth plan -f FILE`: 0 no changes, 1 changes; a refused key is an error.
pub async fn plan(api: &Api, args: &FileArgs, json: bool) -> Result<u8, ClientError> {
    let input = input(args)?;
    let (value, plan) = make(api, &input).await?;
    if json {
        print_json(&value);
    } else {
        print!("{}", render(&plan));
    }
    appliable(&plan)?;
    Ok(if plan.changes == 0 { 0 } else { 1 })
}

/// `berth apply -f FILE`: the plan, a yes, the apply with the plan's guard.
pub async fn apply(
    api: &Api,
    args: &FileArgs,
    yes: bool,
    message: Option<String>,
    wait: &WaitArgs,
    json: bool,
) -> Result<u8, ClientError> {
    let input = input(args)?;
    let (value, plan) = make(api, &input).await?;
    // With --json, stdout is for the API's JSON only; the plan goes to stderr.
    if json {
        eprint!("{}", render(&plan));
    } else {
        print!("{}", render(&plan));
    }
    appliable(&plan)?;
    if plan.changes == 0 {
        if json {
            print_json(&value);
        }
        return Ok(0);
    }
    confirm(yes)?;
    let apply = StackApplyInput {
        file: input.file,
        format: input.format,
        team: input.team,
        files: input.files,
        guard: plan.guard,
        message,
    };
    let path = "/api/v1/stacks/apply";
    let value = api.post(path, &apply).await?;
    let applied: StackApplied = decode(api, path, value.clone())?;
    if json {
        print_json(&value);
    } else {
        println!(
            "Applied: {} service{} changed.",
            applied.changes,
            if applied.changes == 1 { "" } else { "s" }
        );
    }
    follow(api, wait, follows(&applied.services), json).await
}

/// `berth export`: the stack file, to stdout or a file.
pub async fn export(
    api: &Api,
    team: Option<&str>,
    output: Option<&std::path::Path>,
) -> Result<u8, ClientError> {
    let mut path = "/api/v1/stacks/export".to_string();
    if let Some(team) = team {
        path.push_str(&format!("?team={}", encode(team)));
    }
    let text = api.text(&path).await?;
    match output {
        None => print!("{text}"),
        Some(file) => {
            // Environment values may be in it: readable by its owner only.
            write_private(file, &text).map_err(|e| ClientError::Output {
                path: file.to_path_buf(),
                cause: e.to_string(),
            })?;
            eprintln!("wrote {}", file.display());
        }
    }
    Ok(0)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// The plan's input: the file and its env_files.
fn input(args: &FileArgs) -> Result<StackPlanInput, ClientError> {
    let source = files::read(&args.file)?;
    Ok(StackPlanInput {
        file: source.file,
        format: StackFormat::Auto,
        team: args.team.clone(),
        files: source.files,
    })
}

async fn make(
    api: &Api,
    input: &StackPlanInput,
) -> Result<(serde_json::Value, StackPlan), ClientError> {
    let path = "/api/v1/stacks/plan";
    let value = api.post(path, input).await?;
    let plan = decode(api, path, value.clone())?;
    Ok((value, plan))
}

/// A plan with a refused key cannot be applied: an error naming each.
pub fn appliable(plan: &StackPlan) -> Result<(), ClientError> {
    let refused: Vec<String> = plan
        .notes
        .iter()
        .filter(|n| n.verdict == KeyVerdict::Refused)
        .map(|n| format!("{} ({})", n.key, n.reason))
        .collect();
    if plan.appliable && refused.is_empty() {
        return Ok(());
    }
    Err(ClientError::Refused(if refused.is_empty() {
        "the file cannot be applied as it is".into()
    } else {
        format!("the file cannot be applied: refused {}", refused.join("; "))
    }))
}

/// Asks on a terminal unless `--yes`; without a terminal, refuses.
fn confirm(yes: bool) -> Result<(), ClientError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(ClientError::Refused(
            "not applying without a yes: stdin is not a terminal; pass --yes to apply without asking"
                .into(),
        ));
    }
    eprint!("Apply these changes? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(ClientError::Refused("not applied".into())),
    }
}

/// The services an apply changed, each with the revision to wait for.
pub fn follows(services: &[ServicePlan]) -> Vec<Follow> {
    services
        .iter()
        .filter(|s| s.action != PlanAction::Unchanged)
        .map(|s| {
            let target = s
                .changes
                .iter()
                .find_map(|c| match c {
                    PlanChange::Revision { from } | PlanChange::Policy { from } => {
                        Some(Target::After(*from))
                    }
                    _ => None,
                })
                .unwrap_or(Target::Current);
            Follow {
                name: s.name.clone(),
                target,
            }
        })
        .collect()
}

/// A plan as people read it: `+` created, `~` changed, `=` unchanged, each change
/// with its field diff and where new replicas would go; then the keys not taken.
pub fn render(plan: &StackPlan) -> String {
    let mut out = String::new();
    for s in &plan.services {
        out.push_str(&service(s));
    }
    if !plan.notes.is_empty() {
        out.push_str("\nKeys not applied as written:\n");
        let mut t = super::table::Table::new(&["  KEY", "VERDICT", "WHY"]);
        for n in &plan.notes {
            t.row(vec![
                format!("  {}", n.key),
                n.verdict.as_str().into(),
                n.reason.clone(),
            ]);
        }
        out.push_str(&t.render());
    }
    let total = plan.services.len();
    out.push('\n');
    out.push_str(&match plan.changes {
        0 => format!(
            "No changes: {total} service{} as the file says.\n",
            s(total)
        ),
        n => format!("Plan: {n} of {total} service{} change.\n", s(total)),
    });
    out
}

fn s(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One service of a plan.
fn service(s: &ServicePlan) -> String {
    let (mark, what) = match (s.action, s.revision) {
        (PlanAction::Create, _) => ('+', "create".to_string()),
        (PlanAction::Update, Some(r)) => ('~', format!("update (revision {r})")),
        (PlanAction::Update, None) => ('~', "update".to_string()),
        (PlanAction::Unchanged, _) => ('=', "unchanged".to_string()),
    };
    let mut out = format!("{mark} {} (team {}): {what}\n", s.name, s.team);
    for change in &s.changes {
        out.push_str(&format!("    {change}\n"));
    }
    for line in &s.diff {
        out.push_str(&format!("      {line}\n"));
    }
    if let Some(p) = &s.placement {
        let mut parts: Vec<String> = p
            .hosts
            .iter()
            .map(|h| format!("{} ×{}", h.host, h.replicas))
            .collect();
        if p.unplaced > 0 {
            let why = p.reason.as_deref().unwrap_or("no host takes them");
            parts.push(format!("{} not placed: {why}", p.unplaced));
        }
        if !parts.is_empty() {
            out.push_str(&format!("    placement: {}\n", parts.join(", ")));
        }
    }
    out
}

/// A query value, percent-encoded.
pub(super) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
