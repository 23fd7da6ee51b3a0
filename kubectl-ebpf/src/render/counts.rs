//! Counters as a table per counter name, largest first, at most `top` rows each. Rows
//! whose key has an `error` are failures: they are also listed in a table of their own
//! under the first, so a few failing calls are not hidden below the busiest ones:
//!
//! ```text
//! syscall-count calls (top 3 of 41 rows):
//! SYSCALL     ERROR   COUNT
//! read        -       10234
//! openat      -         830
//! openat      ENOENT     17
//! syscall-count calls that failed:
//! SYSCALL     ERROR   COUNT
//! openat      ENOENT     17
//! ```

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, Table};

use super::key_columns;
use crate::merge::Count;

/// The key that marks a failure.
const ERROR_KEY: &str = "error";

/// `counts` arrive sorted by probe, name, then value (largest first), as the merge
/// leaves them. `top` bounds the rows of each table; 0 shows all.
pub fn write(counts: &[Count], top: usize, out: &mut impl Write) -> io::Result<()> {
    for group in groups(counts) {
        let first = &group[0];
        let title = format!("{} {}", first.probe, first.name);
        write_table(&title, &group, top, out)?;
        let failures: Vec<&Count> = group
            .iter()
            .copied()
            .filter(|count| count.key.contains_key(ERROR_KEY))
            .collect();
        if !failures.is_empty() {
            write_table(&format!("{title} that failed"), &failures, top, out)?;
        }
    }
    Ok(())
}

/// Runs of counts with the same probe and name.
fn groups(counts: &[Count]) -> Vec<Vec<&Count>> {
    let mut groups: Vec<Vec<&Count>> = Vec::new();
    for count in counts {
        match groups.last_mut() {
            Some(group) if group[0].probe == count.probe && group[0].name == count.name => {
                group.push(count);
            }
            _ => groups.push(vec![count]),
        }
    }
    groups
}

fn write_table(title: &str, rows: &[&Count], top: usize, out: &mut impl Write) -> io::Result<()> {
    let rows = sorted(rows, super::sort_column());
    let shown = if top == 0 {
        rows.len()
    } else {
        top.min(rows.len())
    };
    if shown < rows.len() {
        writeln!(out, "{title} (top {shown} of {} rows):", rows.len())?;
    } else {
        writeln!(out, "{title}:")?;
    }
    writeln!(out, "{}", table(&rows[..shown]))
}

/// The rows in the order of key column `column` (numbers as numbers), when every row
/// has it; otherwise as they came, largest first.
fn sorted<'a>(rows: &[&'a Count], column: Option<&str>) -> Vec<&'a Count> {
    let mut rows = rows.to_vec();
    let Some(column) = column else {
        return rows;
    };
    if !rows.iter().all(|row| row.key.contains_key(column)) {
        return rows;
    }
    let value = |row: &Count| row.key.get(column).cloned().unwrap_or_default();
    rows.sort_by(|a, b| {
        let (a, b) = (value(a), value(b));
        match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => a.cmp(&b),
        }
    });
    rows
}

/// One row per key; the key columns are the union of every row's key names.
fn table(counts: &[&Count]) -> Table {
    let key_names = key_columns(counts.iter().flat_map(|count| count.key.keys()));
    let mut header: Vec<String> = key_names.iter().map(|name| name.to_uppercase()).collect();
    header.push("COUNT".to_owned());
    let mut table = super::table(header);
    for count in counts {
        let mut row: Vec<Cell> = key_names
            .iter()
            .map(|name| Cell::new(count.key.get(*name).map_or("-", String::as_str)))
            .collect();
        row.push(Cell::new(count.value).set_alignment(CellAlignment::Right));
        table.add_row(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn count(name: &str, key: &[(&str, &str)], value: u64) -> Count {
        Count {
            probe: "p".into(),
            name: name.into(),
            key: key
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            value,
        }
    }

    fn render(counts: &[Count], top: usize) -> String {
        let mut out = Vec::new();
        write(counts, top, &mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn one_table_per_counter_with_every_key_column() {
        let counts = [
            count("calls", &[("syscall", "read")], 10),
            count("calls", &[("syscall", "openat"), ("error", "ENOENT")], 3),
            count("bytes", &[], 7),
        ];
        let text = render(&counts, 0);
        assert!(text.contains("p calls:"), "{text}");
        assert!(text.contains("p bytes:"), "{text}");
        let header = text.lines().nth(1).expect("header");
        assert!(
            header.contains("ERROR") && header.contains("SYSCALL") && header.contains("COUNT"),
            "{text}"
        );
        // Syscall before its error, as people read them.
        assert!(header.find("SYSCALL") < header.find("ERROR"), "{text}");
        assert!(
            text.lines()
                .any(|line| line.contains("read") && line.contains("10")),
            "{text}"
        );
    }

    #[test]
    fn top_keeps_the_largest_and_says_how_many_there_were() {
        let counts: Vec<Count> = (0..30u64)
            .rev()
            .map(|n| count("calls", &[("syscall", &format!("call{n}"))], n + 1))
            .collect();
        let text = render(&counts, 5);
        assert!(text.starts_with("p calls (top 5 of 30 rows):\n"), "{text}");
        assert!(text.contains("call29"), "{text}");
        assert!(text.contains("call25"), "{text}");
        assert!(!text.contains("call24"), "{text}");
        assert_eq!(text.lines().count(), 1 + 1 + 5, "{text}");
        // 0 shows every row.
        assert_eq!(render(&counts, 0).lines().count(), 1 + 1 + 30);
    }

    #[test]
    fn failures_get_a_table_of_their_own() {
        let mut counts: Vec<Count> = (0..5u64)
            .rev()
            .map(|n| count("calls", &[("syscall", &format!("busy{n}"))], 1000 + n))
            .collect();
        counts.push(count(
            "calls",
            &[("syscall", "openat"), ("error", "ENOENT")],
            3,
        ));
        let text = render(&counts, 2);
        let (busiest, failed) = text
            .split_once("p calls that failed:")
            .unwrap_or_else(|| panic!("no failures table in {text}"));
        assert!(busiest.starts_with("p calls (top 2 of 6 rows):"), "{text}");
        assert!(!busiest.contains("ENOENT"), "below the top 2: {text}");
        let lines: Vec<&str> = failed.trim().lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[1].contains("openat") && lines[1].contains("ENOENT"),
            "{text}"
        );

        let no_failures = render(&counts[..5], 0);
        assert!(!no_failures.contains("failed"), "{no_failures}");
    }

    #[test]
    fn sorts_by_a_key_column_numbers_as_numbers() {
        let rows = [
            count("calls", &[("pid", "10"), ("comm", "b")], 5),
            count("calls", &[("pid", "9"), ("comm", "c")], 7),
            count("calls", &[("pid", "100"), ("comm", "a")], 1),
        ];
        let refs: Vec<&Count> = rows.iter().collect();
        let pids: Vec<&str> = sorted(&refs, Some("pid"))
            .iter()
            .map(|row| row.key["pid"].as_str())
            .collect();
        assert_eq!(pids, ["9", "10", "100"]);
        let comms: Vec<&str> = sorted(&refs, Some("comm"))
            .iter()
            .map(|row| row.key["comm"].as_str())
            .collect();
        assert_eq!(comms, ["a", "b", "c"]);
        // A column some row lacks leaves the largest-first order alone.
        let kept: Vec<u64> = sorted(&refs, Some("pod")).iter().map(|r| r.value).collect();
        assert_eq!(kept, [5, 7, 1]);
        assert_eq!(sorted(&refs, None).len(), 3);
    }
}
