//! Configuration of the model circuit: the chip pool, one instance column, the Poseidon chip when
//! the input or output is hashed, and the lookup-table chip when the model has `Lookup` layers.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Column, ConstraintSystem, Instance};

use super::settings::CircuitSettings;
use crate::chips::lookup::TableLookupConfig;
use crate::config::ModelConfig;
use crate::error::CircuitError;
use crate::narrow::NarrowConfig;
use crate::poseidon::{Arity, PartialRounds, PoseidonChip, PoseidonColumns, PoseidonConfig};

/// Columns, gates and lookups of a model circuit.
#[derive(Clone, Debug)]
pub struct ModelCircuitConfig {
    /// The shared column pool and every chip on it.
    pub model: ModelConfig,
    /// The single instance column (layout in [`mod@super::instances`]).
    pub instance: Column<Instance>,
    /// Poseidon (`hash_many`), present when the input or the output is hashed.
    pub poseidon: Option<PoseidonConfig>,
    /// The shared lookup table and its clamp gate, present with `settings.lookup_table`.
    pub lookup: Option<TableLookupConfig>,
}

impl ModelCircuitConfig {
    /// Configures every chip for `settings`.
    ///
    /// Poseidon shares the pool's lanes, accumulator and fixed columns; with fewer than 17
    /// lanes its width-17 states fold over several rows (no extra columns).
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        settings: &CircuitSettings,
    ) -> Result<Self, CircuitError> {
        settings.validate()?;
        let mut model = ModelConfig::configure_with(meta, &settings.params, settings.chips)?;
        if settings.visibility.hashed_weights() {
            model.dense.configure_private(meta);
        }
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let poseidon = if settings.visibility.needs_poseidon() {
            let pool = &model.pool;
            let columns =
                PoseidonColumns::shared(meta, &pool.lanes, pool.acc, &pool.fixed, Arity::MAX)?;
            let partial = if settings.poseidon_blocks {
                PartialRounds::Blocks
            } else {
                PartialRounds::PerRound
            };
            Some(PoseidonChip::configure_with(
                meta,
                columns,
                &[Arity::MAX],
                partial,
            )?)
        } else {
            None
        };
        let lookup = if settings.lookup_table {
            Some(TableLookupConfig::configure(
                meta,
                &model.pool,
                &model.range,
            )?)
        } else {
            None
        };
        // Poseidon queries rows ahead (up to three states): recompute the blinding rows for the final system.
        model.blinding_factors = meta.blinding_factors();
        Ok(Self {
            model,
            instance,
            poseidon,
            lookup,
        })
    }

    /// Usable rows at circuit size `2^k`.
    pub fn usable_rows(&self, k: u32) -> usize {
        self.model.usable_rows(k)
    }
}

/// The configuration of a model circuit: the column pool or the narrow backend
/// ([`super::CircuitSettings::narrow`]).
#[derive(Clone, Debug)]
pub enum CircuitConfig {
    /// The column pool and its chips.
    Pool(Box<ModelCircuitConfig>),
    /// One advice column with generic gates ([`crate::narrow`]).
    Narrow {
        /// Its columns.
        columns: NarrowConfig,
        /// Blinding rows of the constraint system.
        blinding_factors: usize,
    },
}

impl CircuitConfig {
    /// Configures the backend `settings` choose.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        settings: &CircuitSettings,
    ) -> Result<Self, CircuitError> {
        if settings.narrow {
            settings.validate()?;
            let columns = NarrowConfig::configure(meta);
            Ok(Self::Narrow {
                columns,
                blinding_factors: meta.blinding_factors(),
            })
        } else {
            ModelCircuitConfig::configure(meta, settings).map(|c| Self::Pool(Box::new(c)))
        }
    }

    /// Blinding rows at the end of every column.
    pub fn blinding_factors(&self) -> usize {
        match self {
            Self::Pool(config) => config.model.blinding_factors,
            Self::Narrow {
                blinding_factors, ..
            } => *blinding_factors,
        }
    }

    /// Usable rows at circuit size `2^k`.
    pub fn usable_rows(&self, k: u32) -> usize {
        1usize
            .checked_shl(k)
            .unwrap_or(0)
            .saturating_sub(self.blinding_factors() + 1)
    }
}
