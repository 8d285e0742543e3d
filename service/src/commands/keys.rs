//! `zkgrid keys create`: issue an API key for a tenant.

use std::path::Path;

use anyhow::Context;

use crate::cli::KeysCommand;
use crate::ids::{hash_api_key, new_api_key};
use crate::output::print_json;

/// Run `zkgrid keys ...`.
pub fn run(cmd: KeysCommand, json: bool, data: &Path) -> anyhow::Result<()> {
    let KeysCommand::Create { tenant, db } = cmd;
    let name = tenant.trim();
    if name.is_empty() {
        anyhow::bail!("--tenant must not be empty");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let key = new_api_key();
    let t = rt.block_on(async {
        let store = crate::store::open(db.database_url.as_deref(), data)
            .await
            .context("opening the database")?;
        let t = store.ensure_tenant(name).await?;
        store.add_api_key(&t.id, &hash_api_key(&key)).await?;
        anyhow::Ok(t)
    })?;
    if json {
        return print_json(
            &serde_json::json!({"tenant": t.name, "tenant_id": t.id, "api_key": key}),
        );
    }
    eprintln!(
        "API key for tenant {} (shown once; only its SHA-256 is stored):",
        t.name
    );
    println!("{key}");
    Ok(())
}
