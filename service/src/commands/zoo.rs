//! `zkgrid zoo`: list and export the built-in models.

use std::path::Path;

use zkgrid_models::zoo;

use super::write_atomic;
use crate::cli::ZooCommand;
use crate::output::{print_json, table};

/// Run `zkgrid zoo ...`.
pub fn run(cmd: ZooCommand, json: bool, _data_dir: &Path) -> anyhow::Result<()> {
    match cmd {
        ZooCommand::List => {
            let models = zoo::NAMES
                .iter()
                .map(|n| zoo::get(n))
                .collect::<Result<Vec<_>, _>>()?;
            if json {
                let v: Vec<_> = models
                    .iter()
                    .map(|m| serde_json::json!({"name": m.name, "description": m.description}))
                    .collect();
                print_json(&v)
            } else {
                let rows: Vec<Vec<String>> = models
                    .iter()
                    .map(|m| vec![m.name.to_string(), m.description.to_string()])
                    .collect();
                print!("{}", table(&["name", "description"], &rows));
                Ok(())
            }
        }
        ZooCommand::Export { name, output } => {
            let names: Vec<&str> = if name == "all" {
                zoo::NAMES.to_vec()
            } else {
                vec![name.as_str()]
            };
            let mut written = vec![];
            for n in names {
                let m = zoo::get(n)?;
                let dir = output.join(m.name);
                write_atomic(&dir.join("network.onnx"), &m.onnx)?;
                write_atomic(
                    &dir.join("calibration.json"),
                    &serde_json::to_vec(&serde_json::json!({"input_data": m.calibration}))?,
                )?;
                write_atomic(
                    &dir.join("input.json"),
                    &serde_json::to_vec(&serde_json::json!({"input_data": [m.sample_input]}))?,
                )?;
                written.push(dir);
            }
            if json {
                print_json(&written)
            } else {
                for d in written {
                    println!(
                        "wrote {}/{{network.onnx,calibration.json,input.json}}",
                        d.display()
                    );
                }
                Ok(())
            }
        }
    }
}
