//! Counters as a table per counter name, largest first:
//!
//! ```text
//! SYSCALL     ERROR   COUNT
//! read        -       10234
//! openat      ENOENT     17
//! ```

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, Table, presets::NOTHING};

use crate::merge::Count;

pub fn write(counts: &[Count], out: &mut impl Write) -> io::Result<()> {
    let mut start = 0;
    while start < counts.len() {
        let first = &counts[start];
        let end = counts[start..]
            .iter()
            .position(|count| count.probe != first.probe || count.name != first.name)
            .map_or(counts.len(), |offset| start + offset);
        writeln!(out, "{} {}:", first.probe, first.name)?;
        writeln!(out, "{}", table(&counts[start..end]))?;
        start = end;
    }
    Ok(())
}

/// One row per key; the key columns are the union of every row's key names.
fn table(counts: &[Count]) -> Table {
    let mut key_names: Vec<&String> = counts.iter().flat_map(|count| count.key.keys()).collect();
    key_names.sort();
    key_names.dedup();
    let mut table = Table::new();
    table.load_style(NOTHING);
    let mut header: Vec<String> = key_names.iter().map(|name| name.to_uppercase()).collect();
    header.push("COUNT".to_owned());
    table.set_header(header);
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

    #[test]
    fn one_table_per_counter_with_every_key_column() {
        let counts = [
            count("calls", &[("syscall", "read")], 10),
            count("calls", &[("syscall", "openat"), ("error", "ENOENT")], 3),
            count("bytes", &[], 7),
        ];
        let mut out = Vec::new();
        write(&counts, &mut out).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("p calls:"), "{text}");
        assert!(text.contains("p bytes:"), "{text}");
        let header = text.lines().nth(1).expect("header");
        assert!(
            header.contains("ERROR") && header.contains("SYSCALL") && header.contains("COUNT"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|line| line.contains("read") && line.contains("10")),
            "{text}"
        );
    }
}
