//! `kubectl ebpf probes [NAME]`: the built-in probes, what they show, and whether this
//! machine's kernel has their hooks.

use std::io::{self, Write};

use serde::Serialize;

use crate::{
    availability::{self, Availability},
    catalogue::{self, Kind, ProbeInfo},
    cli::{OutputFormat, ProbesArgs},
    exit::{self, CliError},
    render,
};

#[derive(Serialize)]
struct Entry {
    name: &'static str,
    kind: Kind,
    description: &'static str,
    hooks: &'static [&'static str],
    fields: &'static [&'static str],
    /// Whether this machine's kernel has every hook.
    local: Availability,
}

impl Entry {
    fn of(probe: &'static ProbeInfo) -> Self {
        Entry {
            name: probe.name,
            kind: probe.kind,
            description: probe.summary,
            hooks: probe.hooks,
            fields: probe.fields,
            local: availability::check(probe),
        }
    }
}

pub fn run(args: &ProbesArgs) -> Result<u8, CliError> {
    if matches!(args.output, OutputFormat::Svg | OutputFormat::Ndjson) {
        return Err(CliError::usage(
            "-o svg and -o ndjson are for the results of a trace",
            "choose -o table, json or yaml",
        ));
    }
    let entries: Vec<Entry> = match &args.name {
        Some(name) => vec![Entry::of(catalogue::find(name).ok_or_else(|| {
            CliError::usage(
                format!("unknown probe '{name}'"),
                "run `kubectl ebpf probes` for the list",
            )
        })?)],
        None => catalogue::PROBES.iter().map(Entry::of).collect(),
    };
    let mut stdout = io::stdout().lock();
    let written = match args.output {
        OutputFormat::Json => serde_json::to_writer_pretty(&mut stdout, &entries)
            .map_err(io::Error::other)
            .and_then(|()| writeln!(stdout)),
        OutputFormat::Yaml => render::write_yaml(&entries, &mut stdout),
        OutputFormat::Table | OutputFormat::Wide if args.name.is_some() => {
            write_details(&entries, &mut stdout)
        }
        OutputFormat::Wide => write_table(&entries, true, &mut stdout),
        OutputFormat::Table | OutputFormat::Svg | OutputFormat::Ndjson => {
            write_table(&entries, false, &mut stdout)
        }
    };
    match written {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(CliError::failure(
            format!("cannot write the list: {err}"),
            "",
        )),
        _ => Ok(exit::SUCCESS),
    }
}

fn write_table(entries: &[Entry], wide: bool, out: &mut impl Write) -> io::Result<()> {
    let mut header = vec!["PROBE", "KIND", "HERE", "WHAT IT SHOWS"];
    if wide {
        header.extend(["FIELDS", "HOOKS"]);
    }
    let mut table = render::table(header);
    for entry in entries {
        let mut row = vec![
            entry.name.to_owned(),
            entry.kind.as_str().to_owned(),
            entry.local.short().to_owned(),
            entry.description.to_owned(),
        ];
        if wide {
            row.push(entry.fields.join(", "));
            row.push(entry.hooks.join(", "));
        }
        table.add_row(row);
    }
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "\nHERE: whether this machine's kernel has the probe's hooks. `kubectl ebpf probes NAME` for details."
    )
}

fn write_details(entries: &[Entry], out: &mut impl Write) -> io::Result<()> {
    for entry in entries {
        writeln!(out, "Probe:        {}", entry.name)?;
        writeln!(out, "Kind:         {}", entry.kind.as_str())?;
        writeln!(out, "Shows:        {}", entry.description)?;
        writeln!(out, "Fields:       {}", entry.fields.join(", "))?;
        writeln!(out, "Hooks:        {}", entry.hooks.join(", "))?;
        let here = match &entry.local {
            Availability::Available => "yes".to_owned(),
            Availability::Missing { hooks } => {
                format!("no: this kernel lacks {}", hooks.join(", "))
            }
            Availability::Unknown { why } => format!("unknown: {why}"),
        };
        writeln!(out, "Here:         {here}")?;
    }
    Ok(())
}
